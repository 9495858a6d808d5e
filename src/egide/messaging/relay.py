"""Outbound SMTP delivery to another operator of the trust space: routes, TLS, per-recipient result.

Uses the standard library's smtplib (blocking, run by a background worker thread) and dnspython
for MX records. TLS is never optional: a peer that does not offer STARTTLS, or whose certificate
does not verify against the configured anchors, is a transient failure (the message waits,
it is never sent in clear). Each recipient gets its own result, because a peer may accept some
recipients of a message and refuse others.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dns.exception
import dns.resolver

__all__ = ["RecipientResult", "Route", "mx_routes", "parse_static_routes", "send_message"]

TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Route:
    host: str
    port: int = 25


@dataclass(frozen=True)
class RecipientResult:
    recipient: str
    code: int
    reply: str
    notified_onward: bool = False  # the peer took our DSN request over (RFC 3461 §4.3)

    @property
    def accepted(self) -> bool:
        return 200 <= self.code < 300

    @property
    def permanent(self) -> bool:
        return 500 <= self.code < 600


def parse_static_routes(entries: Sequence[str]) -> dict[str, Route]:
    """Read «domain=host:port» entries; ValueError naming the bad one."""
    routes: dict[str, Route] = {}
    for entry in entries:
        domain, equal, target = entry.partition("=")
        host, _, port = target.rpartition(":")
        if not equal or not domain.strip() or not host or not port.isdigit():
            raise ValueError(f"route SMTP invalide : {entry!r} (attendu domaine=hôte:port)")
        routes[domain.strip().lower()] = Route(host.strip(), int(port))
    return routes


def mx_routes(domain: str, *, static: Mapping[str, Route] | None = None) -> list[Route]:
    """The hosts to try for `domain`: a static route, else its MX records by preference.

    Without MX record the domain itself is tried (RFC 5321 §5.1); a domain that does not exist
    yields no route (a permanent failure for the caller).
    """
    if static and domain.lower() in static:
        return [static[domain.lower()]]
    try:
        answer = dns.resolver.resolve(domain, "MX")
    except dns.resolver.NXDOMAIN:
        return []
    except dns.resolver.NoAnswer:
        return [Route(domain)]
    except dns.exception.DNSException as error:
        raise OSError(f"DNS lookup for {domain} failed: {error}") from None
    records = sorted(answer, key=lambda record: record.preference)
    return [Route(str(record.exchange).rstrip(".")) for record in records]


def _transient(recipients: Sequence[str], reply: str) -> list[RecipientResult]:
    return [RecipientResult(recipient, 451, reply[:300]) for recipient in recipients]


def send_message(
    raw: bytes,
    *,
    sender: str,
    recipients: Sequence[str],
    routes: Sequence[Route],
    tls: ssl.SSLContext,
    helo: str,
    timeout: float = TIMEOUT_SECONDS,
    mail_options: Sequence[str] = (),
    rcpt_options: Mapping[str, Sequence[str]] | None = None,
) -> list[RecipientResult]:
    """Deliver `raw` to `recipients` through the first route that answers; one result each.

    `mail_options` (RET, ENVID) and `rcpt_options` (NOTIFY, ORCPT per recipient) are passed on
    when the peer announces DSN (RFC 3461 §6.2), which then reports success itself.

    Connection errors, TLS failures and missing STARTTLS move on to the next route, and become
    a transient (451) result when no route is left.
    """
    last = "4.4.1 no route to the recipient's operator"
    for route in routes:
        try:
            return _send_once(
                raw,
                sender,
                recipients,
                route,
                tls,
                helo,
                timeout,
                (tuple(mail_options), rcpt_options or {}),
            )
        except (OSError, smtplib.SMTPException, ssl.SSLError) as error:
            last = f"4.4.1 {route.host}:{route.port}: {error or type(error).__name__}"
    return _transient(recipients, last)


def _send_once(
    raw: bytes,
    sender: str,
    recipients: Sequence[str],
    route: Route,
    tls: ssl.SSLContext,
    helo: str,
    timeout: float,
    dsn: tuple[tuple[str, ...], Mapping[str, Sequence[str]]],
) -> list[RecipientResult]:
    with smtplib.SMTP(route.host, route.port, local_hostname=helo, timeout=timeout) as client:
        if client.sock is not None:  # no delayed-ACK stall after the TLS handshake
            client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.ehlo()
        if not client.has_extn("starttls"):
            raise smtplib.SMTPNotSupportedError("the peer does not offer STARTTLS")
        client.starttls(context=tls)
        client.ehlo()
        onward = client.has_extn("dsn")
        mail_options, rcpt_options = dsn if onward else ((), {})
        code, reply = client.mail(sender, list(mail_options))
        if code >= 400:
            text = f"{code} {reply.decode(errors='replace')}"
            return [RecipientResult(recipient, code, text[:300]) for recipient in recipients]
        results: dict[str, RecipientResult] = {}
        accepted: list[str] = []
        for recipient in recipients:
            options = list(rcpt_options.get(recipient, ()))
            code, reply = client.rcpt(recipient, options)
            results[recipient] = RecipientResult(
                recipient, code, f"{code} {reply.decode(errors='replace')}"[:300]
            )
            if 200 <= code < 300:
                accepted.append(recipient)
        if accepted:
            try:
                code, reply = client.data(raw)
            except smtplib.SMTPDataError as error:  # the peer refused DATA itself
                detail = error.smtp_error
                code = error.smtp_code
                reply = detail if isinstance(detail, bytes) else detail.encode()
            text = f"{code} {reply.decode(errors='replace')}"[:300]
            for recipient in accepted:
                passed = bool(rcpt_options.get(recipient))
                results[recipient] = RecipientResult(recipient, code, text, passed)
        return [results[recipient] for recipient in recipients]
