"""The agent's outbox: reports queued on disk until the console has acknowledged them.

A run's record must survive a console that is down, a network cut and a reboot: every report is
first written to `<dir>/<UTC time>-<random>.json` (written aside, fsynced, renamed: never half a
file), then delivered oldest first. A report leaves the outbox only once delivered; a delivery
failure stops the flush (the console is probably unreachable) and leaves it for the next attempt.
A report the console refused as malformed (`rejected=True` from the deliverer) moves to
`rejected/` so that it does not block the queue forever, and stays there for a person to read.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import DeliveryFailed

Deliver = Callable[[str, dict[str, Any]], None]
"""Sends one report (`kind`: the API endpoint, e.g. "backup-report"); raises DeliveryFailed."""


@dataclass(frozen=True)
class FlushResult:
    """How many reports went out, how many wait, how many were refused, and the last error."""

    sent: int
    waiting: int
    rejected: int
    error: str = ""


class Outbox:
    """A directory of pending reports."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)

    def put(self, kind: str, body: dict[str, Any]) -> Path:
        """Queue one report durably; returns its file."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        final = self.directory / f"{stamp}-{secrets.token_hex(4)}.json"
        temp = final.with_suffix(".part")
        with temp.open("wb") as out:
            out.write(json.dumps({"kind": kind, "body": body}, ensure_ascii=False).encode())
            out.flush()
            os.fsync(out.fileno())
        temp.replace(final)
        return final

    def pending(self) -> list[Path]:
        """Queued reports, oldest first."""
        return sorted(self.directory.glob("*.json"))

    def flush(self, deliver: Deliver) -> FlushResult:
        """Deliver queued reports oldest first; stop at the first transient failure."""
        sent = rejected = 0
        for path in self.pending():
            try:
                document = json.loads(path.read_bytes())
                kind, body = document["kind"], document["body"]
            except (OSError, ValueError, KeyError, TypeError):
                self._reject(path)
                rejected += 1
                continue
            try:
                deliver(kind, body)
            except DeliveryFailed as error:
                if not error.rejected:
                    return FlushResult(sent, len(self.pending()), rejected, str(error))
                self._reject(path)
                rejected += 1
                continue
            path.unlink()
            sent += 1
        return FlushResult(sent, 0, rejected)

    def _reject(self, path: Path) -> None:
        target = self.directory / "rejected"
        target.mkdir(exist_ok=True)
        path.replace(target / path.name)
