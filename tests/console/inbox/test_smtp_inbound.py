"""Inbound SMTP from another operator: TLS and certificates, trust space, recipients, size,
smuggling, malformed input — each refused with the right code, audited, nothing partial kept."""

from __future__ import annotations

import smtplib
import ssl
import time
from typing import Any

import pytest

from egide.console.audit.models import AuditEntry
from egide.console.inbox import services
from egide.console.inbox.inbound import RelaySink
from egide.console.inbox.models import Folder, Mailbox, Message, OutboundDelivery
from egide.messaging import mime
from egide.messaging.smtp_server import InboundMessage, Peer

from .smtp_fixtures import PEER_SENDER, Pair, Pki

pytestmark = pytest.mark.django_db(transaction=True)
PEER = Peer("192.0.2.10", "TLSv1.3", "commonName=smtp-1.operateur-alpha.test")
MARKER = "MARQUEUR-SMTP-51c2"


def message_to(address: str, body: str = f"Bonjour {MARKER}") -> bytes:
    draft = mime.Draft(sender=PEER_SENDER, recipients=(address,), subject="CR", body=body)
    return mime.compose_message(draft, domain="medecin.mssante.test")


def tls_client(pki: Pki, pair: Pair | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki.root)
    context.check_hostname = False  # we connect to 127.0.0.1; the name is checked outbound
    if pair is not None:
        context.load_cert_chain(pair.cert, pair.key)
    return context


def connect(port: int, pki: Pki, pair: Pair | None) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", port, timeout=10)
    client.starttls(context=tls_client(pki, pair))
    client.ehlo("smtp-1.operateur-alpha.test")
    return client


def eventually_refused(stage: str) -> bool:
    """The refusal is audited by the server thread; the client may learn of it first."""
    for _ in range(100):
        if stage in refusals():
            return True
        time.sleep(0.1)
    return False


def refusals() -> list[str]:
    return list(
        AuditEntry.objects.filter(action="smtp.refused").values_list("object_id", flat=True)
    )


# --- the plain functions, without sockets -------------------------------------------------


def test_the_sink_refuses_a_sender_outside_the_trust_space(smtp_settings: Any) -> None:
    sink = RelaySink()
    assert sink.check_sender(
        PEER,
        "x@gmail.test",
    ) == ("550 5.7.1 Sender domain is not in the MSSante trust space")
    assert sink.check_sender(PEER, PEER_SENDER) is None
    # The list names operator beta's relay for this domain, not alpha's certificate.
    refusal = sink.check_sender(PEER, "officine@pharmacie-du-port.mssante.test")
    assert refusal is not None and "operator listed" in refusal
    assert sink.check_sender(PEER, "") is None  # bounces have a null reverse-path


def test_the_sink_refuses_unknown_recipients(smtp_settings: Any, hosted: Mailbox) -> None:
    sink = RelaySink()
    refusal = sink.check_recipient(PEER, "personne@tilleuls.egide.test")
    assert refusal is not None and refusal.startswith("550 5.1.1")
    assert sink.check_recipient(PEER, hosted.address.upper()) is None


def test_the_sink_stores_the_message_encrypted_before_answering_250(
    smtp_settings: Any, hosted: Mailbox
) -> None:
    reply = RelaySink().deliver(
        InboundMessage(PEER, PEER_SENDER, (hosted.address,), message_to(hosted.address))
    )
    assert reply.startswith("250 ")
    stored = Message.objects.get(mailbox=hosted)
    assert stored.folder == Folder.INBOX
    assert MARKER.encode() not in bytes(stored.summary)
    assert MARKER in services.raw_of(stored).decode()


def test_an_accepted_but_unreadable_message_is_kept_to_process_and_the_sender_gets_a_dsn(
    smtp_settings: Any, hosted: Mailbox
) -> None:
    broken = b"From: a@medecin.mssante.test\r\nContent-Type: multipart/mixed\r\n\r\nno boundary\r\n"
    reply = RelaySink().deliver(InboundMessage(PEER, PEER_SENDER, (hosted.address,), broken))
    assert reply.startswith("250 ")
    kept = Message.objects.get(mailbox=hosted, folder=Folder.QUARANTINE)
    assert kept.problem
    dsn = OutboundDelivery.objects.get(recipient=PEER_SENDER)
    assert dsn.message.folder == Folder.SENT
    assert b"multipart/report" in services.raw_of(dsn.message)


# --- over the network, with TLS -------------------------------------------------------------


def test_a_peer_of_the_trust_space_delivers_over_starttls(
    listeners: dict[str, int], pki: Pki, hosted: Mailbox
) -> None:
    with connect(listeners["relay"], pki, pki.peer) as client:
        assert client.has_extn("size")
        refused = client.sendmail(PEER_SENDER, [hosted.address], message_to(hosted.address))
    assert refused == {}
    assert Message.objects.filter(mailbox=hosted, folder=Folder.INBOX).count() == 1


def test_it_refuses_mail_before_starttls(listeners: dict[str, int], hosted: Mailbox) -> None:
    with smtplib.SMTP("127.0.0.1", listeners["relay"], timeout=10) as client:
        client.ehlo("plain.test")
        code, _ = client.mail(PEER_SENDER)
    assert code == 530
    assert not Message.objects.exists()


