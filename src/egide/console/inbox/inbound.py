"""What the SMTP listeners do with a message: the `MailSink`s of `egide.messaging.smtp_server`.

Plain functions over the database, tested without sockets. `RelaySink` serves other operators
(port 25/2525): the sender's domain must be in the trust space, recipients must be hosted here,
and `250` is returned only after the group commit of `ingest` made it durable (sealed in an
fsynced segment, row and audit entry committed). A message that is accepted but cannot be read
goes to «À traiter» and its sender gets a DSN, once the worker parsed it. `SubmissionSink`
serves practice software and mail clients (port 587): an application token (PLAIN) or an OIDC
access token (XOAUTH2), and a From mailbox the user owns or was delegated.
"""

from __future__ import annotations

import email.policy
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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
from egide.crypto.errors import CryptoError
from egide.messaging import receipts
from egide.messaging.smtp_server import InboundMessage, Peer
from egide.messaging.trust import domain_of

from . import ingest, ingest_process, outbound, services, trustspace
from .access import may_send
from .models import Folder, Mailbox, Message

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


MAILBOX_CACHE_SECONDS = 1.0
# A cached answer older than this is checked again in the background while it is still used:
# a steady stream of mail then never finds it expired (every connection of the listener would
# otherwise make its MAIL and RCPT round trips to the pool and the database at the same
# moment, once a second — a tail of the latency, ADR 0031). A change still applies within
# `MAILBOX_CACHE_SECONDS`: an answer is never used older than that.
REFRESH_AFTER_SECONDS = MAILBOX_CACHE_SECONDS / 2


