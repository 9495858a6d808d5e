"""Stopping a listener: the deliveries in flight finish and their replies are written first."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiosmtpd.smtp import Envelope, Session

from egide.messaging.smtp_server import InboundMessage, SmtpHandler


class _SlowSink:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.delivered: list[bytes] = []

    def deliver(self, message: InboundMessage) -> str:
        self.entered.set()
        self.release.wait(10)
        self.delivered.append(message.content)
        return "250 2.0.0 OK stored"

    def refused(self, *args: Any) -> None:
        pass


def _data(handler: SmtpHandler, loop: asyncio.AbstractEventLoop, content: bytes) -> Any:
    session = Session(loop)
    session.peer = "192.0.2.10"
    envelope = Envelope()
    envelope.mail_from = "a@b.test"
    envelope.rcpt_tos = ["c@d.test"]
    envelope.original_content = content
    return asyncio.run_coroutine_threadsafe(handler.handle_DATA(None, session, envelope), loop)  # type: ignore[arg-type]


def test_a_drained_handler_waits_for_the_deliveries_in_flight_and_refuses_new_data() -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    sink = _SlowSink()
    handler = SmtpHandler(sink, relay=True)  # type: ignore[arg-type]
    try:
        in_flight = _data(handler, loop, b"Subject: x\r\n\r\nx\r\n")
        assert sink.entered.wait(5)
        assert handler.drain(loop, timeout=0.3) is False  # still delivering
        assert _data(handler, loop, b"Subject: y\r\n\r\ny\r\n").result(5).startswith("421 ")
        sink.release.set()
        assert handler.drain(loop, timeout=5) is True
        assert in_flight.result(5).startswith("250 ")
        assert sink.delivered == [b"Subject: x\r\n\r\nx\r\n"]
    finally:
        sink.release.set()
        handler.close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
