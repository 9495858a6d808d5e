"""STARTTLS through the loop's `start_tls` (ADR 0036), on uvloop and on asyncio's own loop:
what is sent in clear after STARTTLS is dropped (RFC 3207 §4.1, command injection), the
session starts over (§4.2), the peer's certificate is seen, and a message goes through."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from egide.console.inbox import listener
from egide.console.inbox.models import Mailbox, Message
from egide.messaging import smtp_server

from .smtp_fixtures import PEER_SENDER, Pki, free_port
from .test_smtp_inbound import connect, message_to, tls_client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["uvloop", "asyncio"])
def relay_port(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    smtp_settings: Any,
    hosted: Mailbox,
) -> Iterator[int]:
    smtp_settings.EGIDE_SMTP_UVLOOP = request.param == "uvloop"
    started = listener.start(port=free_port(), submission_port=0)
    relay = started[0]
    loop = relay.controller.loop
    assert (type(loop).__module__.split(".")[0] == "uvloop") == (request.param == "uvloop")
    yield relay.port
    for item in started:
        item.stop()


def replies(stream: Any) -> list[bytes]:
    """One SMTP reply (all its lines)."""
    lines = []
    while True:
        line = stream.readline()
        assert line, "connection closed"
        lines.append(line)
        if line[3:4] != b"-":
            return lines


def test_commands_sent_in_clear_after_starttls_are_dropped(relay_port: int, pki: Pki) -> None:
    with socket.create_connection(("127.0.0.1", relay_port), timeout=10) as raw:
        plain = raw.makefile("rb")
        assert replies(plain)[0].startswith(b"220")
        raw.sendall(b"EHLO smtp-1.operateur-alpha.test\r\n")
        assert replies(plain)[-1].startswith(b"250")
        # One segment: the injected command arrives with STARTTLS, before the handshake.
        raw.sendall(b"STARTTLS\r\nMAIL FROM:<" + PEER_SENDER.encode() + b">\r\n")
        assert replies(plain)[0].startswith(b"220")
        secure = tls_client(pki, pki.peer).wrap_socket(raw, server_hostname="localhost")
        stream = secure.makefile("rb")
        secure.sendall(b"NOOP\r\n")
        # The first reply over TLS is the NOOP's: the MAIL sent in clear was never answered.
        assert replies(stream)[0].startswith(b"250")
        # A new session: MAIL before EHLO is refused.
        secure.sendall(b"MAIL FROM:<" + PEER_SENDER.encode() + b">\r\n")
        assert replies(stream)[0].startswith(b"503")
        secure.sendall(b"QUIT\r\n")
        assert replies(stream)[0].startswith(b"221")


def test_a_message_goes_through_and_the_certificate_is_seen(
    relay_port: int, pki: Pki, hosted: Mailbox
) -> None:
    with connect(relay_port, pki, pki.peer) as client:
        client.sendmail(PEER_SENDER, [hosted.address], message_to(hosted.address))
    assert Message.objects.filter(mailbox=hosted).count() == 1


def test_without_a_certificate_mail_is_refused(relay_port: int, pki: Pki) -> None:
    with connect(relay_port, pki, None) as client:
        code, _ = client.mail(PEER_SENDER)
    assert code == 530


def test_the_listeners_loop_is_uvloop_by_default() -> None:
    loop = smtp_server.new_event_loop()
    try:
        assert type(loop).__module__.split(".")[0] == "uvloop"
        assert isinstance(loop, asyncio.AbstractEventLoop)
    finally:
        loop.close()
