"""Evidence: the pillars' single entry point, decay, attestations and uploaded documents."""

from __future__ import annotations

import hashlib
import zlib
from datetime import timedelta

import pytest
from django.utils import timezone

from egide.console.accounts.models import Practice, User
from egide.console.audit.models import AuditEntry
from egide.console.compliance import services
from egide.console.compliance.errors import InvalidInput, UnknownMeasure, UploadRefused
from egide.console.compliance.models import Document, Status
from egide.console.compliance.queries import measure_views

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frameworks")]

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _status(practice: Practice, ref: str) -> Status:
    return next(view.status for view in measure_views(practice) if view.ref == ref)


def test_fresh_automatic_evidence_sets_the_status_and_is_audited(practice: Practice) -> None:
    now = timezone.now()
    services.record_evidence(
        practice,
        "RCM-SAV-1",
        "pass",
        {"last_backup_age_hours": 3},
        "backups",
        now + timedelta(days=2),
    )
    assert _status(practice, "RCM-SAV-1") == Status.COMPLIANT
    entry = AuditEntry.objects.filter(action="compliance.evidence_recorded").get()
    assert entry.object_id == "RCM-SAV-1"
    assert entry.practice_id == practice.pk


def test_automatic_evidence_past_its_validity_decays_to_unverified(practice: Practice) -> None:
    observed = timezone.now() - timedelta(days=10)
    services.record_evidence(
        practice,
        "RCM-POS-2",
        "pass",
        {"signatures_age_hours": 5},
        "agent",
        observed + timedelta(days=7),
        observed_at=observed,
    )
    view = next(view for view in measure_views(practice) if view.ref == "RCM-POS-2")
    assert view.status == Status.UNVERIFIED
    assert view.stale


def test_failing_evidence_wins_over_a_declared_compliance(practice: Practice, member: User) -> None:
    services.update_measure_state(
        practice, member, "RCM-POS-3", status="conforme", owner=None, due_date=None, action_plan=""
    )
    services.record_evidence(
        practice,
        "RCM-POS-3",
        "fail",
        {"firewall": "off"},
        "agent",
        timezone.now() + timedelta(days=1),
    )
    assert _status(practice, "RCM-POS-3") == Status.NON_COMPLIANT


def test_it_refuses_unknown_measures_results_and_backwards_validity(practice: Practice) -> None:
    later = timezone.now() + timedelta(days=1)
    with pytest.raises(UnknownMeasure):
        services.record_evidence(practice, "RCM-XXX-9", "pass", {}, "agent", later)
    with pytest.raises(InvalidInput):
        services.record_evidence(practice, "RCM-SAV-1", "maybe", {}, "agent", later)
    with pytest.raises(InvalidInput):
        services.record_evidence(
            practice, "RCM-SAV-1", "pass", {}, "agent", timezone.now() - timedelta(hours=1)
        )


def test_an_attestation_is_signed_by_a_named_user_until_its_renewal(
    practice: Practice, member: User
) -> None:
    renewal = timezone.localdate() + timedelta(days=365)
    evidence = services.sign_attestation(
        practice, member, "RCM-LOC-1", "Le cabinet est fermé à clé chaque soir.", renewal
    )
    assert evidence.signer_name == "Camille Durand"
    assert timezone.localdate(evidence.valid_until) == renewal
    assert _status(practice, "RCM-LOC-1") == Status.COMPLIANT


def test_an_attestation_renewal_in_the_past_is_refused(practice: Practice, member: User) -> None:
    with pytest.raises(InvalidInput, match="passé"):
        services.sign_attestation(
            practice, member, "RCM-LOC-1", "Fermé à clé.", timezone.localdate() - timedelta(days=1)
        )


def test_an_uploaded_document_is_hashed_dated_stored_and_linked(
    practice: Practice, member: User
) -> None:
    document = services.store_document(
        practice,
        member,
        PNG,
        filename="../../alarme.png",
        title="Contrat de télésurveillance",
        document_date=timezone.localdate(),
        expires_on=timezone.localdate() + timedelta(days=30),
        measure_id="RCM-LOC-2",
    )
    assert document.sha256 == hashlib.sha256(PNG).hexdigest()
    assert document.filename == "alarme.png"
    assert services.document_path(document).read_bytes() == PNG
    assert _status(practice, "RCM-LOC-2") == Status.COMPLIANT


