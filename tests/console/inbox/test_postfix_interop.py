"""Interoperability with a real Postfix playing another operator of the trust space.

Postfix delivers to Égide over STARTTLS (verifying our certificate, presenting its own), Égide
delivers to Postfix (verifying Postfix's), a refusal comes back as a DSN, and a read receipt sent
back through Postfix moves the sender's timeline. Skipped cleanly where Postfix cannot run.
"""

from __future__ import annotations

import shutil
import smtplib
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from egide.console.accounts.models import User
from egide.console.inbox import inbound, outbound, services
from egide.console.inbox.models import DeliveryState, Folder, Mailbox, Message, OutboundDelivery
from egide.messaging import mime, receipts
from egide.messaging.dsn_request import DsnRequest, RecipientNotice

from . import postfix_peer
from .smtp_fixtures import Pki, free_port

WHY_NOT = postfix_peer.usable()
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(WHY_NOT is not None, reason=f"Postfix unavailable: {WHY_NOT}"),
]
DURAND = "dr.durand@medecin.mssante.test"


def wait_for(condition: Callable[[], Any], what: str, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture
def postfix(
    listeners: dict[str, int], pki: Pki, smtp_settings: Any
) -> Iterator[postfix_peer.PostfixPeer]:
    root = Path(tempfile.mkdtemp(prefix="egide-postfix-"))
    port = free_port()
    try:
        peer = postfix_peer.start(
            root,
            port=port,
            egide_port=listeners["relay"],
            ca_file=pki.root,
            cert_file=pki.peer.cert,
            key_file=pki.peer.key,
            mailboxes=[DURAND],
        )
    except (RuntimeError, OSError) as error:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"Postfix could not start here: {error}")
    smtp_settings.EGIDE_SMTP_ROUTES = [f"medecin.mssante.test=localhost:{port}"]
    yield peer
    peer.stop()
    shutil.rmtree(root, ignore_errors=True)


def inject(peer: postfix_peer.PostfixPeer, pki: Pki, mail_from: str, to: str, raw: bytes) -> None:
    """A message handed to Postfix by one of «its» users (from its trusted network)."""
    context = ssl.create_default_context(cafile=pki.root)
    with smtplib.SMTP("localhost", peer.port, timeout=10) as client:
        client.starttls(context=context)
        client.ehlo("poste.operateur-alpha.test")
        assert client.sendmail(mail_from, [to], raw) == {}


def test_postfix_delivers_to_egide_over_verified_starttls(
    postfix: postfix_peer.PostfixPeer, pki: Pki, hosted: Mailbox
) -> None:
    draft = mime.Draft(sender=DURAND, recipients=(hosted.address,), subject="Avis", body="Cher")
    inject(postfix, pki, DURAND, hosted.address, mime.compose_message(draft, domain="x.test"))
    stored = wait_for(
        lambda: Message.objects.filter(mailbox=hosted, folder=Folder.INBOX).first(),
        "the message to reach Égide",
    )
    assert services.summary_of(stored).subject == "Avis"
    assert "Verified TLS connection established to localhost" in postfix.log()


def test_egide_delivers_to_postfix_and_the_timeline_follows_the_receipts(
    postfix: postfix_peer.PostfixPeer, pki: Pki, hosted: Mailbox
) -> None:
    owner = hosted.owner
    assert isinstance(owner, User)
    draft = mime.Draft(
        sender=hosted.address, recipients=(DURAND,), subject="Compte rendu", body="Bonjour"
    )
    sent = services.send(owner, hosted, draft)
    outbound.deliver_due()
    row = OutboundDelivery.objects.get(message=sent)
    assert row.state == DeliveryState.DELIVERED, row.last_reply
    [raw] = wait_for(lambda: postfix.delivered("dr.durand"), "Postfix's Maildir delivery")
    assert b"Compte rendu" in raw
    assert sent.message_id.encode() in raw
    mdn = receipts.compose_mdn(
        sender=DURAND,
        to=hosted.address,
        final_recipient=DURAND,
        original_message_id=sent.message_id,
    )
    inject(postfix, pki, "", hosted.address, mdn)

    def receipt_applied() -> bool:
        inbound.summarise_pending()  # the worker's job: reports are read after `250`
        return OutboundDelivery.objects.filter(pk=row.pk, read_at__isnull=False).exists()

    wait_for(receipt_applied, "the read receipt to come back through Postfix")


