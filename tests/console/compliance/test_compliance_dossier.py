"""Done when: a practice with deliberate gaps finds each one flagged, with its measure id and
deadline, in the dossier; the PDF renders to an image and carries the content hash."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from PIL import Image

from egide.console.accounts.models import Practice, User
from egide.console.audit.models import AuditEntry
from egide.console.compliance import breach, dossier, register, rights, services
from egide.console.compliance.models import (
    ART28_CLAUSES,
    Breach,
    Processor,
    ProcessorKind,
    Profile,
    RightsRequest,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frameworks")]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
ALL_CLAUSES = {key: True for key, _ in ART28_CLAUSES}


@dataclass(frozen=True)
class Gaps:
    host: Processor
    agenda: Processor
    observed: datetime
    breach: Breach
    request: RightsRequest


def _gapped_practice(practice: Practice, member: User) -> Gaps:
    now = timezone.now()
    today = timezone.localdate()
    Profile.objects.create(practice=practice, profession="medecin", staff=True, laptop=True)
    register.prefill_register(practice, member)
    host = register.save_processor(
        practice,
        member,
        Processor(
            name="Nuage Santé",
            kind=ProcessorKind.HDS_HOST,
            hosts_health_data=True,
            contract_signed_on=today - timedelta(days=400),
            hds_scope="Activités 1 à 6",
            hds_expires_on=today - timedelta(days=10),
        ),
        clauses=ALL_CLAUSES,
    )
    agenda = register.save_processor(
        practice,
        member,
        Processor(
            name="Agenda Facile",
            kind=ProcessorKind.APPOINTMENTS,
            contract_signed_on=today - timedelta(days=60),
        ),
        clauses={},
    )
    observed = now - timedelta(days=5)
    services.record_evidence(
        practice,
        "RCM-SAV-1",
        "pass",
        {"last_backup_age_hours": 2},
        "backups",
        observed + timedelta(days=2),
        observed_at=observed,
    )
    found = breach.open_breach(
        practice,
        member,
        scenario="ordinateur_perdu",
        summary="Portable oublié dans le train",
        aware_at=now - timedelta(hours=80),
    )
    request = rights.open_request(
        practice,
        member,
        kind="acces",
        requester="Patient fictif",
        medical_record=True,
        received_at=now - timedelta(days=9),
    )
    return Gaps(host, agenda, observed, found, request)


def _finding(document: dict[str, Any], kind: str) -> dict[str, Any]:
    findings: list[dict[str, Any]] = document["findings"]
    matches = [item for item in findings if item["kind"] == kind]
    assert len(matches) == 1, (kind, findings)
    return matches[0]


def test_every_deliberate_gap_is_flagged_with_its_measure_and_deadline(
    practice: Practice, member: User
) -> None:
    made = _gapped_practice(practice, member)
    rendered = dossier.generate(practice, member, "json")
    document = json.loads(rendered.content)
    host, agenda = made.host, made.agenda
    assert host.hds_expires_on and agenda.contract_signed_on

    hds = _finding(document, "certificat_hds_expire")
    assert hds["measure_id"] == "RCM-SAN-2"
    assert hds["deadline"].startswith(host.hds_expires_on.isoformat())
    assert hds["overdue"] is True

    clause = _finding(document, "clause_art28_absente")
    assert clause["measure_id"] == "RCM-STT-1"
    assert clause["deadline"].startswith(
        (agenda.contract_signed_on + timedelta(days=30)).isoformat()
    )

    stale = _finding(document, "preuve_perimee")
    assert stale["measure_id"] == "RCM-SAV-1"
    assert stale["deadline"] == (made.observed + timedelta(days=2)).isoformat()
    sav = next(item for item in document["measures"] if item["id"] == "RCM-SAV-1")
    assert sav["status"] == "non_verifie"
    assert sav["evidence"][0]["stale"] is True

    san = next(item for item in document["measures"] if item["id"] == "RCM-SAN-2")
    assert san["status"] == "non_conforme"
    assert san["evidence"][0]["source"] == "contrôle HDS"
    stt = next(item for item in document["measures"] if item["id"] == "RCM-STT-1")
    assert stt["status"] == "partiel"  # one of two processors has every clause

    late = _finding(document, "violation_non_notifiee")
    assert late["measure_id"] == "RCM-TRA-4"
    assert late["deadline"] == (made.breach.aware_at + timedelta(hours=72)).isoformat()
    assert late["overdue"] is True

    access = _finding(document, "demande_droits_en_attente")
    assert access["measure_id"] == "RCM-GOU-3"
    assert access["deadline"] == (made.request.received_at + timedelta(days=8)).isoformat()
    assert access["overdue"] is True
    (entry,) = document["registers"]["rights_requests"]
    assert entry["csp_deadline"] == access["deadline"]
    assert "Patient fictif" not in rendered.content.decode()

    assert document["practice"]["slug"] == "tilleuls"
    assert document["framework_version"] == "rcm@2020.1"
    for measure in document["measures"]:
        assert {"id", "title", "status", "evidence", "owner"} <= set(measure)
    assert document["registers"]["processing"]["activities"]
    assert document["registers"]["processors"][0]["name"] == "Agenda Facile"


def test_the_json_hash_covers_the_document_without_its_own_field(
    practice: Practice, member: User
) -> None:
    rendered = dossier.generate(practice, member, "json")
    document = json.loads(rendered.content)
    claimed = document.pop("sha256")
    recomputed = hashlib.sha256(
        json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()
    assert claimed == recomputed == rendered.content_sha256
    document["measures"][0]["status"] = (
        "conforme" if document["measures"][0]["status"] != "conforme" else "partiel"
    )
    assert dossier.content_hash(document) != claimed
    entry = AuditEntry.objects.filter(action="compliance.dossier_generated").get()
    assert entry.details["content_sha256"] == claimed
    assert entry.details["file_sha256"] == hashlib.sha256(rendered.content).hexdigest()


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils is not installed")
def test_the_pdf_dossier_renders_to_an_image_and_carries_its_hash(
    practice: Practice, member: User, tmp_path: Path
) -> None:
    _gapped_practice(practice, member)
    services.take_score_snapshot(practice)
    rendered = dossier.generate(practice, member, "pdf")
    assert rendered.content.startswith(b"%PDF-")
    pdf = tmp_path / "dossier.pdf"
    pdf.write_bytes(rendered.content)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    (page,) = tmp_path.glob("page*.png")
    with Image.open(page) as image:
        assert image.width > 300 and image.height > 400
        grey = image.convert("L")
        dark = sum(1 for value in grey.tobytes() if value < 128)
        assert dark > 1000  # text and bars were drawn, not a blank page
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(page, ARTIFACTS / "compliance-dossier-page1.png")
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    flat = "".join(text.split())
    assert rendered.content_sha256 in flat
    assert "RCM-TRA-4" in flat
