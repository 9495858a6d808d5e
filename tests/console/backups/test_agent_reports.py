"""Agents report backups, drills and posture; the console turns them into status and alerts."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from egide.console.accounts.models import Practice, Role, User
from egide.console.audit.models import AuditEntry
from egide.console.backups.models import Agent, Alert, AlertKind, BackupReport
from egide.console.backups.queries import fleet, status_of
from egide.console.backups.services import check_silent_agents, enrol_agent

from .agent_client import backup_run, now_iso, post, signed_drill

pytestmark = pytest.mark.django_db

GOLDEN_POSTURE = (
    Path(__file__).parents[2]
    / "data/posture/report_v1_windows_laptop_bitlocker_off_stale_antivirus.json"
)
BACKUP = "/api/agent/backup-report"
DRILL = "/api/agent/drill"
POSTURE = "/api/agent/posture"


@pytest.fixture
def practice(make_practice: Callable[..., Practice], frameworks: None) -> Practice:
    return make_practice("Cabinet des Tilleuls", "tilleuls")


@pytest.fixture
def doctor(practice: Practice, make_member: Callable[..., User]) -> User:
    user = make_member(practice, "dr.martin")
    user.email = "claire.martin@example.org"
    user.save()
    return user


@pytest.fixture
def enrolled(practice: Practice, doctor: User) -> tuple[Agent, str]:
    return enrol_agent(practice, "Poste secrétariat", by=doctor)


def test_a_good_report_makes_the_practice_green(
    client: Client, enrolled: tuple[Agent, str]
) -> None:
    agent, token = enrolled
    response = post(client, BACKUP, token, backup_run())
    assert response.status_code == 201, response.content
    report = BackupReport.objects.get(agent=agent)
    assert report.immutable and report.dedup_ratio == pytest.approx(51.2)
    status = status_of(agent.practice)
    assert status.colour == "green" and status.last_good is not None
    assert AuditEntry.objects.filter(
        action="backup.reported", practice_id=agent.practice_id
    ).exists()


@pytest.mark.parametrize(
    "header",
    ["", "Bearer nimportequoi", "Bearer egide-agent.0000000000000000.secret", "Basic YWI6Y2Q="],
)
def test_a_bad_token_is_refused_and_audited(
    client: Client, enrolled: tuple[Agent, str], header: str
) -> None:
    response = client.post(
        BACKUP, b"{}", content_type="application/json", HTTP_AUTHORIZATION=header
    )
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert AuditEntry.objects.filter(action="agent.token_refused").count() == 1
    assert not BackupReport.objects.exists()


def test_a_wrong_secret_for_a_known_agent_is_audited_in_its_practice(
    client: Client, enrolled: tuple[Agent, str]
) -> None:
    agent, token = enrolled
    response = post(client, BACKUP, token[:-4] + "XXXX", backup_run())
    assert response.status_code == 401
    refused = AuditEntry.objects.get(action="agent.token_refused")
    assert refused.practice_id == agent.practice_id and refused.details["reason"] == "wrong_secret"


def test_a_revoked_agent_can_no_longer_report(
    client: Client, enrolled: tuple[Agent, str], doctor: User
) -> None:
    agent, token = enrolled
    client.force_login(doctor)
    client.post(f"/sauvegarde/postes/{agent.pk}/revoquer")
    assert post(Client(), BACKUP, token, backup_run()).status_code == 401


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"pas du json", "JSON invalide"),
        (b"[1, 2]", "un objet JSON est attendu"),
        ({**backup_run(), "version": 2}, "version"),
        ({**backup_run(), "status": "ok"}, "status"),
        ({**backup_run(), "bytes_read": -1}, "bytes_read"),
        ({**backup_run(), "started_at": "hier"}, "started_at"),
        ({**backup_run(), "finished_at": "2026-01-01T00:00:00"}, "fuseau"),
        ({**backup_run(), "file_names": ["dossier.pdf"]}, "champs inconnus"),
        ({**backup_run(), "snapshot_id": ""}, "snapshot_id"),
    ],
)
def test_a_malformed_report_is_rejected_with_a_reason_and_logged(
    client: Client, enrolled: tuple[Agent, str], body: object, reason: str
) -> None:
    _, token = enrolled
    response = post(client, BACKUP, token, body)
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert AuditEntry.objects.filter(action="agent.report_rejected").exists()
    assert not BackupReport.objects.exists()


def test_a_failed_backup_turns_red_and_mails_the_practitioners(
    client: Client, enrolled: tuple[Agent, str]
) -> None:
    agent, token = enrolled
    post(client, BACKUP, token, backup_run(status="failure", snapshot_id="", error="disque plein"))
    assert status_of(agent.practice).colour == "red"
    alert = Alert.objects.get(kind=AlertKind.FAILED)
    assert "disque plein" in alert.message and alert.notified
    assert mail.outbox[0].to == ["claire.martin@example.org"]
    assert "Sauvegarde échouée" in mail.outbox[0].subject
    post(client, BACKUP, token, backup_run(status="failure", snapshot_id="", error="encore"))
    assert Alert.objects.filter(kind=AlertKind.FAILED).count() == 1  # no alert storm
    post(client, BACKUP, token, backup_run())
    assert status_of(agent.practice).colour == "green"


def test_a_suspect_backup_raises_the_ransomware_alarm(
    client: Client, enrolled: tuple[Agent, str]
) -> None:
    agent, token = enrolled
    reasons = ["38 % des fichiers modifiés", "contenu chiffré en masse"]
    post(client, BACKUP, token, backup_run(suspect=True, suspect_reasons=reasons))
    status = status_of(agent.practice)
    assert status.colour == "red" and "rançongiciel" in status.headline
    assert status.last_good is None  # a suspect snapshot is not a good backup


def test_a_far_off_agent_clock_is_flagged(client: Client, enrolled: tuple[Agent, str]) -> None:
    _, token = enrolled
    response = post(client, BACKUP, token, backup_run(sent_at=now_iso(timedelta(hours=-3))))
    assert response.status_code == 201 and response.json()["clock_skew_seconds"] < -10_000
    assert Alert.objects.filter(kind=AlertKind.CLOCK).exists()


def test_a_signed_drill_is_accepted_and_a_forged_one_refused(
    client: Client, enrolled: tuple[Agent, str]
) -> None:
    agent, token = enrolled
    good = signed_drill(token)
    assert post(client, DRILL, token, good).json()["passed"] is True
    forged = signed_drill(token)
    forged["result"]["failures"] = 0
    forged["result"]["files_checked"] = 9999
    response = post(client, DRILL, token, forged)
    assert response.status_code == 400 and "empreinte" in response.json()["detail"]
    failed = signed_drill(token, failures=2)
    assert post(client, DRILL, token, failed).json()["passed"] is False
    assert status_of(agent.practice).colour == "red"
    assert Alert.objects.filter(kind=AlertKind.DRILL_FAILED).exists()


def test_an_agent_that_stops_reporting_raises_the_dead_man_alarm(
    enrolled: tuple[Agent, str],
) -> None:
    agent, _ = enrolled
    assert check_silent_agents() == 0
    Agent.objects.filter(pk=agent.pk).update(created_at=timezone.now() - timedelta(hours=30))
    assert check_silent_agents() == 1
    alert = Alert.objects.get(kind=AlertKind.SILENT)
    assert "ne donne plus de nouvelles" in alert.message
    assert check_silent_agents() == 1 and Alert.objects.count() == 1


def test_a_posture_report_is_stored_and_shown(
    client: Client, enrolled: tuple[Agent, str], doctor: User
) -> None:
    _, token = enrolled
    report = json.loads(GOLDEN_POSTURE.read_text(encoding="utf-8"))
    assert post(client, POSTURE, token, report).status_code == 201
    assert post(client, POSTURE, token, {"findings": [{"status": "great"}]}).status_code == 400
    client.force_login(doctor)
    page = client.get("/postes/").content.decode()
    assert "RCM-MOB-1" in page and "BitLocker" in page


def test_the_operator_fleet_lists_the_riskiest_practice_first(
    client: Client,
    make_practice: Callable[..., Practice],
    make_member: Callable[..., User],
    enrolled: tuple[Agent, str],
) -> None:
    _, token = enrolled
    calm = make_practice("Cabinet Calme", "calme")
    _, calm_token = enrol_agent(calm, "Poste", by=make_member(calm, "dr.calme"))
    post(client, BACKUP, calm_token, backup_run())
    post(client, BACKUP, token, backup_run(status="failure", snapshot_id="", error="x"))
    assert [practice.slug for practice, _ in fleet()][:2] == ["tilleuls", "calme"]
    operator = make_member(None, "ops")
    client.force_login(operator)
    assert client.get("/operateur/sauvegardes/").status_code == 200
    member = User.objects.get(username="dr.calme")
    client.force_login(member)
    assert client.get("/operateur/sauvegardes/").status_code == 403


def test_a_member_cannot_revoke_another_practices_agent(
    client: Client,
    enrolled: tuple[Agent, str],
    make_practice: Callable[..., Practice],
    make_member: Callable[..., User],
) -> None:
    agent, _ = enrolled
    stranger = make_member(make_practice("Autre", "autre"), "dr.autre")
    client.force_login(stranger)
    assert client.post(f"/sauvegarde/postes/{agent.pk}/revoquer").status_code == 404
    assert Agent.objects.get(pk=agent.pk).revoked_at is None


def test_a_secretary_sees_backups_but_cannot_enrol_a_computer(
    client: Client, practice: Practice, make_member: Callable[..., User]
) -> None:
    secretary = make_member(practice, "secretariat", Role.SECRETARY)
    client.force_login(secretary)
    assert client.get("/sauvegarde/").status_code == 200
    assert client.post("/sauvegarde/postes/nouveau", {"name": "PC"}).status_code == 403


def test_the_backup_page_names_the_host_and_its_hds_certificate(
    client: Client, enrolled: tuple[Agent, str], doctor: User
) -> None:
    from egide.console.compliance.models import Processor, ProcessorKind

    agent, token = enrolled
    post(client, BACKUP, token, backup_run())
    Processor.objects.create(
        practice=agent.practice,
        name="Hébergeur HDS Exemple",
        kind=next(iter(ProcessorKind)),
        hosts_health_data=True,
        hds_scope="hébergement infogéré",
        hds_expires_on=timezone.localdate() - timedelta(days=3),
    )
    client.force_login(doctor)
    page = client.get("/sauvegarde/").content.decode()
    assert "s3://hds-cabinet/tilleuls" in page
    assert "Hébergeur HDS Exemple" in page and "certificat HDS expiré" in page
