"""In a real browser: a practitioner writes to a colleague, who reads it (screenshots kept)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_django.live_server_helper import LiveServer

from egide.console.accounts.models import Practice, User
from egide.console.inbox import services
from egide.console.inbox.models import MailboxKind
from tests.browser import chromium, screenshot, sign_in
from tests.conftest import PASSWORD, totp_now

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_message_is_sent_and_read_through_the_web_inbox(
    live_server: LiveServer,
    make_practice: Callable[..., Practice],
    make_member: Callable[..., User],
) -> None:
    practice = make_practice("Cabinet médical des Tilleuls", "tilleuls")
    doctor, physio = make_member(practice, "dr.martin"), make_member(practice, "k.bernard")
    services.create_mailbox(
        practice,
        address="claire.martin@tilleuls.egide.test",
        kind=MailboxKind.PERSONAL,
        display_name="Dr Claire Martin",
        owner=doctor,
    )
    services.create_mailbox(
        practice,
        address="karim.bernard@tilleuls.egide.test",
        kind=MailboxKind.PERSONAL,
        display_name="Karim Bernard",
        owner=physio,
    )
    with chromium() as browser:
        page = browser.new_page(locale="fr-FR")
        sign_in(page, live_server.url, doctor.username, PASSWORD, lambda: totp_now(doctor))
        page.goto(f"{live_server.url}/messagerie/nouveau")
        page.fill("input[name=to]", "karim")  # the directory suggests as the secretary types
        page.wait_for_selector("#annuaire option", state="attached")
        suggested = page.get_attribute("#annuaire option", "value")
        assert suggested == "karim.bernard@tilleuls.egide.test"
        page.fill("input[name=to]", suggested)
        page.fill("input[name=subject]", "Bilan kinésithérapique de Mme Dupont")
        page.fill("textarea[name=body]", "Bonjour, merci de me transmettre le bilan. Cordialement.")
        screenshot(page, "inbox-compose")
        page.click("button:has-text('Envoyer')")
        page.wait_for_selector("text=Message envoyé.")
        screenshot(page, "inbox-sent")

        reader = browser.new_page(locale="fr-FR")
        sign_in(reader, live_server.url, physio.username, PASSWORD, lambda: totp_now(physio))
        reader.click("nav >> text=Messagerie")
        reader.wait_for_selector("span.count")
        reader.click("text=Bilan kinésithérapique de Mme Dupont")
        reader.wait_for_selector("article.message")
        assert "merci de me transmettre le bilan" in reader.inner_text("article.message")
        screenshot(reader, "inbox-read")
