"""Which snapshots `forget` keeps: the usual last / hourly / daily / weekly / monthly / yearly rule.

Snapshots are grouped by host and paths; within a group, newest first, a snapshot is kept when it
is among the `last` newest, or is the newest of a period (hour, day, ISO week, month, year) that
is among the `n` most recent periods having a snapshot.

Each snapshot the ransomware alarm flagged, and the last snapshot before it, are pinned: kept
whatever the policy says, so that the days after an attack never push the last good copy out.
Unpinning is deliberate: the operator forgets the suspect snapshot by its id once the alert is
resolved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .snapshot import Snapshot


@dataclass(frozen=True)
class RetentionPolicy:
    """How many of each kind to keep; all zero keeps everything."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0

    def empty(self) -> bool:
        """Whether no rule is set (then nothing is forgotten)."""
        return not any((self.last, self.hourly, self.daily, self.weekly, self.monthly, self.yearly))


_PERIODS: list[tuple[str, Callable[[datetime], tuple[int, ...]]]] = [
    ("hourly", lambda t: (t.year, t.month, t.day, t.hour)),
    ("daily", lambda t: (t.year, t.month, t.day)),
    ("weekly", lambda t: tuple(t.isocalendar()[:2])),
    ("monthly", lambda t: (t.year, t.month)),
    ("yearly", lambda t: (t.year,)),
]


def apply_policy(
    snapshots: list[Snapshot], policy: RetentionPolicy
) -> tuple[list[Snapshot], list[Snapshot]]:
    """(kept, forgotten)."""
    if policy.empty():
        return list(snapshots), []
    groups: dict[tuple[str, tuple[str, ...]], list[Snapshot]] = {}
    for snapshot in snapshots:
        groups.setdefault((snapshot.host, tuple(sorted(snapshot.paths))), []).append(snapshot)
    keep_ids: set[str] = set()
    for members in groups.values():
        newest_first = sorted(members, key=lambda s: s.time, reverse=True)
        keep_ids.update(s.snapshot_id for s in newest_first[: policy.last])
        for name, period in _PERIODS:
            budget = getattr(policy, name)
            seen: set[tuple[int, ...]] = set()
            for snapshot in newest_first:
                if len(seen) >= budget:
                    break
                bucket = period(snapshot.moment)
                if bucket not in seen:
                    seen.add(bucket)
                    keep_ids.add(snapshot.snapshot_id)
        keep_ids.update(s.snapshot_id for s in pinned(members))
    kept = [s for s in snapshots if s.snapshot_id in keep_ids]
    return kept, [s for s in snapshots if s.snapshot_id not in keep_ids]


def pinned(snapshots: list[Snapshot]) -> list[Snapshot]:
    """The snapshots no policy may forget: each suspect snapshot (the evidence, and the anchor of
    the pin) and the newest non-suspect snapshot of the same host and paths taken before it (the
    last copy known to be good)."""
    last_good: dict[tuple[str, tuple[str, ...]], Snapshot] = {}
    pins: dict[str, Snapshot] = {}
    for snapshot in sorted(snapshots, key=lambda s: (s.time, s.snapshot_id)):
        group = (snapshot.host, tuple(sorted(snapshot.paths)))
        if not snapshot.suspect:
            last_good[group] = snapshot
        else:
            pins[snapshot.snapshot_id] = snapshot
            if group in last_good:
                pins[last_good[group].snapshot_id] = last_good[group]
    return list(pins.values())
