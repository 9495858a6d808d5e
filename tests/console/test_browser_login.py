"""A person signs in with password and TOTP in a real browser, sees the French home, signs out."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_django.live_server_helper import LiveServer

from egide.console.accounts.models import Practice, User
from tests.browser import chromium, screenshot, sign_in
from tests.conftest import PASSWORD, totp_now

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_with_totp_lands_on_the_french_home_then_sign_out(
    live_server: LiveServer,
    make_practice: Callable[..., Practice],
    make_member: Callable[..., User],
) -> None:
    member = make_member(make_practice("Cabinet médical des Tilleuls", "tilleuls"), "dr.martin")
    with chromium() as browser:
        page = browser.new_page(locale="fr-FR")
        page.goto(f"{live_server.url}/")
        assert "Connexion" in page.content() and "enregistrer" not in page.content()
        screenshot(page, "login-page")
        sign_in(page, live_server.url, member.username, PASSWORD, lambda: totp_now(member))
        page.wait_for_selector("#carte-sauvegarde")
        assert page.locator("h1").inner_text() == "Bonjour, Cabinet médical des Tilleuls"
        assert page.locator("html").get_attribute("lang") == "fr"
        for card in ("Messagerie", "Sauvegarde", "Conformité"):
            assert page.get_by_role("heading", name=card).is_visible()
        screenshot(page, "home-after-login")
        page.click("text=Se déconnecter")
        page.wait_for_selector("input[name=login]")
        assert page.url.endswith("/accounts/login/") or "login" in page.url
        screenshot(page, "after-logout")