def test_a_recipient_unknown_to_postfix_bounces_with_a_dsn(
    postfix: postfix_peer.PostfixPeer, hosted: Mailbox
) -> None:
    owner = hosted.owner
    assert isinstance(owner, User)
    draft = mime.Draft(
        sender=hosted.address,
        recipients=("inconnu@medecin.mssante.test",),
        subject="Compte rendu",
        body="Bonjour",
    )
    sent = services.send(owner, hosted, draft)
    outbound.deliver_due()
    row = OutboundDelivery.objects.get(message=sent)
    assert row.state == DeliveryState.BOUNCED
    assert row.last_reply.startswith("550")
    dsn = Message.objects.get(mailbox=hosted, folder=Folder.INBOX)
    assert b"Status: 5.1.1" in services.raw_of(dsn)


def test_egide_refuses_a_recipient_it_does_not_host_and_postfix_bounces_to_its_user(
    postfix: postfix_peer.PostfixPeer, pki: Pki, hosted: Mailbox
) -> None:
    raw = b"From: " + DURAND.encode() + b"\r\nSubject: x\r\n\r\nx\r\n"
    inject(postfix, pki, DURAND, "personne@tilleuls.egide.test", raw)
    [bounce] = wait_for(lambda: postfix.delivered("dr.durand"), "Postfix's bounce to its user")
    assert b"550 5.1.1" in bounce
    assert not Message.objects.exists()


def test_the_inbox_shows_the_whole_receipt_timeline_of_a_message_sent_to_postfix(
    postfix: postfix_peer.PostfixPeer, pki: Pki, hosted: Mailbox, client: Any
) -> None:
    """sent → accepted by Postfix → delivered (Postfix's own DSN, asked with NOTIFY=SUCCESS
    passed on) → read (MDN displayed) → integrated (MDN processed), shown on the message page."""
    owner = hosted.owner
    assert isinstance(owner, User)
    draft = mime.Draft(sender=hosted.address, recipients=(DURAND,), subject="Bilan", body="Voici")
    raw = mime.compose_message(draft, domain="tilleuls.egide.test")
    notice = RecipientNotice(frozenset({"SUCCESS", "FAILURE"}), "rfc822;Dr.Durand@medecin.test")
    dsn = DsnRequest("HDRS", "lps+timeline 1", {DURAND: notice})
    sent = services.dispatch(owner, hosted, raw, [DURAND], dsn=dsn)
    outbound.deliver_due()
    row = OutboundDelivery.objects.get(message=sent)
    assert row.state == DeliveryState.DELIVERED and row.accepted_at is not None, row.last_reply

    def delivered() -> bool:
        inbound.summarise_pending()  # the worker's job: reports are read after `250`
        return OutboundDelivery.objects.filter(pk=row.pk, delivered_at__isnull=False).exists()

    wait_for(delivered, "Postfix's success DSN")
    inbox = Message.objects.filter(mailbox=hosted, folder=Folder.INBOX)
    [report] = [services.raw_of(message) for message in inbox]
    assert b"Action: delivered" in report  # Postfix's own report: it took our request over
    assert b"Original-Envelope-Id: lps+timeline 1" in report  # ENVID passed on as xtext
    assert b"rfc822;Dr.Durand@medecin.test" in report.replace(b"; ", b";")  # ORCPT too
    for disposition in (outbound.MDN_DISPLAYED, outbound.MDN_PROCESSED):
        mdn = receipts.compose_mdn(
            sender=DURAND,
            to=hosted.address,
            final_recipient=DURAND,
            original_message_id=sent.message_id,
            disposition=disposition,
        )
        inject(postfix, pki, "", hosted.address, mdn)

    def both_read() -> OutboundDelivery | None:
        inbound.summarise_pending()
        return OutboundDelivery.objects.filter(
            pk=row.pk, read_at__isnull=False, integrated_at__isnull=False
        ).first()

    row = wait_for(both_read, "both read receipts through Postfix")
    assert row.accepted_at <= row.delivered_at
    client.force_login(owner)
    page = client.get(f"/messagerie/message/{sent.pk}/").content.decode()
    assert "Suivi par destinataire" in page and DURAND in page
    cells = page.split(DURAND, 1)[1].split("</tr>", 1)[0]
    assert cells.count("<td>—</td>") == 0  # every step of the timeline has its date
