"""The awareness pages and the patient information PDFs, through the Django test client.

The poster and the notice are checked by rendering them to images with poppler's pdftoppm."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client
from django.utils.html import escape
from tests.browser import ARTIFACTS

from egide.console.accounts.models import Practice, Role, User
from egide.console.audit.models import AuditEntry
from egide.console.compliance import charter, register, training
from egide.console.compliance.models import CharterSignature, NoticeContact, TrainingCompletion

pytestmark = pytest.mark.django_db
needs_poppler = pytest.mark.skipif(
    shutil.which("pdftoppm") is None, reason="poppler-utils is not installed"
)


def quiz_post(wrong: int = 0, skip: int = 0) -> dict[str, str]:
    course = training.load_course()
    data = {"course_version": course.version}
    for number, question in enumerate(course.quiz):
        if number < skip:
            continue
        wrong_choice = next(key for key, _ in question.choices if key != question.answer)
        data[question.id] = wrong_choice if number < wrong else question.answer
    return data


def ready_for_patients(practice: Practice, user: User) -> None:
    register.prefill_register(practice, user)
    NoticeContact.objects.create(
        practice=practice, address="12 rue des Tilleuls, 37000 Tours", email="cabinet@example.org"
    )


def render_pages(pdf: bytes, tmp_path: Path) -> list[tuple[int, int, float]]:
    """Each page as a greyscale image: (width, height, share of dark pixels)."""
    source = tmp_path / "document.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "25", "-gray", str(source), str(tmp_path / "page")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    pages = []
    for image in sorted(tmp_path.glob("page*.pgm")):
        data = image.read_bytes()
        magic, size, maximum, pixels = data.split(b"\n", 3)
        assert magic == b"P5" and maximum == b"255"
        width, height = (int(value) for value in size.split())
        assert len(pixels) == width * height
        pages.append((width, height, sum(1 for value in pixels if value < 128) / len(pixels)))
    return pages


def keep_preview(pdf: bytes, name: str) -> None:
    """A readable image of the first page in test-artifacts/, for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", "-singlefile", "-", str(ARTIFACTS / name)],
        input=pdf,
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_the_training_page_shows_the_course_and_the_quiz(client_of: Client) -> None:
    page = client_of.get("/conformite/sensibilisation/formation/").content.decode()
    course = training.load_course()
    assert course.title in page and course.sections[0].title in page
    assert page.count('type="radio"') == sum(len(q.choices) for q in course.quiz)


def test_an_incomplete_quiz_is_refused_and_keeps_the_given_answers(
    client_of: Client, member: User
) -> None:
    response = client_of.post("/conformite/sensibilisation/formation/", quiz_post(skip=1))
    page = response.content.decode()
    assert response.status_code == 200 and "sans réponse : 1" in page
    assert page.count(" checked") == len(training.load_course().quiz) - 1
    assert not TrainingCompletion.objects.exists()


def test_a_passed_quiz_shows_the_feedback_and_validity(client_of: Client, member: User) -> None:
    response = client_of.post("/conformite/sensibilisation/formation/", quiz_post(wrong=1))
    page = response.content.decode()
    total = len(training.load_course().quiz)
    assert f"{total - 1}/{total}" in page and 'id="quiz-reussi"' in page
    assert escape(training.load_course().quiz[0].explanation) in page
    assert TrainingCompletion.objects.get(user=member).passed


def test_a_tampered_course_version_is_refused(client_of: Client) -> None:
    data = quiz_post() | {"course_version": "2001.1"}
    page = client_of.post("/conformite/sensibilisation/formation/", data).content.decode()
    assert "mise à jour" in page and not TrainingCompletion.objects.exists()


def test_signing_the_charter_then_a_tampered_or_second_signature(
    client_of: Client, practice: Practice, member: User
) -> None:
    page = client_of.get("/conformite/sensibilisation/charte/").content.decode()
    version = charter.current_charter(practice)
    assert version.sha256 in page and "Journalisation des accès" in page
    tampered = client_of.post(
        "/conformite/sensibilisation/charte/", {"sha256": "f" * 64, "accept": "on"}, follow=True
    )
    assert "ne correspond pas" in tampered.content.decode()
    missing_consent = client_of.post(
        "/conformite/sensibilisation/charte/", {"sha256": version.sha256}
    )
    assert missing_consent.status_code == 200 and not CharterSignature.objects.exists()
    signed = client_of.post(
        "/conformite/sensibilisation/charte/",
        {"sha256": version.sha256, "accept": "on"},
        follow=True,
    )
    assert 'id="charte-signee"' in signed.content.decode()
    again = client_of.post(
        "/conformite/sensibilisation/charte/",
        {"sha256": version.sha256, "accept": "on"},
        follow=True,
    )
    assert "déjà signé" in again.content.decode()
    assert CharterSignature.objects.count() == 1


