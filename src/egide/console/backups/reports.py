"""Validation of what agents send: strict, typed, with a French reason for every refusal.

Agents send counts, sizes, times, flags and ids — never file names or content — so a report that
carries unexpected fields is refused rather than stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAX_REPORT_BYTES = 256 * 1024
_STATUSES = {"success", "warning", "failure"}


class ReportRejected(ValueError):
    """The body is not a valid report; the message says why (shown to the agent's operator)."""


@dataclass(frozen=True)
class BackupRun:
    started_at: datetime
    finished_at: datetime
    sent_at: datetime
    status: str
    snapshot_id: str
    repository: str
    immutable: bool
    files: int
    bytes_read: int
    bytes_added: int
    warnings: int
    suspect: bool
    suspect_reasons: list[str]
    error: str


@dataclass(frozen=True)
class DrillResult:
    performed_at: datetime
    snapshot_id: str
    files_checked: int
    bytes_checked: int
    failures: int
    result_hash: str


def parse_json(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_REPORT_BYTES:
        raise ReportRejected(f"rapport trop volumineux (plus de {MAX_REPORT_BYTES} octets)")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReportRejected(f"JSON invalide : {error}") from None
    if not isinstance(data, dict):
        raise ReportRejected("un objet JSON est attendu")
    return data


def _only(data: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise ReportRejected(f"champs inconnus : {', '.join(sorted(unknown))}")


def _time(data: dict[str, Any], key: str) -> datetime:
    value = data.get(key)
    if not isinstance(value, str):
        raise ReportRejected(f"« {key} » : date ISO 8601 attendue")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ReportRejected(f"« {key} » : date ISO 8601 invalide ({value!r})") from None
    if moment.tzinfo is None:
        raise ReportRejected(f"« {key} » : le fuseau horaire manque")
    return moment.astimezone(UTC)


def _count(data: dict[str, Any], key: str, default: int | None = None) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ReportRejected(f"« {key} » : entier positif attendu")
    return value


def _text(data: dict[str, Any], key: str, limit: int, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or len(value) > limit:
        raise ReportRejected(f"« {key} » : texte de {limit} caractères au plus attendu")
    return value


def parse_backup_run(data: dict[str, Any]) -> BackupRun:
    """A backup run report (see docs/formats/agent-reports.md)."""
    _only(
        data,
        {
            "version",
            "started_at",
            "finished_at",
            "sent_at",
            "status",
            "snapshot_id",
            "repository",
            "immutable",
            "files",
            "bytes_read",
            "bytes_added",
            "warnings",
            "suspect",
            "suspect_reasons",
            "error",
        },
    )
    if data.get("version") != 1:
        raise ReportRejected("« version » : seule la version 1 est comprise")
    status = data.get("status")
    if status not in _STATUSES:
        raise ReportRejected("« status » : success, warning ou failure")
    reasons = data.get("suspect_reasons", [])
    if not isinstance(reasons, list) or not all(
        isinstance(r, str) and len(r) < 300 for r in reasons
    ):
        raise ReportRejected("« suspect_reasons » : liste de textes attendue")
    run = BackupRun(
        started_at=_time(data, "started_at"),
        finished_at=_time(data, "finished_at"),
        sent_at=_time(data, "sent_at"),
        status=str(status),
        snapshot_id=_text(data, "snapshot_id", 80, ""),
        repository=_text(data, "repository", 200, ""),
        immutable=bool(data.get("immutable", False)),
        files=_count(data, "files", 0),
        bytes_read=_count(data, "bytes_read", 0),
        bytes_added=_count(data, "bytes_added", 0),
        warnings=_count(data, "warnings", 0),
        suspect=bool(data.get("suspect", False)),
        suspect_reasons=list(reasons),
        error=_text(data, "error", 500, ""),
    )
    if run.finished_at < run.started_at:
        raise ReportRejected("« finished_at » précède « started_at »")
    if run.status != "failure" and not run.snapshot_id:
        raise ReportRejected("« snapshot_id » manque pour une sauvegarde réussie")
    return run


def canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def drill_signature(signing_key: str, result: dict[str, Any]) -> str:
    """HMAC-SHA256 of the canonical result, keyed by the agent's hashed token."""
    return hmac.new(signing_key.encode(), canonical(result), hashlib.sha256).hexdigest()


def parse_drill(data: dict[str, Any], signing_key: str) -> DrillResult:
    """A restore-drill result; its hash and signature must match its content."""
    _only(data, {"result", "sha256", "signature"})
    result = data.get("result")
    if not isinstance(result, dict):
        raise ReportRejected("« result » : objet attendu")
    _only(
        result,
        {"version", "performed_at", "snapshot_id", "files_checked", "bytes_checked", "failures"},
    )
    digest = hashlib.sha256(canonical(result)).hexdigest()
    if data.get("sha256") != digest:
        raise ReportRejected("l'empreinte SHA-256 ne correspond pas au résultat")
    if not hmac.compare_digest(
        str(data.get("signature", "")), drill_signature(signing_key, result)
    ):
        raise ReportRejected("la signature du résultat est invalide")
    return DrillResult(
        performed_at=_time(result, "performed_at"),
        snapshot_id=_text(result, "snapshot_id", 80),
        files_checked=_count(result, "files_checked"),
        bytes_checked=_count(result, "bytes_checked"),
        failures=_count(result, "failures"),
        result_hash=digest,
    )
