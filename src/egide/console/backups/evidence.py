"""What backup runs, restore drills and workstation reports prove, handed to the compliance desk.

The only module of this app that calls `compliance.services.record_evidence` (DESIGN.md: one
explicit service call, no signals). Validities follow the rhythm of each source: a daily backup
proves little after two days, a weekly drill after eight, a workstation check after seven.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from egide.console.accounts.models import Practice
from egide.console.compliance import services as compliance
from egide.console.compliance.errors import ComplianceError
from egide.posture.report import ReceivedReport
from egide.posture.result import Status

from .models import Agent, BackupReport, RestoreDrill

BACKUP_VALIDITY = timedelta(hours=48)
DRILL_VALIDITY = timedelta(days=8)
POSTURE_VALIDITY = timedelta(days=7)

log = logging.getLogger(__name__)


def record_evidence(
    practice: Practice,
    measure_id: str,
    status: str,
    observed: dict[str, Any],
    source: str,
    valid_until: datetime,
) -> None:
    """Hand one observation to the compliance desk; a refusal is logged, the report still kept."""
    try:
        compliance.record_evidence(practice, measure_id, status, observed, source, valid_until)
    except ComplianceError as error:
        log.error("evidence %s for practice %s refused: %s", measure_id, practice.pk, error)


_POSTURE_VERDICTS = {
    Status.PASS: "pass",
    Status.FAIL: "fail",
    Status.NOT_APPLICABLE: "not_applicable",
}


def backup_reported(report: BackupReport) -> None:
    """RCM-SAV-1 regular backups, RCM-SAV-2 off-site immutable copy, RCM-SAV-3 encryption."""
    source = f"sauvegarde:{report.agent.name}"
    until = timezone.now() + BACKUP_VALIDITY
    good = report.status != "failure" and not report.suspect
    record_evidence(
        report.practice,
        "RCM-SAV-1",
        "pass" if good else "fail",
        {
            "last_run": report.finished_at.isoformat(),
            "status": report.status,
            "suspect": report.suspect,
        },
        source,
        until,
    )
    if not good:
        return
    off_site = report.repository.startswith(("s3://", "https://", "egide-gateway://"))
    record_evidence(
        report.practice,
        "RCM-SAV-2",
        "pass" if off_site and report.immutable else "partial",
        {"off_site": off_site, "immutable": report.immutable},
        source,
        until,
    )
    record_evidence(
        report.practice,
        "RCM-SAV-3",
        "pass",
        {"encryption": "AES-256-GCM, clé hors du stockage"},
        source,
        until,
    )


def drill_reported(drill: RestoreDrill) -> None:
    """RCM-SAV-4: restores are tested, automatically, and the result is signed."""
    record_evidence(
        drill.practice,
        "RCM-SAV-4",
        "pass" if drill.passed else "fail",
        {
            "performed_at": drill.performed_at.isoformat(),
            "files_checked": drill.files_checked,
            "failures": drill.failures,
            "sha256": drill.result_hash,
        },
        f"test-restauration:{drill.agent.name}",
        timezone.now() + DRILL_VALIDITY,
    )


def posture_reported(agent: Agent, report: ReceivedReport) -> int:
    """One evidence per measure: failed if any check of that measure failed on this computer.

    `error` and `not_checked` prove nothing and are left out, so the measure keeps its previous
    evidence until it decays — never a false «conforme».
    """
    per_measure: dict[str, list[str]] = defaultdict(list)
    for result in report.findings:
        verdict = _POSTURE_VERDICTS.get(result.status)
        if verdict is not None:
            per_measure[result.measure_id].append(verdict)
    until = timezone.now() + POSTURE_VALIDITY
    for measure_id, verdicts in per_measure.items():
        if "fail" in verdicts:
            status = "fail"
        elif "pass" in verdicts:
            status = "pass"
        else:
            status = "not_applicable"
        failed = [
            r.check
            for r in report.findings
            if r.measure_id == measure_id and r.status == Status.FAIL
        ]
        record_evidence(
            agent.practice,
            measure_id,
            status,
            {
                "computer": agent.name,
                "os": f"{report.os_name} {report.os_version}".strip(),
                "failed_checks": failed,
            },
            f"poste:{agent.name}",
            until,
        )
    return len(per_measure)