def _pdf(body: bytes) -> bytes:
    return b"%PDF-1.7\n1 0 obj\n" + body + b"\nendobj\ntrailer\n%%EOF\n"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"MZ\x90\x00" + b"\x00" * 100, "Type de fichier refusé"),
        (b"", "vide"),
        (b"<html><script>alert(1)</script></html>", "Type de fichier refusé"),
        (_pdf(b"<< /Type /Action /S /JavaScript /JS (app.alert(1)) >>"), "contenu actif"),
        (_pdf(b"<< /S /J#61vaScript >>"), "contenu actif"),
        (_pdf(b"<< /S /Launch /F (cmd.exe) >>"), "contenu actif"),
        (
            _pdf(
                b"<< /Type /ObjStm /Filter /FlateDecode >>\nstream\n"
                + zlib.compress(b"<< /OpenAction << /S /JavaScript /JS (x) >> >>")
                + b"\nendstream"
            ),
            "contenu actif",
        ),
        (_pdf(b"<< /Names << /EmbeddedFiles 2 0 R >> >>"), "contenu actif"),
        (b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024), "dépasse"),
    ],
)
def test_it_refuses_dangerous_or_unexpected_uploads(
    practice: Practice, member: User, content: bytes, reason: str
) -> None:
    with pytest.raises(UploadRefused, match=reason):
        services.store_document(
            practice,
            member,
            content,
            filename="piece.pdf",
            title="Pièce",
            document_date=timezone.localdate(),
        )
    assert not Document.objects.exists()


def test_a_plain_pdf_is_accepted(practice: Practice, member: User) -> None:
    content = _pdf(b"<< /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] >>")
    document = services.store_document(
        practice,
        member,
        content,
        filename="contrat.pdf",
        title="Contrat",
        document_date=timezone.localdate(),
    )
    assert document.content_type == "application/pdf"


def test_document_dates_in_the_wrong_direction_are_refused(
    practice: Practice, member: User
) -> None:
    today = timezone.localdate()
    with pytest.raises(InvalidInput, match="futur"):
        services.store_document(
            practice,
            member,
            PNG,
            filename="a.png",
            title="A",
            document_date=today + timedelta(days=1),
        )
    with pytest.raises(InvalidInput, match="passé"):
        services.store_document(
            practice,
            member,
            PNG,
            filename="a.png",
            title="A",
            document_date=today,
            expires_on=today - timedelta(days=1),
        )


def test_a_due_date_in_the_past_is_refused(practice: Practice, member: User) -> None:
    with pytest.raises(InvalidInput, match="passé"):
        services.update_measure_state(
            practice,
            member,
            "RCM-SAV-1",
            status="non_conforme",
            owner=None,
            due_date=timezone.localdate() - timedelta(days=1),
            action_plan="Acheter un disque",
        )


@pytest.mark.parametrize(
    "observed",
    [{"patient": "Jeanne"}, {"Body": "x"}, {"blob": "x" * 5000}, {"when": object()}],
)
def test_observations_carrying_content_or_bulk_are_refused(
    practice: Practice, observed: dict[str, object]
) -> None:
    with pytest.raises(InvalidInput):
        services.record_evidence(
            practice, "RCM-SAV-1", "pass", observed, "backups", timezone.now() + timedelta(days=1)
        )


def test_only_the_latest_evidence_per_measure_is_read(practice: Practice) -> None:
    now = timezone.now()
    for days in range(8, 0, -1):
        moment = now - timedelta(days=days)
        services.record_evidence(
            practice,
            "RCM-SAV-1",
            "fail" if days > 1 else "pass",
            {"age_days": days},
            "backups",
            moment + timedelta(days=3),
            observed_at=moment,
        )
    view = next(view for view in measure_views(practice) if view.ref == "RCM-SAV-1")
    assert len(view.evidence) == 5
    assert view.evidence[0].result == "pass"
    assert view.status == Status.COMPLIANT
