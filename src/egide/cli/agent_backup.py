"""`egide agent run | backup | drill`: the practice's backup agent, driven by a TOML plan.

`run` is the daemon (systemd unit and Windows service recipe in docs/backup-agent.md): it backs
up at the plan's times — at once after a reboot if a time was missed —, drills weekly, and keeps
the console informed. `backup` and `drill` do one of each now. Every report goes through the
on-disk outbox first, so that a console that cannot be reached loses nothing.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from egide import __version__
from egide.backup.archiver import BackupOptions, run_backup
from egide.backup.drill import run_drill
from egide.backup.errors import BackupError, DeliveryFailed, PlanInvalid
from egide.backup.gatewaystore import GatewayStorage
from egide.backup.keepalive import referenced_objects
from egide.backup.outbox import FlushResult, Outbox
from egide.backup.plan import AgentPlan, backup_due, load_plan, next_slot
from egide.backup.pruner import forget_snapshots
from egide.backup.repository import Repository
from egide.backup.runreport import backup_report, drill_report, repository_label, restamp
from egide.backup.snapshot import Snapshot, find_snapshot
from egide.backup.storage import RetryingStorage, Storage
from egide.backup.watch import (
    Sighting,
    look,
    reasons_for,
    shortened,
    shortened_reasons,
    vanished,
)
from egide.posture.delivery import send_report
from egide.posture.errors import ReportDeliveryFailed

from .backup_session import Context

_RETRY_SECONDS = 15 * 60
_PROTECTED = timedelta(days=30)

plan_option = click.option(
    "-c",
    "--config",
    "config",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Fichier de configuration TOML de l'agent.",
)


@dataclass
class AgentState:
    """What the agent remembers between runs (state_dir/state.json)."""

    last_backup: str = ""
    last_drill: str = ""
    sighting: dict[str, str] | None = None
    retention: dict[str, str | None] | None = None

    @classmethod
    def load(cls, plan: AgentPlan) -> AgentState:
        try:
            return cls(**json.loads((plan.state_dir / "state.json").read_text()))
        except (OSError, ValueError, TypeError):
            return cls()

    def save(self, plan: AgentPlan) -> None:
        path = plan.state_dir / "state.json"
        temp = path.with_suffix(".part")
        temp.write_text(json.dumps(vars(self)))
        temp.replace(path)


def _plan(config: Path) -> AgentPlan:
    try:
        plan = load_plan(config)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    plan.state_dir.mkdir(parents=True, exist_ok=True)
    return plan


class _AgentContext(Context):
    """`egide backup`'s context, plus the gateway: an https:// location with the agent's token."""

    def __init__(self, plan: AgentPlan) -> None:
        super().__init__(plan.repository, plan.passphrase_file, plan.s3_endpoint,
                         plan.state_dir / "cache", json_output=False)  # fmt: skip
        self.plan = plan

    def passphrase(self, confirm: bool = False) -> bytes:
        # A daemon has no terminal: an unreadable file is a failed run, reported, not an exit.
        try:
            return self.plan.passphrase_file.read_bytes().rstrip(b"\r\n")
        except OSError as error:
            raise PlanInvalid(f"phrase de passe illisible : {error.strerror}") from None

    def storage(self) -> Storage:
        if self.plan.repository.startswith(("https://", "http://")):
            return RetryingStorage(
                GatewayStorage(self.plan.repository, _token(self.plan), self.plan.ca_file)
            )
        return super().storage()


def _context(plan: AgentPlan) -> Context:
    return _AgentContext(plan)


def _token(plan: AgentPlan) -> str:
    try:
        return plan.token_file.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise click.ClickException(f"jeton illisible : {error.strerror}") from None


def deliver_to(plan: AgentPlan) -> Any:
    """A deliverer for the outbox: HTTPS POST with the agent's token."""
    token = _token(plan)

    def deliver(kind: str, body: dict[str, Any]) -> None:
        try:
            send_report(f"{plan.console_url}/api/agent/{kind}", token, restamp(body),
                        ca_file=plan.ca_file, user_agent=f"egide-agent/{__version__}")  # fmt: skip
        except ReportDeliveryFailed as error:
            # A report the console found malformed (HTTP 400/422…) will never pass: set aside.
            # A refused token (401/403) may be fixed by re-enrolment: keep it queued.
            message = str(error)
            raise DeliveryFailed(message, rejected="refusé le rapport (HTTP 4" in message) from None

    return deliver


def flush(plan: AgentPlan) -> FlushResult:
    """Send what waits in the outbox; say what is left."""
    result = Outbox(plan.state_dir / "outbox").flush(deliver_to(plan))
    if result.sent:
        click.echo(f"{result.sent} rapport(s) envoyé(s) à la console.", err=True)
    if result.waiting:
        click.echo(f"{result.waiting} rapport(s) en attente : {result.error}", err=True)
    return result


def _gateway(storage: Storage) -> GatewayStorage | None:
    inner = storage.inner if isinstance(storage, RetryingStorage) else storage
    return inner if isinstance(inner, GatewayStorage) else None


def _retention(storage: Storage) -> dict[str, str | None] | None:
    """Retention ends of the snapshots, when the storage is the gateway (else None)."""
    gateway = _gateway(storage)
    return gateway.retention("snapshots/") if gateway is not None else None


