"""Use cases of the backup service: enrolling agents, receiving their reports, raising alerts."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.core.mail import send_mail
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from egide.console.accounts import tokens
from egide.console.accounts.models import Practice, Role, User
from egide.console.audit import services as audit
from egide.posture.report import ReceivedReport

from . import evidence
from .models import Agent, Alert, AlertKind, BackupReport, PostureReport, RestoreDrill
from .reports import BackupRun, DrillResult

log = logging.getLogger(__name__)

AGENT_TOKEN_PREFIX = "egide-agent"  # noqa: S105 - a public label, not a secret
LATE_AFTER = timedelta(hours=26)
"""A practice is «orange» when its last good backup is older than this (a daily run plus slack)."""
CLOCK_TOLERANCE = timedelta(minutes=10)
ALERT_RECIPIENT_ROLES = (Role.PRACTITIONER, Role.COMPLIANCE_LEAD)


@transaction.atomic
def enrol_agent(practice: Practice, name: str, *, by: User) -> tuple[Agent, str]:
    """Create an agent and return it with its token, which is shown once and never stored."""
    token, key_id, secret_hash = tokens.new_token(AGENT_TOKEN_PREFIX)
    agent = Agent.objects.create(
        practice=practice, name=name, key_id=key_id, secret_hash=secret_hash
    )
    audit.record(
        "agent.enrolled",
        practice_id=practice.pk,
        actor_id=by.pk,
        actor=by.username,
        object_type="agent",
        object_id=agent.pk,
        details={"name": name},
    )
    return agent, token


@transaction.atomic
def revoke_agent(agent: Agent, *, by: User) -> None:
    agent.revoked_at = timezone.now()
    agent.save(update_fields=["revoked_at"])
    audit.record(
        "agent.revoked",
        practice_id=agent.practice_id,
        actor_id=by.pk,
        actor=by.username,
        object_type="agent",
        object_id=agent.pk,
    )


def authenticate_agent(request: HttpRequest) -> Agent | None:
    """The agent named by the request's bearer token; a bad token is audited and yields None."""
    parts = tokens.bearer(request, AGENT_TOKEN_PREFIX)
    agent = (
        Agent.objects.select_related("practice").filter(key_id=parts[0]).first() if parts else None
    )
    if agent is None or parts is None or agent.revoked_at is not None:
        reason = "revoked" if agent is not None and agent.revoked_at else "unknown"
    elif not tokens.secret_matches(parts[1], agent.secret_hash):
        reason = "wrong_secret"
    else:
        return agent
    audit.record(
        "agent.token_refused",
        practice_id=agent.practice_id if agent else None,
        object_type="agent",
        object_id=agent.pk if agent else "",
        ip=audit.client_ip(request),
        details={"reason": reason, "path": request.path},
    )
    return None


def _touch(agent: Agent) -> None:
    agent.last_seen_at = timezone.now()
    agent.save(update_fields=["last_seen_at"])
    Alert.objects.filter(agent=agent, kind=AlertKind.SILENT, resolved_at__isnull=True).update(
        resolved_at=agent.last_seen_at
    )


