"""The outbound delivery queue: one row per remote recipient, retried with backoff for 4 days.

A row is created in the same transaction as the «Envoyés» copy, so a message is either sent and
queued or neither. The worker (`tasks.deliver_due`) picks due rows, groups them by message and
domain, decrypts the sent copy and hands it to `egide.messaging.relay`. Transient failures (4xx,
timeouts, TLS or DNS trouble) are deferred with exponential backoff; a permanent failure (5xx)
or an expiry after 4 days bounces: the row is marked, a DSN (RFC 3464) lands in the sender's
inbox, and the audit trail records every state change.
"""

from __future__ import annotations

import datetime
import logging
import ssl
from functools import cache
from itertools import groupby
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from egide.console.audit import services as audit
from egide.messaging import receipts, relay
from egide.messaging.dsn_request import DsnRequest, RecipientNotice, encode_xtext
from egide.messaging.smtp_server import client_tls_context
from egide.messaging.trust import domain_of

from .models import DeliveryState, Folder, Mailbox, Message, OutboundDelivery

log = logging.getLogger(__name__)

MAX_AGE = datetime.timedelta(days=4)
FIRST_RETRY = datetime.timedelta(minutes=5)
LONGEST_WAIT = datetime.timedelta(hours=4)
# Longer than one delivery attempt can take (connection and data timeouts are 60 s each).
CLAIM_LEASE = datetime.timedelta(minutes=10)


def queue(
    message: Message, recipients: list[str], dsn: DsnRequest | None = None
) -> list[OutboundDelivery]:
    """Queue `message` (a sent copy) for remote recipients; call inside the send transaction.

    `dsn` carries what the sender asked on submission (RFC 3461): which reports it wants per
    recipient, ORCPT, RET and ENVID; they are kept per row and passed on to DSN-capable peers.
    """
    now = timezone.now()
    dsn = dsn or DsnRequest()
    rows = []
    for recipient in recipients:
        notice = dsn.notice(recipient)
        rows.append(
            OutboundDelivery.objects.create(
                message=message,
                recipient=recipient.lower(),
                domain=domain_of(recipient),
                next_attempt_at=now,
                notify=notice.notify_parameter,
                original_recipient=notice.original_recipient,
                dsn_ret=dsn.ret,
                envelope_id=dsn.envelope_id,
            )
        )
    for row in rows:
        _audit(row, "delivery.queued")
    return rows


def _audit(row: OutboundDelivery, action: str) -> None:
    audit.record(
        action,
        practice_id=row.message.mailbox.practice_id,
        actor="smtp-queue",
        object_type="message",
        object_id=row.message_id,
        details={"recipient": row.recipient, "state": row.state, "attempts": row.attempts},
    )


def backoff(attempts: int) -> datetime.timedelta:
    """5 min, 10, 20, 40… capped at 4 h between attempts."""
    wait: datetime.timedelta = FIRST_RETRY * (2 ** max(attempts - 1, 0))
    return min(wait, LONGEST_WAIT)


@cache
def _static_routes(entries: tuple[str, ...]) -> dict[str, relay.Route]:
    return relay.parse_static_routes(entries)


def _tls() -> ssl.SSLContext:
    return client_tls_context(
        settings.EGIDE_SMTP_TRUST_ANCHORS_FILE or _system_anchors(),
        cert_file=settings.EGIDE_SMTP_CERT_FILE or None,
        key_file=settings.EGIDE_SMTP_KEY_FILE or None,
    )


def _system_anchors() -> str:
    # Without configured anchors, the system store (never in production: IGC-Santé only).
    path = ssl.get_default_verify_paths().cafile
    return str(path) if path and Path(path).exists() else "/etc/ssl/certs/ca-certificates.crt"


def deliver_due(now: datetime.datetime | None = None) -> int:
    """Try every due row once; return how many rows were tried."""
    now = now or timezone.now()
    candidates = list(
        OutboundDelivery.objects.filter(
            state__in=[DeliveryState.QUEUED, DeliveryState.DEFERRED], next_attempt_at__lte=now
        )
        .order_by("message_id", "domain")
        .values_list("pk", "next_attempt_at")[:500]
    )
    # Claim each row with a conditional update (a lease): the periodic task, the task queued
    # after a send and other worker processes may run at once, and a row must go out once.
    lease = now + CLAIM_LEASE
    claimed = [
        pk
        for pk, planned in candidates
        if OutboundDelivery.objects.filter(pk=pk, next_attempt_at=planned).update(
            next_attempt_at=lease
        )
    ]
    due = list(
        OutboundDelivery.objects.select_related("message__mailbox")
        .filter(pk__in=claimed)
        .order_by("message_id", "domain")
    )
    for _, group in groupby(due, key=lambda row: (row.message_id, row.domain)):
        _attempt(list(group), now)
    return len(due)