class RelaySink:
    """Mail from the other operators of the trust space.

    `deliver` stores through the group commit (`ingest.accept`): `250` once the message is
    sealed in a segment, its row and audit entry committed. Its full parse (summary, «À
    traiter» and DSN if unreadable, delivery reports) follows: at once by default, in the
    background worker when `background=True` (the listener: nothing but the durable storage
    before `250`, ADR 0015).
    """

    channel = "smtp"

    def __init__(
        self, *, background: bool = False, ingest_child: ingest_process.Child | None = None
    ) -> None:
        self.background = background
        # `egide smtp serve`: the durable storage runs in a child process (ADR 0038).
        self.ingest_child = ingest_child
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Mailbox]] = {}
        self._senders: dict[tuple[str, str], float] = {}  # (address, certificate) → accepted
        self._refreshing: set[tuple[str, ...]] = set()  # cache keys being checked again
        self._refresher: ThreadPoolExecutor | None = None

    def check_sender(self, peer: Peer, address: str) -> str | None:
        if address.strip() in ("", "<>"):  # null reverse-path: a DSN or MDN from the peer
            return None
        space = trustspace.current()
        if space is None or not space.allows(address):
            return "550 5.7.1 Sender domain is not in the MSSante trust space"
        if not space.operator_allowed(domain_of(address), peer.certificate_name):
            return "550 5.7.1 Your certificate is not the operator listed for this sender domain"
        with self._lock:
            if len(self._senders) >= 10_000:  # one entry per sender ever seen: keep it bounded
                self._senders.clear()
            self._senders[(address.strip().lower(), peer.certificate_name)] = time.monotonic()
        return None

    def known_sender(self, peer: Peer, address: str) -> bool:
        """This sender, from this operator's certificate, was accepted less than
        `MAILBOX_CACHE_SECONDS` ago (no I/O: MAIL answered without a hop to the pool).

        Past `REFRESH_AFTER_SECONDS` the sender is checked again in the background."""
        key = (address.strip().lower(), peer.certificate_name)
        now = time.monotonic()
        with self._lock:
            accepted = self._senders.get(key)
        if accepted is None or now - accepted > MAILBOX_CACHE_SECONDS:
            return False
        if now - accepted > REFRESH_AFTER_SECONDS:
            self._refresh_soon(("sender", *key), lambda: self._recheck_sender(peer, address))
        return True

    def _recheck_sender(self, peer: Peer, address: str) -> None:
        """`check_sender` again: accepted, its time is renewed; refused, it is forgotten."""
        if self.check_sender(peer, address):
            with self._lock:
                self._senders.pop((address.strip().lower(), peer.certificate_name), None)

    def check_recipient(self, peer: Peer, address: str) -> str | None:
        if not self._mailboxes([address]):
            return "550 5.1.1 No such mailbox here"
        return None

    def known_recipient(self, peer: Peer, address: str) -> bool:
        """A hosted mailbox looked up less than `MAILBOX_CACHE_SECONDS` ago (no I/O: the
        listener answers RCPT without a hop to its thread pool).

        Past `REFRESH_AFTER_SECONDS` the mailbox is looked up again in the background."""
        address = address.strip().lower()
        now = time.monotonic()
        with self._lock:
            entry = self._cache.get(address)
        if entry is None or now - entry[0] > MAILBOX_CACHE_SECONDS:
            return False
        if now - entry[0] > REFRESH_AFTER_SECONDS:
            self._refresh_soon(("mailbox", address), lambda: self._recheck_mailbox(address))
        return True

    def _recheck_mailbox(self, address: str) -> None:
        """Look a cached mailbox up again: found, it is renewed; gone, it is forgotten."""
        now = time.monotonic()
        box = Mailbox.objects.filter(address=address).first()
        with self._lock:
            if box is None:
                self._cache.pop(address, None)
            else:
                self._cache[address] = (now, box)

    def _refresh_soon(self, key: tuple[str, ...], refresh: Callable[[], None]) -> None:
        """Run `refresh` in the sink's refresh thread unless one for `key` is pending; never
        blocks (called on the event loop). A failed refresh leaves the entry to expire."""
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)
            if self._refresher is None:
                self._refresher = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="smtp-cache-refresh"
                )
            refresher = self._refresher

        def run() -> None:
            try:
                refresh()
            except Exception:
                log.exception("SMTP sender or mailbox cache not refreshed")
            finally:
                with self._lock:
                    self._refreshing.discard(key)
                connection.close()  # this thread may sit idle for long: hold no connection

        refresher.submit(run)

    def _mailboxes(self, addresses: Sequence[str]) -> list[Mailbox]:
        """The hosted mailboxes among `addresses`, each looked up at most once a second.

        RCPT and DATA of one message, and the messages of a burst, ask for the same
        mailboxes: their rows (address, practice, wrapped key) are kept a moment. A mailbox
        removed meanwhile fails the insert of its row: `451`, and the peer's retry gets `550`.
        """
        wanted = list(dict.fromkeys(a.strip().lower() for a in addresses))
        now = time.monotonic()
        found = {a: box for a in wanted if (box := self._cached(a, now)) is not None}
        missing = [a for a in wanted if a not in found]
        if missing:
            _db_ready()
            for box in Mailbox.objects.filter(address__in=missing):
                with self._lock:
                    self._cache[box.address] = (now, box)
                found[box.address] = box
        return [found[a] for a in wanted if a in found]

    def _cached(self, address: str, now: float) -> Mailbox | None:
        with self._lock:
            entry = self._cache.get(address)
        if entry is None or now - entry[0] > MAILBOX_CACHE_SECONDS:
            return None
        return entry[1]

    def deliver(self, message: InboundMessage) -> str:
        boxes = self._mailboxes(message.recipients)
        actor = f"smtp:{message.peer.ip}"
        if self.ingest_child is not None:
            stored = self.ingest_child.store(
                [box.pk for box in boxes],
                message.content,
                envelope_from=message.mail_from,
                actor=actor,
            )
        else:
            _db_ready()
            stored = [
                row.pk
                for row in ingest.accept(
                    boxes, message.content, envelope_from=message.mail_from, actor=actor
                )
            ]
        # Stored: from here on a failure must not turn into a 4xx (the peer would send it
        # again and it would be stored twice); what is left is the worker's, it retries.
        try:
            if self.background:
                schedule_summaries()
            else:
                for pk in stored:
                    summarise(pk)
        except Exception:
            log.exception("stored message(s) left for the worker to summarise")
        return f"250 2.0.0 OK stored for {len(stored)} mailbox(es)"

    def authenticate(self, peer: Peer, login: str, password: str) -> Any:
        return None

    def authenticate_bearer(self, peer: Peer, login: str, token: str) -> Any:
        return None

    def refused(self, peer: Peer, stage: str, reply: str) -> None:
        _audit_refusal(peer, stage, reply, self.channel)


