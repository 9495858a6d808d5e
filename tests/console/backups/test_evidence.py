"""Agent reports become compliance evidence that shows in the dossier."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client

from egide.console.accounts.models import Practice, User
from egide.console.backups.services import enrol_agent
from egide.console.compliance.dossier import build_dossier
from egide.console.compliance.queries import profile_of

from .agent_client import backup_run, post, signed_drill

pytestmark = pytest.mark.django_db

GOLDEN_POSTURE = (
    Path(__file__).parents[2]
    / "data/posture/report_v1_windows_laptop_bitlocker_off_stale_antivirus.json"
)


def statuses(practice: Practice) -> dict[str, str]:
    return {measure["id"]: measure["status"] for measure in build_dossier(practice)["measures"]}


def test_a_laptop_with_bitlocker_off_and_a_stale_antivirus_is_non_compliant_in_the_dossier(
    client: Client,
    frameworks: None,
    make_practice: Callable[..., Practice],
    make_member: Callable[..., User],
) -> None:
    practice = make_practice("Cabinet des Tilleuls", "tilleuls")
    profile = profile_of(practice)
    profile.laptop = True  # the practice declared its laptop in its profile
    profile.save()
    _, token = enrol_agent(practice, "Portable du Dr Martin", by=make_member(practice, "dr.martin"))
    report = json.loads(GOLDEN_POSTURE.read_text(encoding="utf-8"))
    assert post(client, "/api/agent/posture", token, report).status_code == 201
    status = statuses(practice)
    assert status["RCM-MOB-1"] == "non_conforme"
    assert status["RCM-POS-2"] == "non_conforme"
    dossier = build_dossier(practice)
    mob = next(m for m in dossier["measures"] if m["id"] == "RCM-MOB-1")
    assert "Portable du Dr Martin" in json.dumps(mob["evidence"], ensure_ascii=False)


def test_backups_and_drills_prove_the_backup_measures(
    client: Client,
    frameworks: None,
    make_practice: Callable[..., Practice],
    make_member: Callable[..., User],
) -> None:
    practice = make_practice("Cabinet des Tilleuls", "tilleuls")
    _, token = enrol_agent(practice, "Serveur", by=make_member(practice, "dr.martin"))
    post(client, "/api/agent/backup-report", token, backup_run())
    post(client, "/api/agent/drill", token, signed_drill(token))
    status = statuses(practice)
    for measure in ("RCM-SAV-1", "RCM-SAV-2", "RCM-SAV-3", "RCM-SAV-4"):
        assert status[measure] == "conforme", measure
    post(
        client,
        "/api/agent/backup-report",
        token,
        backup_run(status="failure", snapshot_id="", error="disque plein"),
    )
    assert statuses(practice)["RCM-SAV-1"] == "non_conforme"
