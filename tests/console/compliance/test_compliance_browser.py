"""A practitioner walks through the first assessment in Chromium and downloads the dossier."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from pytest_django.live_server_helper import LiveServer

from egide.console.accounts.models import Practice, User
from egide.console.compliance import services

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed"),
]


def test_the_first_assessment_and_the_dossier_download_in_a_browser(
    live_server: LiveServer, make_member: Callable[..., User], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls made here by the
    # fixtures are synchronous and safe.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    services.load_frameworks()
    practice = Practice.objects.create(name="Cabinet des Glycines", slug="glycines")
    user = make_member(practice, "bernard")
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    base = str(live_server.url)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        context = browser.new_context(accept_downloads=True, locale="fr-FR")
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": base}])
        page = context.new_page()
        page.goto(f"{base}/conformite/")
        page.click("#commencer-evaluation")
        page.select_option("#id_profession", "masseur_kinesitherapeute")
        page.check("#id_laptop")
        page.click("#continuer")
        answers = ["oui", "ne_sait_pas", "en_partie", "oui", "non"]
        steps = 0
        while "/evaluation/" in page.url:
            steps += 1
            assert page.locator("#question").inner_text().endswith("?")
            if steps == 1:
                page.screenshot(path=str(ARTIFACTS / "compliance-assessment-question.png"))
            page.check(f'input[name="answer"][value="{answers[steps % len(answers)]}"]')
            page.click("#suivant")
            assert steps < 80
        assert page.url.endswith("/conformite/")
        assert "Évaluation terminée" in page.content()
        score = int(page.locator("#score-global").inner_text())
        assert 0 < score < 100
        page.screenshot(path=str(ARTIFACTS / "compliance-dashboard.png"), full_page=True)
        page.goto(f"{base}/conformite/dossier/")
        with page.expect_download() as download_info:
            page.click("#dossier-pdf")
        target = tmp_path / "dossier.pdf"
        download_info.value.save_as(target)
        assert target.read_bytes().startswith(b"%PDF-")
        page.screenshot(path=str(ARTIFACTS / "compliance-dossier-page.png"))
        shutil.copy(target, ARTIFACTS / "compliance-dossier.pdf")
        browser.close()
    assert 30 < steps < 60
