"""A new secretary signs in (password + TOTP), follows the home banner, passes the training quiz
and signs the IT charter in Chromium; screenshots go to test-artifacts/."""

from __future__ import annotations

import shutil

import pyotp
import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from pytest_django.live_server_helper import LiveServer
from tests.browser import CHROMIUM, chromium, screenshot, sign_in
from tests.conftest import PASSWORD

from egide.console.accounts.models import Role
from egide.console.accounts.services import create_member, create_practice
from egide.console.compliance import charter, services, training
from egide.console.compliance.models import CharterSignature, Profile, Status, TrainingCompletion
from egide.console.compliance.queries import measure_views

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian chromium is not installed"),
]


def test_a_newcomer_completes_the_training_quiz_and_signs_the_charter(
    live_server: LiveServer,
) -> None:
    services.load_frameworks()
    practice = create_practice("Cabinet médical des Tilleuls", "tilleuls", "Lyon")
    Profile.objects.create(practice=practice, staff=True)
    secretary = create_member(
        practice,
        username="s.durand",
        password=PASSWORD,
        role=Role.SECRETARY,
        first_name="Sophie",
        last_name="Durand",
    )
    secret = generate_totp_secret()
    TOTP.activate(secretary, secret)
    course = training.load_course()
    base = str(live_server.url)
    with chromium() as browser:
        page = browser.new_page(locale="fr-FR", viewport={"width": 1200, "height": 900})
        sign_in(page, base, secretary.username, PASSWORD, pyotp.TOTP(secret).now)
        page.wait_for_selector("#bandeau-sensibilisation")
        assert "Bienvenue au cabinet" in page.inner_text("#bandeau-sensibilisation")
        assert page.locator("#carte-sauvegarde").is_visible()  # a banner, not a wall
        screenshot(page, "awareness-home-banner")

        page.click("#bandeau-formation")
        page.wait_for_selector("#quiz-form")
        for number, question in enumerate(course.quiz):
            # one wrong answer, to see the explanation of a mistake
            wrong = next(key for key, _ in question.choices if key != question.answer)
            choice = wrong if number == 0 else question.answer
            page.check(f'input[name="{question.id}"][value="{choice}"]')
        screenshot(page, "awareness-training-quiz")
        page.click("#valider-quiz")
        page.wait_for_selector("#quiz-reussi")
        total = len(course.quiz)
        assert page.inner_text("#score") == f"{total - 1}/{total}"
        assert "La bonne réponse" in page.content()
        screenshot(page, "awareness-quiz-result")

        page.click("#vers-charte")
        page.wait_for_selector("#signer-charte")
        shown_hash = page.inner_text("#charte-empreinte")
        assert "Journalisation des accès" in page.inner_text("#charte-texte")
        page.check("#id_accept")
        page.click("#signer")
        page.wait_for_selector("#charte-signee")
        assert "Sophie Durand" in page.inner_text("#charte-signee")
        screenshot(page, "awareness-charter-signed")

        page.goto(f"{base}/")
        page.wait_for_selector("#carte-sauvegarde")
        assert page.locator("#bandeau-sensibilisation").count() == 0
        page.goto(f"{base}/conformite/sensibilisation/")
        page.wait_for_selector("#equipe")
        screenshot(page, "awareness-team")

    completion = TrainingCompletion.objects.get(user=secretary)
    assert completion.passed and completion.score == total - 1
    signature = CharterSignature.objects.get(user=secretary)
    assert signature.sha256 == shown_hash == charter.latest_charter(practice).sha256  # type: ignore[union-attr]
    statuses = {view.ref: view.status for view in measure_views(practice)}
    assert statuses["RCM-SEN-1"] == Status.COMPLIANT  # the only member is trained
    assert statuses["RCM-SEN-2"] == statuses["RCM-TRA-2"] == Status.COMPLIANT
