"""What the SMTP listeners do with a message: the `MailSink`s of `egide.messaging.smtp_server`.

Plain functions over the database, tested without sockets. `RelaySink` serves other operators
(port 25/2525): the sender's domain must be in the trust space, recipients must be hosted here,
and `250` is returned only after `services.store` committed (blob fsynced, encrypted). A message
that is accepted but cannot be read goes to «À traiter» and its sender gets a DSN. `SubmissionSink`
serves practice software and mail clients (port 587): an application token (PLAIN) or an OIDC
access token (XOAUTH2), and a From mailbox the user owns or was delegated.
"""

from __future__ import annotations

import email.policy
import logging
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from egide.console.accounts import oidc, tokens
from egide.console.accounts import services as accounts
from egide.console.accounts.models import User
from egide.console.audit import services as audit
from egide.messaging import receipts
from egide.messaging.smtp_server import InboundMessage, Peer
from egide.messaging.trust import domain_of

from . import outbound, services, trustspace
from .access import may_send
from .models import Folder, Mailbox

log = logging.getLogger(__name__)
# Brute force: after 5 failed logins from one address, every login from it is refused for 15 min.
MAX_AUTH_FAILURES = 5
AUTH_FAILURE_WINDOW = 15 * 60


def _db_ready() -> None:
    """Keep this pool thread's database connection unless it broke (server restart…).

    Django's `close_old_connections` would close it at every call with CONN_MAX_AGE=0 (the
    SQLite default), and reconnecting costs more than the rest of a RCPT check.
    """
    if connection.connection is not None and not connection.is_usable():
        connection.close()


def _audit_refusal(peer: Peer, stage: str, reply: str, channel: str) -> None:
    _db_ready()
    log.warning("%s refused %s from %s: %s", channel, stage, peer.ip, reply)
    audit.record(
        f"{channel}.refused",
        practice_id=None,
        actor=f"{channel}:{peer.ip}",
        object_type="smtp",
        object_id=stage,
        ip=peer.ip,
        details={"reply": reply[:200], "tls": peer.tls_version, "peer": peer.certificate_subject},
    )


class RelaySink:
    """Mail from the other operators of the trust space."""

    channel = "smtp"

    def check_sender(self, peer: Peer, address: str) -> str | None:
        if address.strip() in ("", "<>"):  # null reverse-path: a DSN or MDN from the peer
            return None
        space = trustspace.current()
        if space is None or not space.allows(address):
            return "550 5.7.1 Sender domain is not in the MSSante trust space"
        if not space.operator_allowed(domain_of(address), peer.certificate_name):
            return "550 5.7.1 Your certificate is not the operator listed for this sender domain"
        return None

    def check_recipient(self, peer: Peer, address: str) -> str | None:
        _db_ready()
        if not Mailbox.objects.filter(address=address.strip().lower()).exists():
            return "550 5.1.1 No such mailbox here"
        return None

    def deliver(self, message: InboundMessage) -> str:
        _db_ready()
        boxes = list(Mailbox.objects.filter(address__in=[r.lower() for r in message.recipients]))
        with transaction.atomic():
            stored = [
                services.store(box, message.content, actor=f"smtp:{message.peer.ip}")
                for box in boxes
            ]
        quarantined = [m for m in stored if m.folder == Folder.QUARANTINE]
        if quarantined and message.mail_from.strip() not in ("", "<>"):
            _notify_unreadable(message, quarantined[0].problem)
        for report in _reports(message.content):
            outbound.apply_report(report)
        return f"250 2.0.0 OK stored for {len(stored)} mailbox(es)"

    def authenticate(self, peer: Peer, login: str, password: str) -> Any:
        return None

    def authenticate_bearer(self, peer: Peer, login: str, token: str) -> Any:
        return None

    def refused(self, peer: Peer, stage: str, reply: str) -> None:
        _audit_refusal(peer, stage, reply, self.channel)


def _reports(content: bytes) -> list[receipts.Report]:
    try:
        return receipts.read_report(content)
    except Exception:  # a report we cannot read changes no timeline; the message is kept anyway
        log.warning("unreadable delivery report ignored", exc_info=True)
        return []


