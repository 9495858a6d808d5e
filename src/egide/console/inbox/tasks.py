"""Background jobs of the inbox: the SMTP delivery queue, inbound summaries, the trust list."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from . import inbound, outbound, revocation, trustspace

log = logging.getLogger(__name__)


@db_task()  # type: ignore[untyped-decorator]
def deliver_queue() -> int:
    """Deliver what is due now (queued right after a send, so nobody waits a minute)."""
    return outbound.deliver_due()


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def deliver_due_every_minute() -> int:
    """Retry deferred deliveries whose backoff has passed."""
    return outbound.deliver_due()


@db_task()  # type: ignore[untyped-decorator]
def summarise_inbound() -> int:
    """Parse and summarise what the SMTP listener stored before its full parse (ADR 0015)."""
    return inbound.summarise_pending()


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def summarise_inbound_every_minute() -> int:
    """Catch anything the listener's requests missed (a worker restart, a failed run)."""
    return inbound.summarise_pending()


@db_periodic_task(crontab(minute="23", hour="*/6"))  # type: ignore[untyped-decorator]
def refresh_trust_list() -> bool:
    """Fetch the «liste blanche» and the CRLs four times a day; a failure keeps the last copy."""
    revocation.refresh_crls()
    return trustspace.refresh() is not None
