"""SMTP command lines checked before aiosmtpd parses them: length, bare CR, NUL.

`CommandReader` is the stream reader of every session (`smtp_server.AuditedSMTP`); a line it
refuses raises `MalformedCommand`, which the session answers with its reply (500), logs and
audits, and the session goes on. A bare LF is handled earlier, on the byte stream (521).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

__all__ = [
    "AUTH_LINE_LIMIT",
    "COMMAND_LINE_LIMIT",
    "DSN_LINE_LIMITS",
    "LINE_LIMITS",
    "CommandReader",
    "MalformedCommand",
    "check_command_line",
]

_NUL = b"\x00"

# RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with its CRLF. Extensions widen it:
# MAIL by 26 (SIZE, RFC 1870), 10 (SMTPUTF8, RFC 6531) and 100 (RET/ENVID, RFC 3461 §5); RCPT by
# 500 (NOTIFY/ORCPT, RFC 3461 §5); AUTH lines and SASL responses reach 12,288 (RFC 4954 §4),
# which an access token needs.
COMMAND_LINE_LIMIT = 512
AUTH_LINE_LIMIT = 12288
LINE_LIMITS = {b"AUTH": AUTH_LINE_LIMIT, b"MAIL": COMMAND_LINE_LIMIT + 36}
DSN_LINE_LIMITS = {**LINE_LIMITS, b"MAIL": COMMAND_LINE_LIMIT + 136, b"RCPT": 1012}


class MalformedCommand(Exception):
    """A command line that is refused before any parsing: its SMTP reply and a short reason."""

    def __init__(self, reply: str, reason: str) -> None:
        super().__init__(reply)
        self.reply = reply
        self.reason = reason


def check_command_line(
    line: bytes, *, limit: int | None = None, limits: Mapping[bytes, int] = LINE_LIMITS
) -> None:
    """Refuse a command line that is too long, or carries a bare CR or a NUL (500).

    `line` ends with its LF. aiosmtpd would otherwise strip the CR of `MAIL\rFROM` oddly or pass a
    NUL into an address; both are how SMTP smuggling and log injection start. A bare LF is dealt
    with earlier, on the byte stream (521 and hang up, see `AuditedSMTP.data_received`).
    """
    if limit is None:
        limit = limits.get(line[:4].upper(), COMMAND_LINE_LIMIT)
    if len(line) > limit:
        raise MalformedCommand("500 5.5.2 Command line too long (RFC 5321 4.5.3.1.4)", "too long")
    body = line[:-2] if line.endswith(b"\r\n") else line.rstrip(b"\n")
    if b"\r" in body:
        raise MalformedCommand("500 5.5.2 Bare CR in command line refused", "bare CR")
    if _NUL in body:
        raise MalformedCommand("500 5.5.2 NUL byte in command line refused", "NUL")


class CommandReader(asyncio.StreamReader):
    """The session's stream reader, checking every command line before aiosmtpd parses it.

    aiosmtpd reads command lines (and SASL responses) with `readuntil()`/`readline()` — separator
    LF — and message data with `readuntil(b"\r\n")`, so only the former are checked here; the
    data keeps its own rules (`check_content`). Its buffer limit is at least the AUTH line limit,
    so that an access token fits (the session raises it so that DATA is read in large steps);
    command lines keep the limits checked here, and DATA its own 1,000-octet line limit.
    """

    sasl_exchange = False  # set during AUTH: a SASL response may be as long as an AUTH line
    limits: Mapping[bytes, int] = LINE_LIMITS  # DSN_LINE_LIMITS where DSN is announced

    async def readuntil(self, separator: Any = b"\n") -> bytes:
        if separator != b"\n":
            return await super().readuntil(separator)
        try:
            line = await super().readuntil(separator)
        except asyncio.LimitOverrunError as error:
            # Throw the rest of the line away, then refuse it (what aiosmtpd itself does).
            await self.read(error.consumed)
            while True:
                try:
                    await super().readuntil(separator)
                    break
                except asyncio.LimitOverrunError as more:
                    await self.read(more.consumed)
            raise MalformedCommand(
                "500 5.5.2 Command line too long (RFC 5321 4.5.3.1.4)", "too long"
            ) from None
        limit = AUTH_LINE_LIMIT if self.sasl_exchange else None
        check_command_line(line, limit=limit, limits=self.limits)
        return line
