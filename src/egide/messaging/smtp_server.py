"""Inbound SMTP (operator to operator, and submission) as a thin aiosmtpd adapter.

The handler only turns the SMTP dialogue into calls on a `MailSink`, plain synchronous functions
that the console implements (recipient lookup, durable storage, authentication, audit) and that
tests call without sockets — the healthchecks pattern. Sink calls touch the database, so they
run in a thread pool, never on the event loop.

What is decided here, because it is protocol and not business:
- TLS first: no MAIL before STARTTLS (aiosmtpd's `require_starttls`, 530), TLS ≥ 1.2 with the
  MSSanté ECDHE-RSA suites (see `server_tls_context`);
- on the relay port the peer must present a certificate that chains to the configured anchors
  (OpenSSL refuses a bad one during the handshake; a missing one gets 530 here);
- SMTP smuggling: a message containing a bare LF or CR is refused whole (RFC 5321 §2.3.8),
  since aiosmtpd only ends DATA on CRLF.CRLF, a `\\n.\\n` end can then never split a message;
- `250` after DATA is the sink's answer, given only once the message is durably stored;
- command lines are checked before aiosmtpd parses them (`smtp_command`: length, bare CR, NUL);
- submission offers AUTH PLAIN (application token) and XOAUTH2 (OIDC access token), and takes
  the DSN parameters of RFC 3461 (`dsn_request`), handed to the sink with the message.

DATA is read in large steps (`AuditedSMTP.smtp_DATA`), not line by line as aiosmtpd does: the
end is still only CRLF.CRLF, lines are still limited to 1000 octets and the size limit is still
enforced after reading the whole message (RFC 5321 4.5.3.1.6, 4.2.5).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import logging
import re
import ssl
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import (
    MISSING,
    SMTP,
    AuthResult,
    Envelope,
    LoginPassword,
    Session,
    TLSSetupException,
)

from .dsn_request import (
    DsnRequest,
    DsnSyntaxError,
    RecipientNotice,
    split_mail_parameters,
    split_rcpt_parameters,
)
from .errors import SmtpRefusal
from .smtp_command import (
    AUTH_LINE_LIMIT,
    COMMAND_LINE_LIMIT,
    DSN_LINE_LIMITS,
    LINE_LIMITS,
    CommandReader,
    MalformedCommand,
)

log = logging.getLogger(__name__)

# Référentiel MSSanté #2 v0.1, ECO.1.1.3 (TLS 1.2); TLS 1.3 suites are OpenSSL's defaults.
MSSANTE_CIPHERS = (
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256"
)
_NUL = b"\x00"
# The literal comes first so that the regex engine scans for it at C speed (a leading
# look-behind or alternation made the search ten to twenty times slower). Measured against
# `bytes.count` of CR and of CRLF pairs: the regexes are about three times faster.
_BARE_LF = re.compile(rb"\n(?<!\r\n)")
_BARE_CR = re.compile(rb"\r(?!\n)")
# A reverse or forward path as nearly every MTA sends it: `<dot-atom@dot-atom>` in ASCII, then
# parameters. aiosmtpd's own parser (the email package's, plus a Protocol class created at each
# call) takes ≈ 50 µs a path; this answers the same for these paths in ≈ 1 µs.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_PATH = re.compile(
    rf"[ \t]*<({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>(.*)", re.DOTALL
)
# RFC 5321 4.5.3.1.6: 1000 octets per line, CRLF included (aiosmtpd's limit, kept).
MAX_DATA_LINE = 1000
# How much of a message the stream may buffer before reading pauses (flow control).
DATA_READ_LIMIT = 1 << 18

__all__ = [
    "MSSANTE_CIPHERS",
    "InboundMessage",
    "MailSink",
    "Peer",
    "SmtpController",
    "SmtpHandler",
    "check_content",
    "client_tls_context",
    "dsn_of",
    "read_xoauth2",
    "server_tls_context",
]


@dataclass(frozen=True)
class Peer:
    """Who is talking: address, TLS state and, on the relay port, the verified certificate."""

    ip: str
    tls_version: str = ""
    certificate_subject: str = ""
    user: Any = None  # what the sink's `authenticate` returned (submission port)

    @property
    def certificate_name(self) -> str:
        """The common name of the verified peer certificate ('' without one)."""
        for part in self.certificate_subject.split(","):
            key, _, value = part.partition("=")
            if key == "commonName":
                return value
        return ""


@dataclass(frozen=True)
class InboundMessage:
    peer: Peer
    mail_from: str
    recipients: tuple[str, ...]
    content: bytes = field(repr=False)
    dsn: DsnRequest = field(default_factory=DsnRequest)  # submission: RFC 3461 parameters


class MailSink(Protocol):
    """The business side of an SMTP listener; every method returns an SMTP reply or None (OK).

    Optional: `known_sender(peer, address) -> bool` and `known_recipient(peer, address) ->
    bool`, called on the event loop, so they must not block (no database, no I/O): True when
    the address is known acceptable already (`check_sender` / `check_recipient` is then not
    called), False to ask the check.
    """

    def check_sender(self, peer: Peer, address: str) -> str | None: ...

    def check_recipient(self, peer: Peer, address: str) -> str | None: ...

    def deliver(self, message: InboundMessage) -> str: ...

    def authenticate(self, peer: Peer, login: str, password: str) -> Any: ...

    def authenticate_bearer(self, peer: Peer, login: str, token: str) -> Any: ...

    def refused(self, peer: Peer, stage: str, reply: str) -> None: ...


def check_content(content: bytes, *, lf_checked: bool = False) -> None:
    """Refuse message data that could hide a second message (smuggling) or is not text mail.

    `lf_checked`: the bytes came through `AuditedSMTP`, which already refused any bare LF in
    the stream, so every LF has its CR and only an unpaired CR is left to find.
    """
    if (not lf_checked and _BARE_LF.search(content)) or _BARE_CR.search(content):
        raise SmtpRefusal("554 5.6.0 Bare LF or CR in message data refused (RFC 5321 2.3.8)")
    if _NUL in content:
        raise SmtpRefusal("554 5.6.0 NUL byte in message data refused")


def read_xoauth2(blob: bytes) -> tuple[str, str] | None:
    """The (user, access token) of a decoded XOAUTH2 initial response, None if malformed.

    The format (Google's XOAUTH2, the OAUTHBEARER of RFC 7628 without GS2 header) is
    `user=<name>^Aauth=Bearer <token>^A^A`, ^A being the byte 0x01.
    """
    try:
        text = blob.decode("ascii")
    except UnicodeDecodeError:
        return None
    fields = dict(part.partition("=")[::2] for part in text.split("\x01") if part)
    user, auth = fields.get("user", ""), fields.get("auth", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or any(c.isspace() for c in token.strip()):
        return None
    return user, token.strip()


def server_tls_context(
    cert_file: str,
    key_file: str,
    *,
    client_ca_file: str | None = None,
    crl_files: Sequence[str] = (),
) -> ssl.SSLContext:
    """A server context: TLS ≥ 1.2, MSSanté suites, client certificates checked if anchors given.

    With `client_ca_file`, a client certificate is requested and, when sent, verified against
    those anchors (and the CRLs: a revoked or expired certificate fails the handshake).
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(MSSANTE_CIPHERS)
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file:
        context.load_verify_locations(cafile=client_ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL
        for crl in crl_files:
            context.load_verify_locations(cafile=crl)
        if crl_files:
            context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return context


def client_tls_context(
    ca_file: str, *, cert_file: str | None = None, key_file: str | None = None
) -> ssl.SSLContext:
    """A client context for delivering to peers: verified server certificate, our own if given."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(MSSANTE_CIPHERS)
    if cert_file and key_file:
        context.load_cert_chain(cert_file, key_file)
    return context


def _peer(session: Session) -> Peer:
    ip = str(session.peer[0]) if isinstance(session.peer, tuple) else str(session.peer)
    user = session.auth_data
    extra = session.ssl
    if not extra:
        return Peer(ip, user=user)
    ssl_object = extra.get("ssl_object")
    version = ssl_object.version() if ssl_object is not None else ""
    subject = ""
    certificate = extra.get("peercert") or {}
    for rdn in certificate.get("subject", ()):
        for key, value in rdn:
            subject += f"{key}={value},"
    return Peer(ip, version or "", subject.rstrip(","), user)


class SmtpHandler:
    """aiosmtpd hooks; `relay=True` for operator peers (certificate), False for submission.

    The pool is larger than the number of cores on purpose: a `deliver` mostly waits for its
    group commit (see the sink), and every connection waiting there joins the next batch.
    """

    def __init__(self, sink: MailSink, *, relay: bool, workers: int = 32) -> None:
        self.sink = sink
        self.relay = relay
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smtp-sink")
        self._delivering = 0  # DATA hooks waiting for the sink's `deliver`
        self._draining = False
        self._idle = threading.Condition()

    def close(self) -> None:
        """Wait for the sink calls in flight, then let the pool's threads end."""
        self.pool.shutdown(wait=True)

    def drain(self, loop: asyncio.AbstractEventLoop, timeout: float = 10.0) -> bool:
        """Before stopping the loop: refuse new DATA (`421`), wait for the deliveries in
        flight and for their replies to be written. A stop that cut a `250` the sink had
        stored would have the peer send it again: stored twice. False after `timeout`."""
        with self._idle:
            self._draining = True
            done = self._idle.wait_for(lambda: self._delivering == 0, timeout)
        written = threading.Event()
        try:  # one turn of the loop: the step that wrote the last reply has run
            loop.call_soon_threadsafe(written.set)
        except RuntimeError:  # the loop is closed already
            return done
        return written.wait(timeout) and done

    async def _call(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, function, *args)

    async def _refuse(self, peer: Peer, stage: str, reply: str) -> str:
        await self._call(self.sink.refused, peer, stage, reply)
        return reply

    async def handle_exception(self, error: Exception) -> str:
        """aiosmtpd's hook for anything a command raised: never a stack trace to the peer."""
        if isinstance(error, TLSSetupException):  # already refused and audited by the session
            log.warning("TLS handshake failed: %s", error.__cause__ or error)
            return "554 5.7.0 TLS handshake failed"
        log.exception("SMTP command failed")
        return "451 4.3.0 Internal error, try again later"

    async def handle_EHLO(  # noqa: N802 - aiosmtpd hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if not self.relay:  # submission takes RFC 3461 parameters; the queue honours them
            responses.insert(len(responses) - 1, "250-DSN")
        return responses

    async def handle_MAIL(  # noqa: N802 - aiosmtpd hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        peer = _peer(session)
        if self.relay and not peer.certificate_subject:
            return await self._refuse(
                peer, "mail", "530 5.7.0 A client certificate from the trust space is required"
            )
        if not self.relay and peer.user is None:
            return await self._refuse(peer, "mail", "530 5.7.0 Authentication required")
        known = getattr(self.sink, "known_sender", None)
        if known is None or not known(peer, address):
            reply = await self._call(self.sink.check_sender, peer, address)
            if reply:
                return await self._refuse(peer, "mail", reply)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        peer = _peer(session)
        # A sink may say at once, without blocking, that a recipient is known good (a cache):
        # then no hop to the pool and back (a round trip of the session saved).
        known = getattr(self.sink, "known_recipient", None)
        if known is None or not known(peer, address):
            reply = await self._call(self.sink.check_recipient, peer, address)
            if reply:
                return await self._refuse(peer, "rcpt", reply)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        peer = _peer(session)
        content = envelope.original_content or b""
        try:
            check_content(content, lf_checked=isinstance(server, AuditedSMTP))
        except SmtpRefusal as refusal:
            return await self._refuse(peer, "data", refusal.reply)
        message = InboundMessage(
            peer,
            envelope.mail_from or "",
            tuple(envelope.rcpt_tos),
            bytes(content),
            dsn_of(envelope),
        )
        with self._idle:
            if self._draining:
                return "421 4.3.2 Service shutting down, try again later"
            self._delivering += 1
        try:
            reply: str = await self._call(self.sink.deliver, message)
        except Exception:
            # Never 250 a message that was not stored; the peer keeps it and retries.
            log.exception("storing an inbound message failed")
            return "451 4.3.0 Temporary failure storing the message, try again later"
        finally:
            with self._idle:
                self._delivering -= 1
                self._idle.notify_all()
        return reply

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        """SASL XOAUTH2 (aiosmtpd picks `auth_*` hooks up): an OIDC access token, over TLS.

        A refused token gets the mechanism's error challenge (a JSON status, RFC 7628 §3.2.2),
        then 535 once the client answered it.
        """
        if len(args) == 1:
            answer = await server.challenge_auth("")
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=True)  # aborted; aiosmtpd answered
            blob = answer
        else:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        assert server.session is not None
        peer = _peer(server.session)
        parsed = read_xoauth2(blob)
        if parsed is None:
            await self._refuse(peer, "auth", "501 5.5.2 Malformed XOAUTH2 response")
            await server.push("501 5.5.2 Malformed XOAUTH2 response")
            return AuthResult(success=False, handled=True)
        user = await self._call(self.sink.authenticate_bearer, peer, *parsed)
        if user is None:
            await server.challenge_auth(b'{"status":"invalid_token","schemes":"bearer"}')
            return AuthResult(
                success=False, handled=False, message="535 5.7.8 Access token refused"
            )
        return AuthResult(success=True, auth_data=user)

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """aiosmtpd `authenticator`: PLAIN/LOGIN with an application token (over TLS only)."""
        peer = _peer(session)
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = data.login.decode("utf-8", "replace")
        password = data.password.decode("utf-8", "replace")
        # aiosmtpd calls this on the event loop; the sink touches the database, which Django
        # forbids from a thread running a loop, so it runs in the pool (auth is rare and short).
        user = self.pool.submit(self.sink.authenticate, peer, login, password).result()
        if user is None:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=user)


class DsnEnvelope(Envelope):
    """aiosmtpd's envelope with the DSN parameters (RFC 3461) given on MAIL and RCPT."""

    def __init__(self) -> None:
        super().__init__()
        self.dsn_ret = ""
        self.dsn_envelope_id = ""
        self.dsn_notices: dict[str, RecipientNotice] = {}


def dsn_of(envelope: Envelope) -> DsnRequest:
    """The DSN request carried by an envelope (the default one for a plain envelope)."""
    if not isinstance(envelope, DsnEnvelope):
        return DsnRequest()
    return DsnRequest(envelope.dsn_ret, envelope.dsn_envelope_id, dict(envelope.dsn_notices))


class AuditedSMTP(SMTP):
    """aiosmtpd's SMTP with failed TLS handshakes reported to the sink (refused and audited).

    A bad client certificate (unknown CA, expired, revoked) or an old TLS version fails inside
    OpenSSL's handshake, before any SMTP reply can be given; without this hook the refusal
    would only appear in a debug log.
    """

    _previous_byte = b""
    # aiosmtpd uses this as the stream reader's limit, which is also where reading pauses
    # (twice the limit buffered): at its 1001 a 137 KB message arrived in 2 KB steps, each a
    # pause and a resume of the TLS transport. Command lines keep their own limits
    # (`command_size_limits`) and DATA lines theirs (`MAX_DATA_LINE`, checked in `smtp_DATA`).
    line_length_limit = DATA_READ_LIMIT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Serve the session through our checking reader. StreamReaderProtocol only keeps a weak
        # reference to its reader (plus a strong one until the connection is made), and hands
        # it to aiosmtpd's `_cb_client_connected` at connection time, so swapping it here,
        # before any connection, is enough.
        reader = CommandReader(limit=max(AUTH_LINE_LIMIT + 2, DATA_READ_LIMIT), loop=self.loop)
        self._stream_reader_wr = weakref.ref(reader)
        self._strong_reader = reader
        # aiosmtpd keeps these limits in a class-level dict shared by every session; give each
        # session its own, with the AUTH allowance of RFC 4954.
        # Ours are checked first (`CommandReader`), so aiosmtpd's only need to be as wide.
        limits = DSN_LINE_LIMITS if self._takes_dsn else LINE_LIMITS
        reader.limits = limits
        self.command_size_limits = collections.defaultdict(
            lambda: COMMAND_LINE_LIMIT,
            {name.decode(): value for name, value in limits.items()},
        )
        self._command_reader = reader

    def data_received(self, data: bytes) -> None:
        """Refuse a bare LF anywhere in the stream (commands or data) and hang up (521).

        aiosmtpd reads commands up to LF, so `MAIL FROM:<a>\n` would pass; a bare LF in
        message data is where SMTP smuggling hides. Like Postfix's
        `smtpd_forbid_bare_newline = reject`, we answer 521 and close the connection.
        """
        # The previous chunk's last byte pairs with a leading LF (a CR split from its LF).
        start = 1 if data[:1] == b"\n" and self._previous_byte == b"\r" else 0
        self._previous_byte = data[-1:]
        if _BARE_LF.search(data, start) is None:
            super().data_received(data)
            return
        handler = self.event_handler
        reply = "521 5.5.2 Bare LF received, closing (RFC 5321 2.3.8)"
        if isinstance(handler, SmtpHandler) and self.session is not None:
            self.loop.create_task(handler._refuse(_peer(self.session), "stream", reply))
        transport = self.transport
        if transport is not None:
            # uvloop's transports do not subclass asyncio's: ask for `write`, not the class.
            write = getattr(transport, "write", None)
            if write is not None:
                write(reply.encode() + b"\r\n")
            transport.close()

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's path parser, with a fast answer for plain paths (`_PLAIN_PATH`).

        Same results: the address as typed and the rest after `>` and its white space
        (`tests/messaging/test_smtp_paths.py` compares both on generated paths); anything
        else (quoted or non-ASCII local parts, literals, routes, comments) goes to aiosmtpd.
        """
        plain = _PLAIN_PATH.fullmatch(arg)
        if plain is not None:
            address, rest = plain.group(1), plain.group(2).lstrip(" \t")
            local = address.rpartition("@")[0]
            if not rest.startswith("(") and not (
                self.local_part_limit and len(local) > self.local_part_limit
            ):
                return address, rest
        return super()._getaddr(arg)

    async def handle_exception(self, error: Exception) -> str:
        """A malformed command line is answered, logged and audited; the session goes on."""
        handler = self.event_handler
        if isinstance(error, MalformedCommand) and isinstance(handler, SmtpHandler):
            assert self.session is not None
            peer = _peer(self.session)
            log.warning("malformed SMTP command from %s refused: %s", peer.ip, error.reason)
            return await handler._refuse(peer, "command", error.reply)
        return await super().handle_exception(error)

    async def smtp_AUTH(self, arg: str) -> None:  # noqa: N802 - aiosmtpd command name
        self._command_reader.sasl_exchange = True
        try:
            await super().smtp_AUTH(arg)
        finally:
            self._command_reader.sasl_exchange = False

    def _create_envelope(self) -> Envelope:
        return DsnEnvelope()

    @property
    def _takes_dsn(self) -> bool:
        handler = self.event_handler
        return isinstance(handler, SmtpHandler) and not handler.relay

    async def smtp_MAIL(self, arg: str | None) -> None:  # noqa: N802 - aiosmtpd command name
        """MAIL, with RET and ENVID taken out (case kept) before aiosmtpd sees the rest."""
        ret = envelope_id = ""
        if arg and self._takes_dsn:
            try:
                arg, ret, envelope_id = split_mail_parameters(arg)
            except DsnSyntaxError as error:
                await self.push(error.reply)
                return
        await super().smtp_MAIL(arg)
        envelope = self.envelope
        if isinstance(envelope, DsnEnvelope) and envelope.mail_from:
            envelope.dsn_ret, envelope.dsn_envelope_id = ret, envelope_id

    async def smtp_RCPT(self, arg: str | None) -> None:  # noqa: N802 - aiosmtpd command name
        """RCPT, with NOTIFY and ORCPT taken out and kept for the accepted recipient."""
        notice = None
        if arg and self._takes_dsn:
            try:
                arg, notice = split_rcpt_parameters(arg)
            except DsnSyntaxError as error:
                await self.push(error.reply)
                return
        envelope = self.envelope
        before = len(envelope.rcpt_tos) if envelope is not None else 0
        await super().smtp_RCPT(arg)
        envelope = self.envelope
        if isinstance(envelope, DsnEnvelope) and notice and len(envelope.rcpt_tos) > before:
            envelope.dsn_notices[envelope.rcpt_tos[-1].lower()] = notice

    async def smtp_DATA(self, arg: str) -> None:  # noqa: N802 - aiosmtpd command name
        """aiosmtpd's DATA, reading the message in large steps instead of line by line."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            content, refusal = await self._read_data()
        except asyncio.CancelledError:  # the connection was reset during DATA
            if self._writer is not None:
                self._writer.close()
            raise
        if refusal:
            await self.push(refusal)
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            return
        self.envelope.original_content = content
        self.envelope.content = (
            content.decode("utf-8", errors="surrogateescape") if self._decode_data else content
        )
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()  # type: ignore[no-untyped-call]
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self) -> tuple[bytes, str]:
        """The message up to CRLF.CRLF, dot-unstuffed, or the refusal once it is all read.

        `CommandReader.read_data` finds the end (a dot alone on a line) and says whether a
        dot started another line. As aiosmtpd does, an oversized message or line is refused
        after the whole DATA was read (RFC 5321 4.2.5).
        """
        limit = self.data_size_limit or 0
        return _finish_data(*await self._command_reader.read_data(limit), limit)

    async def smtp_STARTTLS(self, arg: str) -> None:  # noqa: N802 - aiosmtpd command name
        """STARTTLS through the loop's public `start_tls` (aiosmtpd wires asyncio's private
        `sslproto` by hand): on uvloop the TLS layer is then uvloop's own, compiled, instead
        of asyncio's in Python. What aiosmtpd does once the handshake is done is done here:
        a new session (RFC 3207 4.2), the TLS details for the certificate checks, the
        plaintext read before the handshake thrown away (RFC 3207 4.1)."""
        if arg:
            await self.push("501 Syntax: STARTTLS")
            return
        if not self.tls_context:
            await self.push("454 TLS not available")
            return
        await self.push("220 Ready to start TLS")
        # uvloop's transports do not subclass asyncio's: typed, not checked.
        raw = cast(asyncio.WriteTransport, self.transport)
        # Anything sent after STARTTLS in clear is dropped: the command injection of RFC 3207.
        self._reader._buffer.clear()  # type: ignore[attr-defined]
        try:
            secure = await self.loop.start_tls(raw, self, self.tls_context, server_side=True)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            handler = self.event_handler
            if isinstance(handler, SmtpHandler) and self.session is not None:
                reason = str(error)[:200]
                # The failed handshake closes the connection, which cancels this session's
                # task: the refusal is audited all the same.
                await asyncio.shield(
                    handler._refuse(_peer(self.session), "tls", f"TLS handshake refused: {reason}")
                )
            raise TLSSetupException() from error
        if secure is None:  # the peer went away during the handshake
            raise TLSSetupException()
        self._original_transport = raw
        started = _StartedTls(secure)
        self._tls_protocol = started  # type: ignore[assignment]
        self._set_rset_state()  # type: ignore[no-untyped-call]
        self.session = self._create_session()
        self.session.peer = secure.get_extra_info("peername")
        self._reset_timeout()
        self._reader._transport = secure  # type: ignore[attr-defined]
        self._writer._transport = secure  # type: ignore[attr-defined]
        self.transport = secure
        self.session.ssl = started._extra
        hook = self._handle_hooks.get("STARTTLS")
        self._tls_handshake_okay = True if hook is None else hook(self, self.session, self.envelope)


class _StartedTls:
    """What aiosmtpd keeps of its TLS layer (`SMTP._tls_protocol`), for a session whose
    STARTTLS went through `loop.start_tls`: set (TLS is on) and its details (`_extra`)."""

    _NAMES = ("peername", "sockname", "peercert", "cipher", "compression", "ssl_object")

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        self._extra = {name: transport.get_extra_info(name) for name in self._NAMES}


def _finish_data(chunks: list[bytes], size: int, stuffed: bool, limit: int) -> tuple[bytes, str]:
    """The message of `CommandReader.read_data`'s answer, dot-unstuffed, or the refusal."""
    if limit and size > limit:
        return b"", "552 Error: Too much mail data"
    content = b"".join(chunks)
    if _line_too_long(content):
        return b"", "500 Line too long (see RFC5321 4.5.3.1.6)"
    # RFC 5321 4.5.2: a dot starting a line was doubled by the sender.
    if content.startswith(b"."):
        content = content[1:]
    if stuffed:
        content = content.replace(b"\r\n.", b"\r\n")
    return content, ""


def _line_too_long(content: bytes) -> bool:
    """Whether a line has more than 1000 octets with its CRLF (`MAX_DATA_LINE`).

    Looks for the last LF of each 1000-octet window (at C speed) instead of splitting the
    message into its lines: about one search per kilobyte instead of one object per line.
    """
    longest = MAX_DATA_LINE - 1  # text and its CR; the LF ends the line
    start = 0
    while len(content) - start > longest:
        newline = content.rfind(b"\n", start, start + longest + 1)
        if newline < 0:
            return True
        start = newline + 1
    return False


def new_event_loop(*, uvloop_loop: bool = True) -> asyncio.AbstractEventLoop:
    """The listeners' event loop: uvloop's (libuv, its TLS layer compiled), or the standard
    library's when `uvloop_loop` is false (the console's `EGIDE_SMTP_UVLOOP=0`)."""
    if not uvloop_loop:
        return asyncio.new_event_loop()
    import uvloop

    return uvloop.new_event_loop()


class SmtpController(Controller):
    """aiosmtpd's threaded Controller serving `AuditedSMTP`.

    With `reuse_port`, several processes listen on the same port (SO_REUSEPORT) and the kernel
    spreads the connections among them: one Python process uses about one core. With
    `tls_source` set (a `TlsMaterial.context`), each new connection gets the current TLS
    context, so renewed CRLs and anchors apply to the next handshake.
    """

    tls_source: Callable[[], ssl.SSLContext] | None = None

    def __init__(self, handler: Any, *, reuse_port: bool = False, **kwargs: Any) -> None:
        if kwargs.get("loop") is None:
            kwargs["loop"] = new_event_loop()
        super().__init__(handler, **kwargs)
        self.reuse_port = reuse_port

    def factory(self) -> SMTP:
        kwargs = dict(self.SMTP_kwargs)
        if self.tls_source is not None:
            kwargs["tls_context"] = self.tls_source()
        return AuditedSMTP(self.handler, **kwargs)

    def _create_server(self) -> Any:
        if not self.reuse_port:
            return super()._create_server()
        return self.loop.create_server(
            self._factory_invoker,
            host=self.hostname,
            port=self.port,
            ssl=self.ssl_context,
            reuse_port=True,
        )

    def _trigger_server(self) -> None:
        if not self.reuse_port:
            super()._trigger_server()  # type: ignore[no-untyped-call]
            return
        # aiosmtpd connects to itself to have `factory` run once; with SO_REUSEPORT that
        # connection may reach another process. Run it in the loop as a connection would.
        self.loop.call_soon_threadsafe(self._factory_invoker)
