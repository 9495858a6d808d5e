"""The posture report: OCSF-style compliance findings, as sent to the console (format v1).

The layout is documented in docs/formats/posture-report.md. Each finding follows the shape of
an OCSF "Compliance Finding" (class 2003) — `compliance.requirements`, `compliance.status`,
`status_id` — and carries Égide's own flat fields (`check`, `measure_id`, `status`, `observed`,
`explanation`, `remediation`) that the console reads.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from .errors import MalformedReport
from .host import Host
from .measures import CHECKS
from .result import CheckResult, Status

FORMAT: Final = "egide.posture.report"
VERSION: Final = 1
STANDARD: Final = "CNIL — référentiel cabinets médicaux et paramédicaux (2020)"

# OCSF compliance status ids: 1 Pass, 2 Warning, 3 Fail, 99 Other, 0 Unknown.
OCSF_STATUS: Final = {
    Status.PASS: (1, "Pass"),
    Status.FAIL: (3, "Fail"),
    Status.NOT_APPLICABLE: (99, "Not Applicable"),
    Status.NOT_CHECKED: (0, "Unknown"),
    Status.ERROR: (99, "Error"),
}


def finding(result: CheckResult, title: str, when: datetime) -> dict[str, Any]:
    status_id, status_name = OCSF_STATUS[result.status]
    return {
        "class_uid": 2003,
        "class_name": "Compliance Finding",
        "category_uid": 2,
        "activity_id": 1,
        "severity_id": 3 if result.status is Status.FAIL else 1,
        "time": int(when.timestamp() * 1000),
        **result.as_dict(),
        "title": title,
        "compliance": {
            "standards": [STANDARD],
            "requirements": [result.measure_id],
            "control": result.check,
            "status": status_name,
            "status_id": status_id,
        },
    }


def build_report(
    host: Host,
    results: Sequence[CheckResult],
    titles: dict[str, str],
    started: datetime,
    finished: datetime,
    agent_version: str,
) -> dict[str, Any]:
    """The JSON-serialisable report of one run of the checks on one computer."""
    counts = Counter(r.status.value for r in results)
    return {
        "format": FORMAT,
        "version": VERSION,
        "time": finished.isoformat(),
        "duration_ms": int((finished - started).total_seconds() * 1000),
        "metadata": {
            "product": {"name": "Égide agent", "vendor_name": "Égide", "version": agent_version},
        },
        "device": {
            "hostname": host.hostname,
            "type": host.system,
            "os": {"name": host.os_name, "version": host.os_version},
            "architecture": host.architecture,
        },
        "summary": {status.value: counts.get(status.value, 0) for status in Status},
        "findings": [finding(r, titles.get(r.check, r.check), finished) for r in results],
    }


MAX_TEXT = 2000
MAX_OBSERVED_BYTES = 20_000


@dataclass(frozen=True)
class ReceivedReport:
    """A posture report as the console accepts it: validated, typed, nothing else kept."""

    hostname: str
    system: str
    os_name: str
    os_version: str
    time: datetime
    agent_version: str
    findings: tuple[CheckResult, ...]


def text(value: object, where: str, limit: int = MAX_TEXT, empty: bool = True) -> str:
    if not isinstance(value, str) or len(value) > limit or (not empty and not value.strip()):
        raise MalformedReport(f"{where} : texte attendu (au plus {limit} caractères)")
    return value


def mapping(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedReport(f"{where} : objet attendu")
    return value


def read_finding(value: object, index: int) -> CheckResult:
    item = mapping(value, f"findings[{index}]")
    check = text(item.get("check"), f"findings[{index}].check", 64)
    if check not in CHECKS:
        raise MalformedReport(f"findings[{index}].check : vérification « {check} » inconnue")
    measure_id = text(item.get("measure_id"), f"findings[{index}].measure_id", 32)
    if measure_id != CHECKS[check][0]:
        # A report may not move a verdict to another measure than the one its check evidences.
        raise MalformedReport(f"findings[{index}] : mesure {measure_id} ≠ {CHECKS[check][0]}")
    try:
        status = Status(str(item.get("status")))
    except ValueError:
        raise MalformedReport(f"findings[{index}].status : statut inconnu") from None
    observed = item.get("observed")
    try:
        size = len(json.dumps(observed, ensure_ascii=False, allow_nan=False).encode("utf-8"))
    except (TypeError, ValueError):
        raise MalformedReport(f"findings[{index}].observed : valeur JSON invalide") from None
    if size > MAX_OBSERVED_BYTES:
        raise MalformedReport(f"findings[{index}].observed : trop volumineux ({size} octets)")
    return CheckResult(
        check=check,
        measure_id=measure_id,
        status=status,
        observed=observed,
        explanation=text(item.get("explanation"), f"findings[{index}].explanation", empty=False),
        remediation=text(item.get("remediation", ""), f"findings[{index}].remediation"),
    )


def read_report(data: object) -> ReceivedReport:
    """Validate a decoded JSON report (format v1) and return its typed content.

    Everything the console stores goes through here; anything unexpected raises
    `MalformedReport` with the first problem found, so the console can refuse and audit it.
    """
    report = mapping(data, "rapport")
    if report.get("format") != FORMAT or report.get("version") != VERSION:
        raise MalformedReport(f"format attendu : {FORMAT} version {VERSION}")
    try:
        when = datetime.fromisoformat(text(report.get("time"), "time", 64))
    except ValueError:
        raise MalformedReport("time : date ISO 8601 attendue") from None
    if when.tzinfo is None:
        raise MalformedReport("time : fuseau horaire manquant")
    device = mapping(report.get("device"), "device")
    system = device.get("type")
    if system not in {"linux", "windows", "macos"}:
        raise MalformedReport("device.type : linux, windows ou macos attendu")
    os_info = mapping(device.get("os"), "device.os")
    product = mapping(mapping(report.get("metadata"), "metadata").get("product"), "product")
    findings = report.get("findings")
    if not isinstance(findings, list) or not 0 < len(findings) <= len(CHECKS):
        raise MalformedReport(f"findings : liste de 1 à {len(CHECKS)} constats attendue")
    results = tuple(read_finding(item, index) for index, item in enumerate(findings))
    if len({r.check for r in results}) != len(results):
        raise MalformedReport("findings : une vérification apparaît deux fois")
    return ReceivedReport(
        hostname=text(device.get("hostname"), "device.hostname", 253, empty=False),
        system=str(system),
        os_name=text(os_info.get("name"), "device.os.name", 200),
        os_version=text(os_info.get("version"), "device.os.version", 200),
        time=when,
        agent_version=text(product.get("version"), "metadata.product.version", 64),
        findings=results,
    )
