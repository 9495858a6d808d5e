"""The register pages driven through their forms, step by step, as a practitioner would."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from egide.console.audit.models import AuditEntry
from egide.console.compliance.models import Breach, Processor, RightsRequest

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frameworks")]


def _local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_a_lost_laptop_goes_through_the_breach_workflow(client_of: Client) -> None:
    aware = timezone.now() - timedelta(hours=3)
    response = client_of.post(
        reverse("compliance:breaches"),
        {
            "scenario": "ordinateur_perdu",
            "summary": "Portable perdu en visite",
            "aware_at": _local(aware),
        },
    )
    item = Breach.objects.get()
    assert response["Location"] == reverse("compliance:breach", args=[item.pk])
    url = response["Location"]
    page = client_of.get(url).content.decode()
    assert "Risque élevé" in page and "Notification à la CNIL avant le" in page
    page = client_of.post(url, {"step": "qualify", "health_data": "on"}).content.decode()
    assert "Risque élevé" in page
    client_of.post(url, {"step": "risk", "level": "eleve", "rationale": "Portable non chiffré."})
    page = client_of.get(url).content.decode()
    assert "Projet de notification" in page and "Lettre aux patients" in page
    client_of.post(
        url, {"step": "draft", "nature": "Violation de confidentialité", "contact": "Dr X"}
    )
    item.refresh_from_db()
    assert item.cnil_draft["contact"] == "Dr X"
    client_of.post(
        url, {"step": "notify", "notified_at": _local(timezone.now()), "reference": "N-1"}
    )
    client_of.post(url, {"step": "informed", "informed_at": _local(timezone.now())})
    client_of.post(url, {"step": "close"})
    item.refresh_from_db()
    assert item.closed_at is not None and item.cnil_reference == "N-1"
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {
        "compliance.breach_opened",
        "compliance.breach_notified",
        "compliance.breach_closed",
    } <= actions


def test_closing_too_early_says_why(client_of: Client) -> None:
    client_of.post(
        reverse("compliance:breaches"),
        {"scenario": "rancongiciel", "summary": "Rançon", "aware_at": _local(timezone.now())},
    )
    url = reverse("compliance:breach", args=[Breach.objects.get().pk])
    page = client_of.post(url, {"step": "close"}, follow=True).content.decode()
    assert "Qualifiez le risque avant de clore." in page


def test_an_access_request_is_answered_through_the_rights_desk(client_of: Client) -> None:
    received = timezone.now() - timedelta(days=3)
    response = client_of.post(
        reverse("compliance:rights"),
        {
            "kind": "acces",
            "requester": "Patient fictif",
            "received_at": _local(received),
            "medical_record": "on",
        },
    )
    url = response["Location"]
    page = client_of.get(url).content.decode()
    assert "Dossier médical (CSP L1111-7)" in page
    page = client_of.post(
        url, {"step": "answer", "text": "Ci-joint.", "proof": "Remise"}
    ).content.decode()
    assert "Vérifiez d&#x27;abord l&#x27;identité" in page or "Vérifiez d'abord l'identité" in page
    client_of.post(url, {"step": "identity", "method": "Carte d'identité vue au cabinet"})
    client_of.post(
        url, {"step": "answer", "text": "Ci-joint votre dossier.", "proof": "Recommandé"}
    )
    request = RightsRequest.objects.get()
    assert request.answered_at is not None and request.closure_proof == "Recommandé"


def test_a_processor_is_saved_with_its_clause_checklist(client_of: Client) -> None:
    response = client_of.post(
        reverse("compliance:processor_new"),
        {
            "name": "Logiciel Médical SA",
            "kind": "editeur",
            "siren": "123 456 789",
            "handles_health_data": "on",
            "clause_object": "on",
            "clause_security": "on",
        },
    )
    assert response.status_code == 302
    processor = Processor.objects.get()
    assert processor.siren == "123456789"
    assert len(processor.missing_clauses) == 7
    page = client_of.get(reverse("compliance:processors")).content.decode()
    assert "7 clauses manquantes" in page
    bad = client_of.post(
        reverse("compliance:processor_new"),
        {
            "name": "X",
            "kind": "editeur",
            "siren": "12",
            "contract_signed_on": (timezone.localdate() + timedelta(days=3)).isoformat(),
        },
    ).content.decode()
    assert "Le SIREN compte 9 chiffres." in bad
    assert "La signature ne peut pas être dans le futur." in bad


def test_a_host_certificate_is_uploaded_hashed_and_an_expired_one_refused(
    client_of: Client,
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
    later = (timezone.localdate() + timedelta(days=300)).isoformat()
    response = client_of.post(
        reverse("compliance:processor_new"),
        {
            "name": "Nuage Santé",
            "kind": "hebergeur",
            "hosts_health_data": "on",
            "hds_scope": "Activités 1 à 6",
            "hds_expires_on": later,
            "certificate_file": SimpleUploadedFile("hds.pdf", pdf, "application/pdf"),
        },
    )
    assert response.status_code == 302
    processor = Processor.objects.get()
    assert processor.hds_certificate is not None
    download = client_of.get(reverse("compliance:document", args=[processor.hds_certificate.pk]))
    assert download.content == pdf
    past = (timezone.localdate() - timedelta(days=1)).isoformat()
    page = client_of.post(
        reverse("compliance:processor_new"),
        {
            "name": "Vieux Nuage",
            "kind": "hebergeur",
            "hosts_health_data": "on",
            "hds_expires_on": past,
            "certificate_file": SimpleUploadedFile("old.pdf", pdf, "application/pdf"),
        },
    ).content.decode()
    assert (
        "La date d&#x27;expiration est dans le passé" in page
        or "La date d'expiration est dans le passé" in page
    )
    assert not Processor.objects.filter(name="Vieux Nuage").exists()
