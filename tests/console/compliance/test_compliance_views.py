"""The console pages: they render in French, refuse bad input clearly, and keep practices apart."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from egide.console.accounts.models import Practice, User
from egide.console.compliance import breach, register, rights, services
from egide.console.compliance.models import Processor, ProcessorKind, Profile, ScoreSnapshot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frameworks")]

PAGES = [
    "compliance:dashboard",
    "compliance:measures",
    "compliance:register",
    "compliance:processors",
    "compliance:processor_new",
    "compliance:breaches",
    "compliance:rights",
    "compliance:dossier",
    "compliance:assessment_start",
]


@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_in_french_for_a_member(client_of: Client, name: str) -> None:
    response = client_of.get(reverse(name))
    assert response.status_code == 200
    assert 'lang="fr"' in response.content.decode()


def test_the_home_card_shows_the_score_and_the_top_actions(
    client_of: Client, practice: Practice, member: User
) -> None:
    services.update_measure_state(
        practice, member, "RCM-SAV-1", status="conforme", owner=None, due_date=None, action_plan=""
    )
    breach.open_breach(
        practice,
        member,
        scenario="rancongiciel",
        summary="Écran de rançon",
        aware_at=timezone.now() - timedelta(hours=1),
    )
    page = client_of.get(reverse("home")).content.decode()
    assert 'id="carte-conformite"' in page
    assert "/ 100" in page and "RCM-TRA-4" in page


def test_the_guided_assessment_walks_one_measure_at_a_time(
    client_of: Client, practice: Practice
) -> None:
    response = client_of.post(reverse("compliance:assessment_start"), {"profession": "infirmier"})
    assert response.status_code == 302
    step = 1
    while True:
        page = client_of.get(reverse("compliance:assessment_step", args=[step]))
        assert "Je ne sais pas" in page.content.decode()
        answer = "ne_sait_pas" if step % 2 else "oui"
        response = client_of.post(
            reverse("compliance:assessment_step", args=[step]), {"answer": answer}
        )
        assert response.status_code == 302
        if response["Location"] == reverse("compliance:dashboard"):
            break
        step += 1
    # a profile without staff, laptop or website skips the measures that need them
    assert 30 < step < 60
    assert ScoreSnapshot.objects.filter(practice=practice).count() == 1
    missing = client_of.post(reverse("compliance:assessment_step", args=[1]), {})
    assert missing.status_code in (200, 302)


def test_forms_refuse_past_due_dates_and_future_discoveries_in_french(client_of: Client) -> None:
    past = (timezone.localdate() - timedelta(days=2)).isoformat()
    page = client_of.post(
        reverse("compliance:measure", args=["RCM-SAV-1"]),
        {"action": "state", "status": "non_conforme", "due_date": past, "action_plan": "x"},
    ).content.decode()
    assert "Cette date est dans le passé" in page
    future = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page = client_of.post(
        reverse("compliance:breaches"),
        {"scenario": "rancongiciel", "summary": "Rançon", "aware_at": future},
    ).content.decode()
    assert "Cette date est dans le futur." in page


def test_an_upload_with_active_content_is_refused_on_the_page(client_of: Client) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    bad = SimpleUploadedFile(
        "c.pdf", b"%PDF-1.4\n<< /S /JavaScript /JS (x) >>\n", "application/pdf"
    )
    page = client_of.post(
        reverse("compliance:measure", args=["RCM-STT-1"]),
        {
            "action": "document",
            "file": bad,
            "title": "Contrat",
            "document_date": timezone.localdate().isoformat(),
        },
    ).content.decode()
    assert "contenu actif" in page


def test_the_dossier_downloads_from_the_console_and_is_audited(client_of: Client) -> None:
    response = client_of.post(reverse("compliance:dossier_download", args=["json"]))
    assert response.status_code == 200
    document = json.loads(response.content)
    assert response["X-Content-SHA256"] == document["sha256"]


def test_register_exports_download_in_three_formats(client_of: Client, practice: Practice) -> None:
    client_of.post(reverse("compliance:register_prefill"))
    for fmt, magic in (("csv", b"\xef\xbb\xbf"), ("ods", b"PK"), ("pdf", b"%PDF")):
        response = client_of.get(reverse("compliance:register_export", args=[fmt]))
        assert response.status_code == 200
        assert response.content.startswith(magic)


def test_a_user_of_one_practice_reaches_nothing_of_another(
    client_of: Client, practice: Practice, make_member: Callable[..., User]
) -> None:
    other = Practice.objects.create(name="Cabinet du Port", slug="port")
    stranger = make_member(other, "martin")
    Profile.objects.create(practice=other, website=True, staff=True)
    register.prefill_register(other, stranger)
    secret_processor = register.save_processor(
        other, stranger, Processor(name="Hébergeur Secret", kind=ProcessorKind.HDS_HOST), clauses={}
    )
    secret_breach = breach.open_breach(
        other,
        stranger,
        scenario="telephone_vole",
        summary="Téléphone du Port volé",
        aware_at=timezone.now(),
    )
    secret_request = rights.open_request(
        other,
        stranger,
        kind="acces",
        requester="Patient du Port",
        medical_record=True,
        received_at=timezone.now(),
    )
    services.record_evidence(
        other, "RCM-POS-2", "fail", {"av": "off"}, "agent-port", timezone.now() + timedelta(days=1)
    )
    services.update_measure_state(
        other,
        stranger,
        "RCM-LOC-1",
        status="non_conforme",
        owner=stranger,
        due_date=None,
        action_plan="Plan secret du Port",
    )
    secret_document = services.store_document(
        other,
        stranger,
        b"\x89PNG\r\n\x1a\n" + b"\x01" * 32,
        filename="plan.png",
        title="Plan du Port",
        document_date=timezone.localdate(),
        measure_id="RCM-LOC-1",
    )
    own = Client()
    own.force_login(stranger)
    assert own.get(reverse("compliance:document", args=[secret_document.pk])).status_code == 200
    for url in (
        reverse("compliance:document", args=[secret_document.pk]),
        reverse("compliance:processor", args=[secret_processor.pk]),
        reverse("compliance:breach", args=[secret_breach.pk]),
        reverse("compliance:rights_request", args=[secret_request.pk]),
    ):
        assert client_of.get(url).status_code == 404
        assert client_of.post(url, {"step": "close"}).status_code == 404
    secrets = (
        "Hébergeur Secret",
        "Téléphone du Port",
        "Patient du Port",
        "agent-port",
        "Plan secret du Port",
        "Gestion du personnel",
        "Martin",
    )
    pages = [client_of.get(reverse(name)).content.decode() for name in PAGES]
    pages.append(client_of.get(reverse("compliance:measure", args=["RCM-POS-2"])).content.decode())
    pages.append(client_of.get(reverse("compliance:measure", args=["RCM-LOC-1"])).content.decode())
    pages.append(client_of.get(reverse("home")).content.decode())
    pages.append(
        client_of.post(reverse("compliance:dossier_download", args=["json"])).content.decode()
    )
    pages.append(
        client_of.get(reverse("compliance:register_export", args=["csv"])).content.decode(
            "utf-8-sig"
        )
    )
    for page in pages:
        for secret in secrets:
            assert secret not in page
    # the other practice's own view does show its data: the test would catch a blank page
    assert "Téléphone du Port" in own.get(reverse("compliance:breaches")).content.decode()


def test_operator_staff_have_no_compliance_desk(db: None) -> None:
    from egide.console.accounts.models import Role

    operator = User.objects.create_user(username="ops", password="x" * 16, role=Role.OPERATOR)
    from allauth.mfa.models import Authenticator

    Authenticator.objects.create(user=operator, type=Authenticator.Type.TOTP, data={"secret": "A"})
    client = Client()
    client.force_login(operator)
    assert client.get(reverse("compliance:dashboard")).status_code == 403


def test_the_chart_is_inline_svg_under_a_strict_csp(client_of: Client) -> None:
    response = client_of.get(reverse("compliance:dashboard"))
    policy = response["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "default-src 'self'" in policy
    page = response.content.decode()
    assert "<svg" in page and "<script" not in page and "style=" not in page
