"""Nightly refresh of the team's training and charter evidence (a new member, a new charter
text or an expiring completion changes it); the yearly reminders come from the findings."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from egide.console.accounts.models import Practice

from .staff_evidence import refresh_staff_evidence

log = logging.getLogger(__name__)


@db_periodic_task(crontab(hour="5", minute="50"))  # type: ignore[untyped-decorator]
def refresh_awareness_nightly() -> int:
    """Before the 06:05 reminders, so they see today's evidence."""
    total = 0
    for practice in Practice.objects.all().iterator():
        total += len(refresh_staff_evidence(practice))
    log.info("awareness evidence recorded: %d", total)
    return total
