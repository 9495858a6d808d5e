"""Malformed command lines on both ports (relay and submission): a bare CR, a NUL byte, a line
over 512 octets (RFC 5321 §4.5.3.1.4) get 500, are logged and audited, and the session goes on;
a bare LF ends the session with 521 (smuggling defence, like Postfix)."""

from __future__ import annotations

import smtplib
import ssl

import pytest

from egide.console.audit.models import AuditEntry
from egide.messaging.smtp_command import DSN_LINE_LIMITS, MalformedCommand, check_command_line

from .smtp_fixtures import PEER_SENDER, Pki

pytestmark = pytest.mark.django_db(transaction=True)


def connect(port: int, pki: Pki) -> smtplib.SMTP:
    context = ssl.create_default_context(cafile=pki.root)
    context.check_hostname = False
    context.load_cert_chain(pki.peer.cert, pki.peer.key)
    client = smtplib.SMTP("127.0.0.1", port, timeout=10)
    client.starttls(context=context)
    client.ehlo("smtp-1.operateur-alpha.test")
    return client


def audited(port_name: str) -> list[str]:
    action = "smtp.refused" if port_name == "relay" else "submission.refused"
    return [
        str(entry.details.get("reply", ""))
        for entry in AuditEntry.objects.filter(action=action, object_id="command")
    ]


@pytest.mark.parametrize("port_name", ["relay", "submission"])
@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"MAIL FROM:<" + PEER_SENDER.encode() + b">\rRCPT TO:<x@y.test>", "Bare CR"),
        (b"MAIL\rFROM:<" + PEER_SENDER.encode() + b">", "Bare CR"),
        (b"MAIL FROM:<dr.durand\x00@medecin.mssante.test>", "NUL byte"),
        (b"NOOP \x00", "NUL byte"),
        (b"MAIL FROM:<" + b"a" * 700 + b"@medecin.mssante.test>", "too long"),
        (b"HELP " + b"x" * 600, "too long"),
        (b"NOOP " + b"x" * 20_000, "too long"),
    ],
)
def test_a_malformed_command_line_gets_500_is_audited_and_the_session_goes_on(
    listeners: dict[str, int],
    pki: Pki,
    caplog: pytest.LogCaptureFixture,
    port_name: str,
    line: bytes,
    why: str,
) -> None:
    with connect(listeners[port_name], pki) as client:
        client.send(line + b"\r\n")
        code, text = client.getreply()
        assert code == 500, text
        assert why.encode() in text
        assert client.noop()[0] == 250
    assert any(why in reply for reply in audited(port_name))
    assert "malformed SMTP command" in caplog.text


@pytest.mark.parametrize("port_name", ["relay", "submission"])
def test_a_bare_lf_in_a_command_ends_the_session_with_521(
    listeners: dict[str, int], pki: Pki, port_name: str
) -> None:
    with connect(listeners[port_name], pki) as client:
        client.send(b"NOOP\n")
        assert client.getreply()[0] == 521
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()


@pytest.mark.parametrize("port_name", ["relay", "submission"])
def test_a_malformed_command_before_starttls_is_refused_too(
    listeners: dict[str, int], port_name: str
) -> None:
    with smtplib.SMTP("127.0.0.1", listeners[port_name], timeout=10) as client:
        client.send(b"EHLO a\rb\r\n")
        assert client.getreply()[0] == 500
        assert client.ehlo("ok.test")[0] == 250


def test_the_line_check_allows_what_rfc_5321_3461_and_4954_allow() -> None:
    check_command_line(b"NOOP " + b"a" * 505 + b"\r\n")  # 512 octets
    sender = b"a" * 420 + b"@b.test"
    mail = b"MAIL FROM:<" + sender + b"> SIZE=10 RET=HDRS ENVID=" + b"e" * 100 + b"\r\n"
    rcpt = b"RCPT TO:<a@b.test> NOTIFY=SUCCESS ORCPT=rfc822;" + b"a" * 480 + b"\r\n"
    for line in (mail, rcpt):
        check_command_line(line, limits=DSN_LINE_LIMITS)  # submission announces DSN
        with pytest.raises(MalformedCommand):
            check_command_line(line)  # the relay port does not
    check_command_line(b"AUTH XOAUTH2 " + b"A" * 12_000 + b"\r\n")
    check_command_line(b"A" * 12_000 + b"\r\n", limit=12_288)  # a SASL response
    for line in (
        b"NOOP " + b"a" * 506,
        b"HELO " + b"a" * 600,
        b"RCPT TO:<" + b"a" * 1_010 + b">",
        b"A" * 600,
        b"AUTH XOAUTH2 " + b"A" * 12_300,
    ):
        with pytest.raises(MalformedCommand):
            check_command_line(line + b"\r\n")
