"""Tampering watch: did objects vanish from the repository since the agent's last run?

An immutable repository only grows until the operator prunes objects whose retention expired.
After each run the agent records every snapshot and pack it saw, with when it first saw it; on the
next run, an object missing although it is younger than the retention period means someone
deleted it — an attacker with stolen storage credentials, or a provider's bug — and the run
reports it as suspect.

Retention only ever grows: the agent also records, for each snapshot, the end of its Object Lock
retention as the gateway reports it; an end earlier than the one recorded at the previous run, or
a lock that disappeared, means the retention was shortened behind the gateway's back (a
provider's console, stolen operator credentials), and is reported the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .storage import Storage

WATCHED = ("snapshots/", "index/", "data/", "keys/")


@dataclass(frozen=True)
class Sighting:
    """Objects seen in the repository: name → ISO time of the first sighting."""

    first_seen: dict[str, str]


def look(storage: Storage, previous: Sighting | None, now: datetime) -> Sighting:
    """What is there now, keeping earlier first-sighting times."""
    before = previous.first_seen if previous else {}
    seen = {}
    for prefix in WATCHED:
        for info in storage.list(prefix):
            seen[info.name] = before.get(info.name, now.isoformat())
    return Sighting(seen)


def vanished(
    previous: Sighting | None, current: Sighting, retention: timedelta, now: datetime
) -> list[str]:
    """Objects seen before, gone now, although their retention had not yet run out."""
    if previous is None:
        return []
    gone = []
    for name, first in previous.first_seen.items():
        if name not in current.first_seen and datetime.fromisoformat(first) + retention > now:
            gone.append(name)
    return sorted(gone)


def reasons_for(gone: list[str]) -> list[str]:
    """French reasons for the report, counting by kind (object names reveal nothing)."""
    if not gone:
        return []
    kinds = {prefix: sum(name.startswith(prefix) for name in gone) for prefix in WATCHED}
    detail = ", ".join(f"{count} {prefix.rstrip('/')}" for prefix, count in kinds.items() if count)
    return [
        f"dépôt altéré : {len(gone)} objet(s) supprimé(s) avant la fin de leur rétention ({detail})"
    ]


def shortened(previous: dict[str, str | None], current: dict[str, str | None]) -> list[str]:
    """Objects whose retention end moved earlier (or vanished) since the last run."""
    found = []
    for name, before in previous.items():
        if before is None or name not in current:
            continue  # never locked, or gone (which `vanished` reports)
        after = current[name]
        if after is None or datetime.fromisoformat(after) < datetime.fromisoformat(before):
            found.append(name)
    return sorted(found)


def shortened_reasons(names: list[str]) -> list[str]:
    """French reason for the report."""
    if not names:
        return []
    return [f"dépôt altéré : rétention raccourcie ou retirée sur {len(names)} instantané(s)"]