def _attempt(rows: list[OutboundDelivery], now: datetime.datetime) -> None:
    from .services import plain_of  # services imports this module to queue

    message = rows[0].message
    raw = plain_of(message)  # the sender's copy may be S/MIME for hosted recipients
    try:
        routes = relay.mx_routes(
            rows[0].domain, static=_static_routes(tuple(settings.EGIDE_SMTP_ROUTES))
        )
    except OSError as error:
        results = [relay.RecipientResult(row.recipient, 451, f"4.4.3 {error}") for row in rows]
    else:
        if not routes:
            results = [
                relay.RecipientResult(
                    row.recipient, 550, "5.1.2 domaine sans serveur de messagerie"
                )
                for row in rows
            ]
        else:
            results = relay.send_message(
                raw,
                sender="" if receipts.is_report(raw) else message.mailbox.address,
                recipients=[row.recipient for row in rows],
                routes=routes,
                tls=_tls(),
                helo=settings.EGIDE_SMTP_HOSTNAME,
                mail_options=_mail_options(rows[0]),
                rcpt_options={row.recipient: _rcpt_options(row) for row in rows},
            )
    reports: dict[str, list[tuple[OutboundDelivery, str, str]]] = {
        "failed": [],
        "delayed": [],
        "relayed": [],
    }
    delay_warning = datetime.timedelta(hours=settings.EGIDE_SMTP_DELAY_WARNING_HOURS)
    for row, result in zip(rows, results, strict=True):
        notice = RecipientNotice(frozenset(filter(None, row.notify.split(","))))
        row.attempts += 1
        row.last_reply = result.reply[:300]
        if result.accepted:
            row.state, row.accepted_at = DeliveryState.DELIVERED, now
            if notice.wants("SUCCESS") and not result.notified_onward:
                # The peer does not speak DSN: we can only say that we handed it over.
                reports["relayed"].append((row, "2.0.0", result.reply))
        elif result.permanent or now - row.created_at >= MAX_AGE:
            row.state = DeliveryState.BOUNCED
            status = "5.4.7" if not result.permanent else _status_of(result.reply, "5.0.0")
            if notice.wants("FAILURE"):
                reports["failed"].append((row, status, result.reply))
        else:
            row.state, row.next_attempt_at = DeliveryState.DEFERRED, now + backoff(row.attempts)
            waited = now - row.created_at >= delay_warning
            if waited and row.delay_notified_at is None and notice.wants("DELAY"):
                row.delay_notified_at = now
                reports["delayed"].append((row, _status_of(result.reply, "4.0.0"), result.reply))
        with transaction.atomic():
            row.save()
            _audit(row, f"delivery.{row.state}")
    if receipts.is_report(raw):  # never a report about a report
        return
    for action, entries in reports.items():
        if entries:
            _report_to_sender(message, raw, action, entries)


def _status_of(reply: str, default: str) -> str:
    words = reply.split()
    if len(words) > 1 and words[1].count(".") == 2 and words[1][0] in "245":
        return words[1]
    return default


def report_local_delivery(
    message: Message, raw: bytes, recipients: list[str], dsn: DsnRequest
) -> None:
    """A «delivered» DSN for the hosted recipients the sender asked one for (NOTIFY=SUCCESS)."""
    from .services import store

    wanted = [r for r in recipients if dsn.notice(r).wants("SUCCESS")]
    if not wanted or receipts.is_report(raw):
        return
    report = receipts.compose_dsn(
        raw,
        reporting_mta=settings.EGIDE_SMTP_HOSTNAME,
        postmaster=f"MAILER-DAEMON@{settings.EGIDE_SMTP_HOSTNAME}",
        to=message.mailbox.address,
        failures=[(r, "2.0.0", "250 2.0.0 delivered to the mailbox") for r in wanted],
        action="delivered",
        envelope_id=dsn.envelope_id,
        original_recipients={r: dsn.notice(r).original_recipient for r in wanted},
    )
    store(message.mailbox, report, actor="smtp-dsn")