def test_it_refuses_tls_1_1(listeners: dict[str, int], pki: Pki) -> None:
    context = tls_client(pki, pki.peer)
    with pytest.warns(DeprecationWarning):
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    refused = (ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)
    with (
        smtplib.SMTP("127.0.0.1", listeners["relay"], timeout=10) as client,
        pytest.raises(refused),
    ):
        client.starttls(context=context)
    assert eventually_refused("tls")


def test_it_asks_for_a_client_certificate(listeners: dict[str, int], pki: Pki) -> None:
    with connect(listeners["relay"], pki, None) as client:
        code, text = client.mail(PEER_SENDER)
    assert code == 530 and b"certificate" in text
    assert "mail" in refusals()


@pytest.mark.parametrize("which", ["stranger", "expired", "revoked"])
def test_it_refuses_unknown_expired_or_revoked_certificates(
    listeners: dict[str, int], pki: Pki, hosted: Mailbox, which: str
) -> None:
    pair = getattr(pki, which)
    refused = (ssl.SSLError, smtplib.SMTPException, ConnectionError)
    with pytest.raises(refused), connect(listeners["relay"], pki, pair) as client:
        client.sendmail(PEER_SENDER, [hosted.address], message_to(hosted.address))
    assert not Message.objects.exists()
    assert eventually_refused("tls")


def test_it_refuses_a_sender_domain_outside_the_trust_space(
    listeners: dict[str, int], pki: Pki
) -> None:
    with connect(listeners["relay"], pki, pki.peer) as client:
        code, _ = client.mail("someone@gmail.test")
    assert code == 550
    assert "mail" in refusals()


def test_it_refuses_unknown_recipients_at_rcpt(listeners: dict[str, int], pki: Pki) -> None:
    with connect(listeners["relay"], pki, pki.peer) as client:
        client.mail(PEER_SENDER)
        code, _ = client.rcpt("personne@tilleuls.egide.test")
    assert code == 550
    assert "rcpt" in refusals()


def test_it_announces_and_enforces_the_size_limit(
    listeners: dict[str, int], pki: Pki, hosted: Mailbox
) -> None:
    with connect(listeners["relay"], pki, pki.peer) as client:
        assert int(client.esmtp_features["size"]) == 300_000
        code, _ = client.mail(PEER_SENDER, ["SIZE=400000"])
        assert code == 552
        client.rset()
        client.mail(PEER_SENDER)
        client.rcpt(hosted.address)
        code, _ = client.data(message_to(hosted.address, body="x" * 400_000))
    assert code == 552
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        b"Subject: a\r\n\r\nline\nMAIL FROM:<x@y>\r\n",
        b"Subject: a\r\n\r\nfirst\n.\nMAIL FROM:<evil@medecin.mssante.test>\r\n",
        b"Subject: a\r\n\r\nfirst\r\n.\nRCPT TO:<a@b>\r\n",
    ],
)
def test_a_bare_lf_in_message_data_ends_the_session_and_nothing_is_kept(
    listeners: dict[str, int], pki: Pki, hosted: Mailbox, payload: bytes
) -> None:
    with connect(listeners["relay"], pki, pki.peer) as client:
        client.mail(PEER_SENDER)
        client.rcpt(hosted.address)
        client.putcmd("data")
        assert client.getreply()[0] == 354
        client.send(payload + b".\r\n")
        code, _ = client.getreply()
        assert code == 521
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()
    assert not Message.objects.exists()
    assert eventually_refused("stream")


def test_a_bare_lf_in_a_command_ends_the_session(listeners: dict[str, int], pki: Pki) -> None:
    with connect(listeners["relay"], pki, pki.peer) as client:
        client.send(b"MAIL FROM:<" + PEER_SENDER.encode() + b">\n")
        assert client.getreply()[0] == 521


def test_a_bare_cr_in_message_data_is_refused_whole(
    listeners: dict[str, int], pki: Pki, hosted: Mailbox
) -> None:
    with connect(listeners["relay"], pki, pki.peer) as client:
        client.mail(PEER_SENDER)
        client.rcpt(hosted.address)
        client.putcmd("data")
        assert client.getreply()[0] == 354
        client.send(b"Subject: a\r\n\r\nfirst\r\n.\rsecond\r\n.\r\n")
        assert client.getreply()[0] == 554
        assert client.noop()[0] == 250
    assert not Message.objects.exists()
    assert eventually_refused("data")


def test_it_answers_malformed_commands_without_crashing(
    listeners: dict[str, int], pki: Pki
) -> None:
    with connect(listeners["relay"], pki, pki.peer) as client:
        assert client.docmd("XYZZY")[0] == 500
        assert client.docmd("MAIL", "FROM:<<>")[0] in (501, 550, 553)
        assert client.docmd("MAIL FROM:", "no-brackets")[0] in (501, 550, 553)
        assert client.docmd("MAIL", "FROM:<" + "a" * 600 + "@medecin.mssante.test>")[0] >= 500
        assert client.docmd("RCPT", "TO:<a@b>")[0] == 503
        assert client.docmd("DATA")[0] == 503
        assert client.noop()[0] == 250
