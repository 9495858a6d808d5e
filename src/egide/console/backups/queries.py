"""Read models of the backup service: a practice's status, its history, the operator's fleet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.utils import timezone

from egide.console.accounts.models import Practice
from egide.console.compliance.models import Processor

from .models import Agent, Alert, AlertKind, BackupReport, RestoreDrill
from .services import LATE_AFTER

RED_KINDS = (AlertKind.FAILED, AlertKind.SUSPECT, AlertKind.DRILL_FAILED)


@dataclass(frozen=True)
class BackupStatus:
    colour: str  # "green" | "orange" | "red" | "none"
    headline: str
    last_good: datetime | None
    last_drill: RestoreDrill | None
    open_alerts: list[Alert]

    @property
    def risk(self) -> int:
        """Sort key for the fleet view: red first, then orange, then no agent, then green."""
        return {"red": 0, "orange": 1, "none": 2, "green": 3}[self.colour]


def status_of(practice: Practice) -> BackupStatus:
    alerts = list(Alert.objects.filter(practice=practice, resolved_at__isnull=True))
    last_good = (
        BackupReport.objects.filter(
            practice=practice, status__in=["success", "warning"], suspect=False
        )
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    last_drill = RestoreDrill.objects.filter(practice=practice).first()
    has_agents = Agent.objects.filter(practice=practice, revoked_at__isnull=True).exists()
    if any(alert.kind in RED_KINDS for alert in alerts):
        colour, headline = "red", "Action requise : " + alerts[0].message
    elif not has_agents:
        colour, headline = "none", "Aucun poste ne sauvegarde encore ce cabinet."
    elif last_good is None or timezone.now() - last_good > LATE_AFTER:
        colour, headline = "orange", "La dernière sauvegarde réussie date de plus de 26 heures."
    else:
        colour, headline = "green", "Sauvegardes à jour."
    return BackupStatus(colour, headline, last_good, last_drill, alerts)


def history(practice: Practice, limit: int = 60) -> list[BackupReport]:
    return list(BackupReport.objects.filter(practice=practice).select_related("agent")[:limit])


def fleet() -> list[tuple[Practice, BackupStatus]]:
    """Every practice with its status, riskiest first (for the operator)."""
    rows = [(practice, status_of(practice)) for practice in Practice.objects.all()]
    return sorted(rows, key=lambda row: (row[1].risk, row[0].name))


@dataclass(frozen=True)
class Hosting:
    """Where the backups go and what certifies that host (from the processors register)."""

    repository: str
    hosts: list[tuple[str, str, date | None, str]]  # name, HDS scope, expiry, state


def hosting(practice: Practice) -> Hosting:
    repository = (
        BackupReport.objects.filter(practice=practice)
        .exclude(repository="")
        .values_list("repository", flat=True)
        .first()
    )
    today = timezone.localdate()
    hosts = []
    for processor in Processor.objects.filter(practice=practice, hosts_health_data=True):
        expiry = processor.hds_expires_on
        if expiry is None:
            state = "certificat HDS non renseigné"
        elif expiry < today:
            state = "certificat HDS expiré"
        elif (expiry - today).days <= 60:
            state = "certificat HDS à renouveler"
        else:
            state = "certificat HDS valide"
        hosts.append((processor.name, processor.hds_scope, expiry, state))
    return Hosting(repository or "", hosts)
