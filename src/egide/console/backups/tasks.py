"""Periodic jobs of the backup service."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from .services import check_silent_agents


@db_periodic_task(crontab(minute="*/15"))  # type: ignore[untyped-decorator]
def dead_man_switch() -> int:
    """Every 15 minutes: alarm on practices whose agents stopped reporting good backups."""
    return check_silent_agents()