def _mail_options(row: OutboundDelivery) -> list[str]:
    options = [f"RET={row.dsn_ret}"] if row.dsn_ret else []
    if row.envelope_id:
        options.append(f"ENVID={encode_xtext(row.envelope_id)}")
    return options


def _rcpt_options(row: OutboundDelivery) -> list[str]:
    options = [f"NOTIFY={row.notify}"] if row.notify else []
    if row.original_recipient:
        kind, _, address = row.original_recipient.partition(";")
        options.append(f"ORCPT={kind};{encode_xtext(address)}")
    return options


def _report_to_sender(
    message: Message, raw: bytes, action: str, entries: list[tuple[OutboundDelivery, str, str]]
) -> None:
    """A DSN (RFC 3464) in the sender's inbox: failed, delayed or relayed, as it asked."""
    from .services import store

    first = entries[0][0]
    dsn = receipts.compose_dsn(
        raw,
        reporting_mta=settings.EGIDE_SMTP_HOSTNAME,
        postmaster=f"MAILER-DAEMON@{settings.EGIDE_SMTP_HOSTNAME}",
        to=message.mailbox.address,
        failures=[(row.recipient, status, reply) for row, status, reply in entries],
        action=action,
        envelope_id=first.envelope_id,
        original_recipients={row.recipient: row.original_recipient for row, _, _ in entries},
        return_content=action == "failed" and first.dsn_ret == "FULL",
    )
    store(message.mailbox, dsn, actor="smtp-queue")


MDN_DISPLAYED = "manual-action/MDN-sent-manually; displayed"
MDN_PROCESSED = "automatic-action/MDN-sent-automatically; processed"


def send_mdn(message: Message, raw: bytes, *, disposition: str) -> bool:
    """Answer a requested read receipt (RFC 8098) for a received message; True if one was sent.

    MSSanté clients must be able to return an MDN when asked (ECO.3.1.6): «displayed» when a
    person opens the message, «processed» when the practice software integrated it.
    """
    from . import trustspace
    from .services import store

    to = receipts.notification_address(raw)
    if not to or message.folder not in ("inbox",) or not message.message_id:
        return False
    mdn = receipts.compose_mdn(
        sender=message.mailbox.address,
        to=to,
        final_recipient=message.mailbox.address,
        original_message_id=message.message_id,
        disposition=disposition,
    )
    hosted = Mailbox.objects.filter(address=to.lower()).first()
    with transaction.atomic():
        if hosted is not None:
            store(hosted, mdn, actor="mdn")
        else:
            space = trustspace.current()
            if space is None or not space.allows(to):
                return False
            queue(store(message.mailbox, mdn, folder=Folder.SENT, actor="mdn"), [to])
        audit.record(
            "message.mdn_sent",
            practice_id=message.mailbox.practice_id,
            actor="mdn",
            object_type="message",
            object_id=message.pk,
            details={"disposition": disposition.rpartition(";")[2].strip()},
        )
    return True


def apply_report(report: receipts.Report) -> int:
    """Move the timeline of the delivery a received DSN/MDN speaks about; rows changed."""
    rows = OutboundDelivery.objects.filter(
        message__message_id=report.original_message_id.strip(), recipient=report.recipient
    )
    now = timezone.now()
    changes: dict[str, object] = {}
    if report.kind == "dsn" and report.status == "delivered":
        changes = {"delivered_at": now}
    elif report.kind == "dsn" and report.status == "failed":
        changes = {"state": DeliveryState.BOUNCED, "report": report.detail[:300]}
    elif report.kind == "mdn" and report.status == "displayed":
        changes = {"read_at": now}
    elif report.kind == "mdn" and report.status == "processed":
        changes = {"integrated_at": now}
    elif report.kind == "mdn" and report.status == "error":
        changes = {"report": f"Erreur d'intégration : {report.detail}"[:300]}
    if not changes:
        return 0
    count = 0
    for row in rows.select_related("message__mailbox"):
        for name, value in changes.items():
            setattr(row, name, value)
        row.save()
        _audit(row, f"delivery.report_{report.kind}_{report.status}")
        count += 1
    return count