def raise_alert(practice: Practice, kind: AlertKind, message: str, agent: Agent | None) -> Alert:
    """Open an alert (once per open kind and agent), mail the practitioners, audit it."""
    existing = Alert.objects.filter(
        practice=practice, agent=agent, kind=kind, resolved_at__isnull=True
    ).first()
    if existing is not None:
        return existing
    alert = Alert.objects.create(practice=practice, agent=agent, kind=kind, message=message)
    recipients = list(
        User.objects.filter(practice=practice, role__in=ALERT_RECIPIENT_ROLES, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    if recipients:
        sent = send_mail(
            f"[Égide] {alert.get_kind_display()} — {practice.name}",
            f"{message}\n\nOuvrez la console Égide, rubrique Sauvegarde, pour voir le détail.",
            None,
            recipients,
            fail_silently=True,
        )
        alert.notified = sent > 0
        alert.save(update_fields=["notified"])
    audit.record(
        "backup.alert_raised",
        practice_id=practice.pk,
        actor="system",
        object_type="alert",
        object_id=alert.pk,
        details={"kind": str(kind)},
    )
    return alert


def _resolve(practice: Practice, agent: Agent, *kinds: AlertKind) -> None:
    Alert.objects.filter(
        practice=practice, agent=agent, kind__in=kinds, resolved_at__isnull=True
    ).update(resolved_at=timezone.now())


@transaction.atomic
def receive_backup_run(agent: Agent, run: BackupRun) -> BackupReport:
    """Store a run report, flag a far-off clock, raise or resolve alerts."""
    now = timezone.now()
    skew = round((run.sent_at - now).total_seconds())
    report = BackupReport.objects.create(
        practice=agent.practice,
        agent=agent,
        started_at=run.started_at,
        finished_at=run.finished_at,
        status=run.status,
        snapshot_id=run.snapshot_id,
        repository=run.repository,
        immutable=run.immutable,
        files=run.files,
        bytes_read=run.bytes_read,
        bytes_added=run.bytes_added,
        warnings=run.warnings,
        suspect=run.suspect,
        suspect_reasons=run.suspect_reasons,
        error=run.error,
        clock_skew_seconds=skew,
    )
    _touch(agent)
    practice = agent.practice
    if abs(skew) > CLOCK_TOLERANCE.total_seconds():
        raise_alert(
            practice,
            AlertKind.CLOCK,
            f"L'horloge du poste « {agent.name} » a {abs(skew) // 60} minutes d'écart : "
            "corrigez l'heure de ce poste (les sauvegardes sont datées par lui).",
            agent,
        )
    if run.status == "failure":
        raise_alert(
            practice,
            AlertKind.FAILED,
            f"La sauvegarde du poste « {agent.name} » a échoué : {run.error or 'raison inconnue'}.",
            agent,
        )
    elif run.suspect:
        raise_alert(
            practice,
            AlertKind.SUSPECT,
            f"La sauvegarde du poste « {agent.name} » est suspecte "
            f"({'; '.join(run.suspect_reasons) or 'changements massifs'}). Un rançongiciel est "
            "possible : n'éteignez pas le poste, déconnectez-le du réseau et appelez votre "
            "prestataire. La dernière sauvegarde saine est conservée.",
            agent,
        )
    else:
        _resolve(practice, agent, AlertKind.FAILED, AlertKind.LATE)
    evidence.backup_reported(report)
    audit.record(
        "backup.reported",
        practice_id=practice.pk,
        actor=f"agent:{agent.pk}",
        object_type="backup_report",
        object_id=report.pk,
        details={"status": run.status, "suspect": run.suspect, "snapshot": run.snapshot_id},
    )
    return report


@transaction.atomic
def receive_drill(agent: Agent, drill: DrillResult) -> RestoreDrill:
    passed = drill.failures == 0 and drill.files_checked > 0
    record = RestoreDrill.objects.create(
        practice=agent.practice,
        agent=agent,
        performed_at=drill.performed_at,
        snapshot_id=drill.snapshot_id,
        files_checked=drill.files_checked,
        bytes_checked=drill.bytes_checked,
        passed=passed,
        failures=drill.failures,
        result_hash=drill.result_hash,
    )
    _touch(agent)
    if passed:
        _resolve(agent.practice, agent, AlertKind.DRILL_FAILED)
    else:
        what = (
            f"{drill.failures} fichier(s) non conformes sur {drill.files_checked}"
            if drill.files_checked
            else "aucun fichier n'a pu être restauré depuis la dernière sauvegarde"
        )
        raise_alert(
            agent.practice,
            AlertKind.DRILL_FAILED,
            f"Le test de restauration du poste « {agent.name} » a échoué ({what}). "
            "Prévenez votre prestataire : vos sauvegardes ne sont peut-être pas restaurables.",
            agent,
        )
    evidence.drill_reported(record)
    audit.record(
        "backup.drill_reported",
        practice_id=agent.practice_id,
        actor=f"agent:{agent.pk}",
        object_type="restore_drill",
        object_id=record.pk,
        details={"passed": passed},
    )
    return record


@transaction.atomic
def receive_posture(agent: Agent, received: ReceivedReport) -> PostureReport:
    """Keep the computer's latest findings and turn them into compliance evidence (7 days)."""
    report = PostureReport.objects.create(
        practice=agent.practice,
        agent=agent,
        findings=[result.as_dict() for result in received.findings],
    )
    Agent.objects.filter(pk=agent.pk).update(
        hostname=received.hostname[:200],
        os=f"{received.os_name} {received.os_version}".strip()[:200],
    )
    _touch(agent)
    measures = evidence.posture_reported(agent, received)
    audit.record(
        "posture.reported",
        practice_id=agent.practice_id,
        actor=f"agent:{agent.pk}",
        object_type="posture_report",
        object_id=report.pk,
        details={
            "failed": sum(r.status == "fail" for r in received.findings),
            "measures": measures,
        },
    )
    return report


def check_silent_agents() -> int:
    """The dead-man switch: alarm on agents whose last good backup is older than LATE_AFTER."""
    limit = timezone.now() - LATE_AFTER
    raised = 0
    for agent in Agent.objects.filter(revoked_at__isnull=True).select_related("practice"):
        last_good = (
            BackupReport.objects.filter(agent=agent, status__in=["success", "warning"])
            .order_by("-finished_at")
            .values_list("finished_at", flat=True)
            .first()
        )
        reference = last_good or agent.created_at
        if reference >= limit:
            continue
        silent = agent.last_seen_at is None or agent.last_seen_at < limit
        kind = AlertKind.SILENT if silent else AlertKind.LATE
        what = "ne donne plus de nouvelles" if silent else "n'a pas réussi de sauvegarde"
        since = timezone.localtime(reference).strftime("%d/%m/%Y %H:%M")
        raise_alert(
            agent.practice,
            kind,
            f"Le poste « {agent.name} » {what} depuis le {since} : vérifiez qu'il est allumé "
            "et que l'agent Égide tourne.",
            agent,
        )
        raised += 1
    return raised
