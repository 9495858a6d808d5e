"""What the agent tells the console about a run or a drill (docs/formats/agent-reports.md).

Reports carry counts, sizes, times, flags and ids: never a passphrase, a file name or file content.
The repository is named by its host and bucket or directory only, credentials stripped.
A drill result is hash-stamped (SHA-256 of its canonical JSON) and signed with HMAC-SHA256 keyed
by SHA-256 of the agent's token secret, which the console also holds (it stores only that hash).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from .drill import DrillResult
from .snapshot import Snapshot

REPORT_VERSION = 1


def canonical(data: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes that are hashed and signed."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def repository_label(location: str, endpoint: str | None = None) -> str:
    """Where the repository lives, without credentials (≤ 200 characters)."""
    parts = urlsplit(location)
    if parts.scheme in {"http", "https"}:
        port = f":{parts.port}" if parts.port else ""
        label = f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"
    elif parts.scheme == "s3":
        label = f"s3://{parts.hostname or ''}{parts.path}"
        if endpoint:
            label += f" @ {urlsplit(endpoint).hostname or ''}"
    else:
        label = location
    return label[:200]


def backup_report(
    *,
    started: datetime,
    finished: datetime,
    repository: str,
    immutable: bool,
    snapshot: Snapshot | None,
    warnings: int,
    error: str = "",
) -> dict[str, Any]:
    """The `backup-report` body for a run (a failed run has no snapshot and an `error`)."""
    stats = snapshot.stats if snapshot else {}
    status = "failure" if snapshot is None else "warning" if warnings else "success"
    return {
        "version": REPORT_VERSION,
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "sent_at": finished.isoformat(),
        "status": status,
        "snapshot_id": snapshot.snapshot_id[:80] if snapshot else "",
        "repository": repository[:200],
        "immutable": immutable,
        "files": int(stats.get("files", 0)),
        "bytes_read": int(stats.get("bytes_read", 0)),
        "bytes_added": int(stats.get("bytes_added", 0)),
        "warnings": warnings,
        "suspect": bool(snapshot and snapshot.suspect),
        "suspect_reasons": list(snapshot.suspect_reasons) if snapshot else [],
        "error": error[:500],
    }


def restamp(report: dict[str, Any]) -> dict[str, Any]:
    """The report with `sent_at` set to now (the console measures clock skew with it)."""
    return {**report, "sent_at": datetime.now(UTC).isoformat()} if "sent_at" in report else report


def drill_report(result: DrillResult, token_secret: str) -> dict[str, Any]:
    """The signed, hash-stamped `drill` body."""
    body = {
        "version": REPORT_VERSION,
        "performed_at": result.performed_at,
        "snapshot_id": result.snapshot_id[:80],
        "files_checked": result.files_checked,
        "bytes_checked": result.bytes_checked,
        "failures": result.failures,
    }
    key = hashlib.sha256(token_secret.encode()).hexdigest().encode()
    return {
        "result": body,
        "sha256": hashlib.sha256(canonical(body)).hexdigest(),
        "signature": hmac.new(key, canonical(body), hashlib.sha256).hexdigest(),
    }