# At most one summarising task queued per interval; each task drains all there is, and the
# worker's periodic task catches anything left (ADR 0015).
SCHEDULE_INTERVAL = 1.0
_scheduled = {"at": -SCHEDULE_INTERVAL}
_schedule_lock = threading.Lock()


# Queuing writes the task queue's database (a commit, an fsync): done in a thread of its own
# so that the message that happens to queue it does not wait for that before its `250`.
_enqueuer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="summaries-queue")


def schedule_summaries() -> None:
    """Ask the background worker to summarise what the listener stored (rate-limited)."""
    now = time.monotonic()
    with _schedule_lock:
        if now - _scheduled["at"] < SCHEDULE_INTERVAL:
            return
        _scheduled["at"] = now
    _enqueuer.submit(_enqueue_summaries)


def _enqueue_summaries() -> None:
    from .tasks import summarise_inbound

    try:
        summarise_inbound()
    except Exception:
        log.exception("summaries not queued; the worker's periodic task will do them")


def summarise_pending(limit: int = 100) -> int:
    """Summarise every message kept before its full parse; how many were done.

    One that fails unexpectedly stays as it is (listed with its subject, readable) and is
    tried again by the next run; the others go on.
    """
    done = 0
    failed: set[int] = set()
    while True:
        pending = list(
            Message.objects.filter(summarised=False)
            .exclude(pk__in=failed)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        if not pending:
            return done
        for pk in pending:
            try:
                done += summarise(pk)
            except Exception:
                log.exception("summarising stored message %s failed; it stays as stored", pk)
                failed.add(pk)


def summarise(pk: int) -> bool:
    """Complete one stored message (False if another worker did it already)."""
    with transaction.atomic():
        message = (
            Message.objects.select_for_update()
            .select_related("mailbox")
            .filter(pk=pk, summarised=False)
            .first()
        )
        if message is None:
            return False
        try:
            raw = services.raw_of(message)
        except (OSError, ValueError, CryptoError) as error:
            # Never silent: the row stays, «À traiter», with what happened.
            log.error("stored bytes of message %s unreadable: %s", message.pk, error)
            message.folder, message.summarised = Folder.QUARANTINE, True
            message.problem = (
                "Contenu stocké illisible (fichier de stockage endommagé ou incomplet) : "
                "demandez à l'expéditeur de renvoyer le message."
            )
            message.save(update_fields=["folder", "summarised", "problem"])
            return True
        services.summarise(message)
        if message.problem and message.envelope_from.strip() not in ("", "<>"):
            _notify_unreadable(message, raw)
    for report in _reports(raw):
        outbound.apply_report(report)
    return True


def _reports(content: bytes) -> list[receipts.Report]:
    try:
        return receipts.read_report(content)
    except Exception:  # a report we cannot read changes no timeline; the message is kept anyway
        log.warning("unreadable delivery report ignored", exc_info=True)
        return []


def _notify_unreadable(message: Message, raw: bytes) -> None:
    """Tell the sender that its accepted message could not be processed (kept «à traiter»)."""
    dsn = receipts.compose_dsn(
        raw,
        reporting_mta=settings.EGIDE_SMTP_HOSTNAME,
        postmaster=f"MAILER-DAEMON@{settings.EGIDE_SMTP_HOSTNAME}",
        to=message.envelope_from,
        failures=[
            (
                message.mailbox.address,
                "5.6.0",
                f"message reçu mais illisible, conservé « à traiter » : {message.problem}",
            )
        ],
    )
    sent = services.store(message.mailbox, dsn, folder=Folder.SENT, actor="smtp-dsn")
    outbound.queue(sent, [message.envelope_from])


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
