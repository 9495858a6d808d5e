"""The gateway's keep-alive: extend the Object Lock of the objects the latest snapshot needs.

An object is extended when its lock ends within half the lock period: a daily backup then
touches S3 for a small share of its objects, and every object still used keeps at least half a
period of protection. Retention is only ever lengthened (`ObjectLockStorage.extend` refuses the
rest), so an agent that names objects it does not need only prolongs their protection.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from egide.backup.errors import ObjectMissing
from egide.backup.objectlock import ObjectLockStorage
from egide.console.accounts.models import Practice

from .models import GatewayLock

MAX_NAMES = 500_000


def remember(practice: Practice, name: str, until: datetime) -> None:
    GatewayLock.objects.update_or_create(
        practice=practice, name=name, defaults={"locked_until": until}
    )


def keep(practice: Practice, storage: ObjectLockStorage, names: list[str]) -> tuple[int, list[str]]:
    """Extend the locks ending soon; (how many were extended, names that do not exist)."""
    now = timezone.now()
    horizon = now + storage.period / 2
    known = dict(
        GatewayLock.objects.filter(practice=practice, name__in=names).values_list(
            "name", "locked_until"
        )
    )
    extended, missing = 0, []
    for name in names:
        until = known.get(name)
        if until is not None and until > horizon:
            continue
        if until is None:
            # Written before the gateway kept records: read the lock once.
            try:
                current = storage.retention(name).until
            except ObjectMissing:
                missing.append(name)
                continue
            if current is not None and current > horizon:
                remember(practice, name, current)
                continue
        try:
            storage.extend(name, now + storage.period)
        except ObjectMissing:
            missing.append(name)
            continue
        remember(practice, name, now + storage.period)
        extended += 1
    return extended, missing
