"""Periodic audit jobs run by the background worker."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from .services import OPERATOR_CHAIN, record, verify_all

log = logging.getLogger(__name__)


@db_periodic_task(crontab(hour="3", minute="17"))  # type: ignore[untyped-decorator]
def verify_chains_nightly() -> int:
    """Recompute every chain each night; a broken chain is logged and recorded for the operator."""
    broken = 0
    for key, problem in verify_all():
        if problem is None:
            continue
        broken += 1
        log.error("audit chain %s is broken: %s", key, problem.message)
        if key != OPERATOR_CHAIN:
            record(
                "audit.chain_broken",
                practice_id=None,
                actor="worker",
                object_type="chain",
                object_id=key,
                details={"kind": problem.kind, "seq": problem.seq},
            )
    return broken
