"""Periodic compliance jobs run by the background worker."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from egide.console.accounts.models import Practice

from .awareness_tasks import refresh_awareness_nightly  # noqa: F401  (registers the task)
from .register import check_hds
from .reminders import raise_reminders, snapshot_if_due

log = logging.getLogger(__name__)


@db_periodic_task(crontab(hour="6", minute="5"))  # type: ignore[untyped-decorator]
def remind_nightly() -> int:
    """Each morning: HDS check, reminders for what falls due within two weeks, score snapshot."""
    total = 0
    for practice in Practice.objects.all().iterator():
        check_hds(practice)  # certificates expire with time, not only when edited
        total += len(raise_reminders(practice))
        snapshot_if_due(practice)
    log.info("compliance reminders raised: %d", total)
    return total
