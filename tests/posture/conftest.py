"""Shared helpers: recorded outputs, a probe over them, and running one check by name."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from egide.posture.catalogue import checks_for
from egide.posture.check import run_check
from egide.posture.probe import Probe
from egide.posture.result import CheckResult
from egide.posture.runner import CommandRunner, RecordedRunner, Recording

DATA = Path(__file__).resolve().parent.parent / "data" / "posture"
NOW = datetime(2024, 11, 14, 12, 0, tzinfo=UTC)


def recorded(name: str) -> str:
    """The text of a recorded output under tests/data/posture/."""
    return (DATA / name).read_text(encoding="utf-8")


def answer(name: str, returncode: int = 0) -> Recording:
    """A recording whose standard output is a fixture file."""
    return Recording(stdout=recorded(name), returncode=returncode)


def probe_with(
    recordings: Mapping[tuple[str, ...], Recording] | CommandRunner,
    root: Path,
    user: str = "drmartin",
    now: datetime = NOW,
    home: Path | None = None,
    clamav_database: Path | None = None,
) -> Probe:
    runner = recordings if not isinstance(recordings, Mapping) else RecordedRunner(recordings)
    return Probe(
        runner=runner,
        now=now,
        user=user,
        root=root,
        home=home,
        clamav_database=clamav_database,
        timeout=5,
    )


def result_of(system: str, name: str, probe: Probe) -> CheckResult:
    """Run one check by name, through the same safety net as the agent."""
    check = next(c for c in checks_for(system) if c.name == name)
    return run_check(check, probe)