def _notify_unreadable(message: InboundMessage, problem: str) -> None:
    """Tell the sender that its accepted message could not be processed (kept «à traiter»)."""
    dsn = receipts.compose_dsn(
        message.content,
        reporting_mta=settings.EGIDE_SMTP_HOSTNAME,
        postmaster=f"MAILER-DAEMON@{settings.EGIDE_SMTP_HOSTNAME}",
        to=message.mail_from,
        failures=[
            (r, "5.6.0", f"message reçu mais illisible, conservé « à traiter » : {problem}")
            for r in message.recipients
        ],
    )
    sender_box = Mailbox.objects.filter(address=message.recipients[0].lower()).first()
    if sender_box is None:
        return
    with transaction.atomic():
        sent = services.store(sender_box, dsn, folder=Folder.SENT, actor="smtp-dsn")
        outbound.queue(sent, [message.mail_from])


class SubmissionSink:
    """Mail submitted by the practice's software or mail client, on behalf of a mailbox."""

    channel = "submission"
    # Named in the accounts' audit entries when a token is refused.
    audit_channel = "smtp-submission"

    def _locked_out(self, peer: Peer) -> bool:
        if cache.get(f"smtp-auth-failures:{peer.ip}", 0) >= MAX_AUTH_FAILURES:
            _audit_refusal(peer, "auth", "535 5.7.8 too many failures, wait", self.channel)
            return True
        return False

    def _count_failure(self, peer: Peer) -> None:
        failures_key = f"smtp-auth-failures:{peer.ip}"
        cache.add(failures_key, 0, AUTH_FAILURE_WINDOW)
        cache.incr(failures_key)

    def authenticate(self, peer: Peer, login: str, password: str) -> User | None:
        _db_ready()
        if self._locked_out(peer):
            return None
        parts = tokens.split_token(password.strip(), accounts.API_TOKEN_PREFIX)
        user = None
        if parts is not None:
            user = accounts.user_for_secret(*parts, ip=peer.ip, channel=self.audit_channel)
        else:
            _audit_refusal(peer, "auth", "535 5.7.8 malformed token", self.channel)
        if user is None:
            self._count_failure(peer)
        return user

    def authenticate_bearer(self, peer: Peer, login: str, token: str) -> User | None:
        """XOAUTH2: an OIDC access token (Pro Santé Connect); same lock-out as passwords."""
        _db_ready()
        if self._locked_out(peer):
            return None
        user = oidc.user_for_access_token(
            token.strip(), login=login, ip=peer.ip, channel=self.audit_channel
        )
        if user is None:
            _audit_refusal(peer, "auth", "535 5.7.8 access token refused", self.channel)
            self._count_failure(peer)
        return user

    def _mailbox(self, peer: Peer, address: str) -> Mailbox | None:
        user = peer.user
        box = Mailbox.objects.filter(address=address.strip().lower()).first()
        if box is None or not isinstance(user, User) or not may_send(user, box):
            return None
        return box

    def check_sender(self, peer: Peer, address: str) -> str | None:
        _db_ready()
        if self._mailbox(peer, address) is None:
            return "550 5.7.1 You may not send from this mailbox"
        return None

    def check_recipient(self, peer: Peer, address: str) -> str | None:
        _db_ready()
        try:
            services.check_recipients([address])
        except services.InboxError:
            return "550 5.7.1 Recipient outside the MSSante trust space"
        return None

    def deliver(self, message: InboundMessage) -> str:
        _db_ready()
        box = self._mailbox(message.peer, message.mail_from)
        headers = BytesParser(policy=email.policy.default).parsebytes(
            message.content, headersonly=True
        )
        senders = [a.lower() for _, a in getaddresses(headers.get_all("From", []))]
        if box is None or senders != [box.address]:
            return "550 5.7.1 The From header must be the mailbox you send from"
        try:
            sent = services.dispatch(
                message.peer.user,
                box,
                message.content,
                list(message.recipients),
                ip=message.peer.ip,
                dsn=message.dsn,
            )
        except services.InboxError as error:
            return f"550 5.7.1 {str(error)[:200]}"
        return f"250 2.0.0 OK queued as {sent.pk}"

    def refused(self, peer: Peer, stage: str, reply: str) -> None:
        _audit_refusal(peer, stage, reply, self.channel)
