"""What a check may look at: a command runner, the clock, the files, and the thresholds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from .errors import CommandDenied
from .runner import CommandRunner, CompletedCommand


@dataclass(frozen=True)
class Policy:
    """Thresholds taken from the référentiel, the CNIL password recommendation and PGSSI-S.

    - screen lock after at most 10 minutes of inactivity (RCM-POS-1);
    - antivirus signatures updated at least daily (PGSSI-S 4.5.3.3): two days leave room for a
      computer switched off over a weekend day; XProtect is published by Apple every few weeks;
    - passwords: CNIL deliberation 2022-100 — 12 characters, or 8 with a lockout after failed
      attempts (its third example);
    - lockout after at most 10 failed attempts.
    """

    max_lock_seconds: int = 600
    max_signature_age: timedelta = timedelta(days=2)
    max_xprotect_age: timedelta = timedelta(days=45)
    max_update_list_age: timedelta = timedelta(days=7)
    min_password_length: int = 12
    min_password_length_with_lockout: int = 8
    max_lockout_threshold: int = 10


@dataclass(frozen=True)
class Probe:
    """Everything a check needs to observe the computer, injected so tests can replace it.

    `root` prefixes every file the checks read (tests point it at a temporary tree); `home` is
    the daily user's home directory (desktop settings); `clamav_database` overrides the ClamAV
    database directory found in freshclam.conf.
    """

    runner: CommandRunner
    now: datetime
    user: str
    root: Path = Path("/")
    home: Path | None = None
    clamav_database: Path | None = None
    policy: Policy = field(default_factory=Policy)
    timeout: float = 10.0

    def run(self, *argv: str, timeout: float | None = None) -> CompletedCommand:
        """Run a command through the runner, with the default time limit unless told."""
        return self.runner.run(tuple(argv), self.timeout if timeout is None else timeout)

    def path(self, absolute: str) -> Path:
        """The path of a system file under `root`."""
        return self.root / absolute.lstrip("/")

    def read(self, absolute: str) -> str | None:
        """A system file's text, or None when it does not exist or cannot be read."""
        try:
            return self.path(absolute).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None


def refuse_if_denied(result: CompletedCommand, *markers: str) -> None:
    """Raise `CommandDenied` when the output says that privileges are missing."""
    text = (result.stdout + "\n" + result.stderr).lower()
    for marker in (
        "permission denied",
        "operation not permitted",
        "need to be root",
        "access is denied",
        "accès refusé",
        "access denied",
        *markers,
    ):
        if marker.lower() in text:
            raise CommandDenied(result.argv, "droits administrateur nécessaires")