def test_the_overview_lists_only_this_practice_team_without_scores(
    client_of: Client, practice: Practice, member: User, make_member: Callable[..., User]
) -> None:
    colleague = make_member(practice, "accueil", Role.SECRETARY)
    course = training.load_course()
    training.complete_training(
        practice, colleague, {q.id: q.answer for q in course.quiz}, course.version
    )
    other = Practice.objects.create(name="Cabinet des Ormes", slug="ormes")
    make_member(other, "etranger")
    page = client_of.get("/conformite/sensibilisation/").content.decode()
    assert "Camille Accueil" in page and "Camille Durand" in page
    assert "Etranger" not in page
    assert f"{len(course.quiz)}/{len(course.quiz)}" not in page  # a colleague's score stays private


def test_the_home_page_shows_the_gentle_banner_to_a_newcomer(client_of: Client) -> None:
    page = client_of.get("/").content.decode()
    assert 'id="bandeau-sensibilisation"' in page and "Bienvenue au cabinet" in page
    assert 'id="carte-sauvegarde"' in page  # not a wall: the rest of the home is there


def test_patient_information_explains_what_is_missing_first(client_of: Client) -> None:
    page = client_of.get("/conformite/information-patients/").content.decode()
    assert "préremplissez-le" in page
    response = client_of.get("/conformite/information-patients/affiche-A4.pdf", follow=True)
    assert "préremplissez-le" in response.content.decode()


def test_a_secretary_cannot_change_the_contact_details(
    practice: Practice, make_member: Callable[..., User]
) -> None:
    client = Client()
    client.force_login(make_member(practice, "accueil", Role.SECRETARY))
    data = {"address": "1 rue X", "email": "x@example.org"}
    client.post("/conformite/information-patients/", data)
    assert not NoticeContact.objects.exists()


def test_a_practitioner_saves_the_contact_details_and_they_are_audited(
    client_of: Client, practice: Practice
) -> None:
    data = {"address": "12 rue des Tilleuls, 37000 Tours", "phone": "02 47 00 00 00"}
    client_of.post("/conformite/information-patients/", data)
    assert NoticeContact.objects.get(practice=practice).phone == "02 47 00 00 00"
    assert AuditEntry.objects.filter(action="compliance.notice_contact_saved").exists()
    refused = client_of.post("/conformite/information-patients/", {"address": "1 rue Y"})
    assert "adresse électronique ou un téléphone" in refused.content.decode()


@needs_poppler
@pytest.mark.parametrize(("size", "width_mm"), [("A4", 210), ("A3", 297)])
def test_the_poster_is_one_printable_page_read_from_the_register(
    client_of: Client, practice: Practice, member: User, tmp_path: Path, size: str, width_mm: int
) -> None:
    ready_for_patients(practice, member)
    response = client_of.get(f"/conformite/information-patients/affiche-{size}.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    pdf = response.content
    assert pdf.startswith(b"%PDF-")
    pages = render_pages(pdf, tmp_path)
    assert len(pages) == 1  # a poster is one sheet
    width, height, dark = pages[0]
    assert abs(width - width_mm / 25.4 * 25) <= 2 and abs(height / width - 2**0.5) < 0.02
    assert 0.02 < dark < 0.5  # printed text and the title band, not a blank or black page
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True, timeout=60
    ).stdout.decode()
    for expected in (
        "Cabinet des Tilleuls",
        "cabinet@example.org",
        "Gestion des rendez-vous",
        "CNIL",
        "20 ans",
    ):
        assert expected in text
    keep_preview(pdf, f"patient-poster-{size}")
    entry = AuditEntry.objects.get(action="compliance.patient_information_generated")
    assert entry.details["size"] == size and len(entry.details["sha256"]) == 64


@needs_poppler
def test_the_notice_carries_every_required_item(
    client_of: Client, practice: Practice, member: User, tmp_path: Path
) -> None:
    ready_for_patients(practice, member)
    pdf = client_of.get("/conformite/information-patients/notice-A4.pdf").content
    assert render_pages(pdf, tmp_path)  # renders to at least one page image
    keep_preview(pdf, "patient-notice-A4")
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True, timeout=60
    ).stdout.decode()
    flat = " ".join(text.split())
    for expected in (
        "Qui est responsable",
        "12 rue des Tilleuls",
        "Pourquoi vos données",
        "base légale",
        "9.2.h",
        "destinataire",
        "conservées",
        "Accès",
        "Rectification",
        "Opposition",
        "Comment exercer vos droits",
        "réclamation",
        "3 place de Fontenoy",
    ):
        assert expected in flat, expected


def test_unknown_documents_are_not_found(client_of: Client) -> None:
    assert client_of.get("/conformite/information-patients/affiche-A5.pdf").status_code == 404
    assert client_of.get("/conformite/information-patients/tract-A4.pdf").status_code == 404


def test_another_practice_register_never_reaches_my_notice(
    practice: Practice, member: User, make_member: Callable[..., User]
) -> None:
    ready_for_patients(practice, member)
    other = Practice.objects.create(name="Cabinet des Ormes", slug="ormes")
    client = Client()
    client.force_login(make_member(other, "ormes"))
    response = client.get("/conformite/information-patients/notice-A4.pdf", follow=True)
    assert response["Content-Type"].startswith("text/html")
    assert "préremplissez-le" in response.content.decode()