def _keep_locked(repo: Repository, snapshot: Snapshot) -> None:
    """Have the gateway extend the locks of what the new snapshot needs (retried next run)."""
    gateway = _gateway(repo.storage)
    if gateway is None:
        return
    try:
        gateway.keep(referenced_objects(repo, snapshot))
    except BackupError as failure:
        click.echo(f"Prolongation des verrous reportée : {failure}", err=True)


def backup_once(plan: AgentPlan, state: AgentState) -> dict[str, Any]:
    """One backup, queued as a report (a failure too); returns the report."""
    ctx = _context(plan)
    started = datetime.now(UTC)
    snapshot = None
    error = ""
    warnings = 0
    tamper: list[str] = []
    label = repository_label(plan.repository, plan.s3_endpoint)
    immutable = plan.repository.startswith(("https://", "http://"))
    try:
        with ctx.open() as repo:
            previous = Sighting(state.sighting) if state.sighting is not None else None
            current = look(repo.storage, previous, started)
            tamper = reasons_for(vanished(previous, current, _PROTECTED, started))
            locked = _retention(repo.storage)
            if locked is not None:
                tamper += shortened_reasons(shortened(state.retention or {}, locked))
            options = BackupOptions(plan.sources, plan.excludes, ("agent",), host=plan.host,
                                    known_reasons=tuple(tamper))  # fmt: skip
            result = run_backup(repo, options)
            snapshot = result.snapshot
            warnings = len(result.problems)
            _keep_locked(repo, snapshot)
            if plan.retention_by_agent and not plan.retention.empty():
                forget_snapshots(repo, plan.retention)
            state.sighting = look(repo.storage, current, datetime.now(UTC)).first_seen
            state.retention = _retention(repo.storage)
    except BackupError as failure:
        error = str(failure) or type(failure).__name__
    report = backup_report(started=started, finished=datetime.now(UTC), repository=label,
                           immutable=immutable, snapshot=snapshot, warnings=warnings,
                           error=error)  # fmt: skip
    Outbox(plan.state_dir / "outbox").put("backup-report", report)
    state.last_backup = started.isoformat()
    state.save(plan)
    if snapshot is not None:
        click.echo(f"Instantané {snapshot.short_id} : {report['status']}.", err=True)
        for reason in snapshot.suspect_reasons:
            click.echo(f"ALERTE : {reason}", err=True)
    else:
        click.echo(f"Échec de la sauvegarde : {error}", err=True)
    return report


def drill_once(plan: AgentPlan, state: AgentState) -> dict[str, Any] | None:
    """One restore drill on the latest snapshot of this host, queued as a signed report."""
    secret = _token(plan).rsplit(".", 1)[-1]
    try:
        with _context(plan).open() as repo:
            result = run_drill(repo, find_snapshot(repo, "latest", plan.host), plan.drill_files)
    except BackupError as failure:
        click.echo(f"Exercice de restauration impossible : {failure}", err=True)
        return None
    report = drill_report(result, secret)
    Outbox(plan.state_dir / "outbox").put("drill", report)
    state.last_drill = result.performed_at
    state.save(plan)
    verdict = "réussi" if result.passed else f"ÉCHEC ({result.failures} fichier(s))"
    click.echo(f"Exercice de restauration {verdict} : {result.files_checked} fichier(s).", err=True)
    for path in result.failed_paths:
        click.echo(f"  non conforme : {path}", err=True)
    return report


def _drill_due(plan: AgentPlan, state: AgentState, now: datetime) -> bool:
    if not state.last_drill:
        return bool(state.last_backup)
    return datetime.fromisoformat(state.last_drill) + timedelta(days=plan.drill_every_days) <= now


@click.command("backup")
@plan_option
def backup_command(config: Path) -> None:
    """Sauvegarde maintenant, selon la configuration, et en rend compte à la console."""
    plan = _plan(config)
    report = backup_once(plan, AgentState.load(plan))
    flush(plan)
    if report["status"] == "failure":
        sys.exit(1)


@click.command("drill")
@plan_option
def drill_command(config: Path) -> None:
    """Exercice de restauration : restaure et vérifie un échantillon, puis l'efface."""
    plan = _plan(config)
    report = drill_once(plan, AgentState.load(plan))
    flush(plan)
    if report is None or report["result"]["failures"]:
        sys.exit(1)


@click.command("run")
@plan_option
@click.option("--once", is_flag=True, help="Un seul passage (ce qui est dû), puis s'arrête.")
def run_command(config: Path, once: bool) -> None:
    """Service de l'agent : sauvegardes planifiées, exercices, rapports (à lancer au démarrage)."""
    plan = _plan(config)
    click.echo(f"Agent de sauvegarde démarré ({plan.host}).", err=True)
    while True:
        state = AgentState.load(plan)
        now = datetime.now().astimezone()
        last = datetime.fromisoformat(state.last_backup) if state.last_backup else None
        if backup_due(plan.schedule, last, now):
            backup_once(plan, state)
        if _drill_due(plan, state, datetime.now(UTC)):
            drill_once(plan, state)
        waiting = flush(plan).waiting
        if once:
            return
        wake = next_slot(plan.schedule, datetime.now().astimezone())
        pause = (wake - datetime.now().astimezone()).total_seconds()
        time.sleep(max(1.0, min(pause, _RETRY_SECONDS) if waiting else pause))
