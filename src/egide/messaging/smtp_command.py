"""SMTP command lines checked before aiosmtpd parses them: length, bare CR, NUL.

`CommandReader` is the stream reader of every session (`smtp_server.AuditedSMTP`); a line it
refuses raises `MalformedCommand`, which the session answers with its reply (500), logs and
audits, and the session goes on. A bare LF is handled earlier, on the byte stream (521).
"""

from __future__ import annotations

import asyncio
import re
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
# A dot that starts a line, for messages with many dots elsewhere (see `read_data`).
_LINE_DOT = re.compile(rb"\n\.")
_STRAY_DOTS_BEFORE_REGEX = 32

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

    async def read_data(self, size_limit: int) -> tuple[list[bytes], int, bool]:
        """SMTP DATA up to the line holding a lone dot: the message's chunks, its size, and
        whether a dot started another line (dot-stuffing to undo, RFC 5321 4.5.2).

        The chunks (up to, not including, the final `.CRLF`; the CRLF before it is part of
        the message) are kept only while the size stays within `size_limit` (0: no limit);
        past it the rest is read and dropped, and the size tells. The data starts a line.

        Finds the end by looking for dots with `find` (memchr: base64 has none) and checking
        the bytes around each, instead of searching for `.CRLF` at every line; once a message
        has shown many dots that do not start a line (prose), the search for the dots that do
        goes to a regular expression. The buffer is taken when the end is found, or in steps
        of the reader's limit (flow control). Raises `IncompleteReadError` at end of stream.
        """
        chunks: list[bytes] = []
        size = 0
        stuffed = False
        tail = b"\r\n"  # the two bytes before the buffer's first
        scan = 0  # where the next dot may be
        stray = 0  # dots seen that do not start a line
        while True:
            if self._exception is not None:  # type: ignore[attr-defined]
                raise self._exception  # type: ignore[attr-defined]
            buffer: bytearray = self._buffer  # type: ignore[attr-defined]
            end = pending = -1
            while True:
                if stray < _STRAY_DOTS_BEFORE_REGEX:
                    dot = buffer.find(b".", scan)
                elif scan == 0 and buffer[:1] == b".":
                    dot = 0
                else:
                    found = _LINE_DOT.search(buffer, max(scan - 1, 0))
                    dot = -1 if found is None else found.start() + 1
                if dot < 0:
                    break
                before = buffer[dot - 2 : dot] if dot >= 2 else (tail + buffer[:dot])[-2:]
                if before != b"\r\n":
                    stray += 1
                    scan = dot + 1
                    continue
                if len(buffer) < dot + 3:  # a dot starts the last line: wait for more
                    pending = dot
                    break
                if buffer[dot + 1 : dot + 3] == b"\r\n":
                    end = dot
                    break
                stuffed = True
                scan = dot + 1
            if end >= 0 or len(buffer) >= self._limit:  # type: ignore[attr-defined]
                cut = end if end >= 0 else (pending if pending >= 0 else len(buffer))
                chunk = bytes(buffer[:cut])
                del buffer[: cut + 3 if end >= 0 else cut]
                self._maybe_resume_transport()  # type: ignore[attr-defined]
                size += len(chunk)
                if not size_limit or size <= size_limit:
                    chunks.append(chunk)
                else:
                    chunks.clear()
                if end >= 0:
                    return chunks, size, stuffed
                if chunk:
                    tail = (tail + chunk[-2:])[-2:]
                scan = 0 if pending >= 0 else len(buffer)
            else:
                scan = pending if pending >= 0 else len(buffer)
            if self._eof:  # type: ignore[attr-defined]
                partial = bytes(buffer)
                buffer.clear()
                raise asyncio.IncompleteReadError(partial, None)
            await self._wait_for_data("read_data")  # type: ignore[attr-defined]
