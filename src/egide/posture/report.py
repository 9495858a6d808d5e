"""The posture report: OCSF-style compliance findings, as sent to the console (format v1).

The layout is documented in docs/formats/posture-report.md. Each finding follows the shape of
an OCSF "Compliance Finding" (class 2003) — `compliance.requirements`, `compliance.status`,
`status_id` — and carries Égide's own flat fields (`check`, `measure_id`, `status`, `observed`,
`explanation`, `remediation`) that the console reads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from .host import Host
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
