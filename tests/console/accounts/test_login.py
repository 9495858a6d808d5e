"""Sign-in with password and second factor, throttling, lock-out and their audit."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from egide.console.accounts.models import Practice, User
from egide.console.audit.models import AuditEntry
from tests.conftest import PASSWORD, totp_now

pytestmark = pytest.mark.django_db


def sign_in(client: Client, user: User, password: str = PASSWORD) -> None:
    response = client.post(reverse("account_login"), {"login": user.username, "password": password})
    assert response.status_code == 302, response.content.decode()
    response = client.post(reverse("mfa_authenticate"), {"code": totp_now(user)})
    assert response.status_code == 302


def test_a_member_signs_in_with_password_and_totp_and_lands_on_the_french_home(
    client: Client, make_practice: Callable[..., Practice], make_member: Callable[..., User]
) -> None:
    member = make_member(make_practice("Cabinet des Lilas"), "dr.lilas")
    sign_in(client, member)
    page = client.get("/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Cabinet des Lilas" in text and "Sauvegarde" in text and "Conformité" in text
    assert AuditEntry.objects.filter(action="login.succeeded", actor_id=member.pk).exists()


def test_the_password_alone_does_not_open_the_console(
    client: Client, make_practice: Callable[..., Practice], make_member: Callable[..., User]
) -> None:
    member = make_member(make_practice(), "dr.sans-code")
    client.post(reverse("account_login"), {"login": member.username, "password": PASSWORD})
    response = client.get("/")
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_a_wrong_totp_code_is_refused_in_french_and_audited(
    client: Client, make_practice: Callable[..., Practice], make_member: Callable[..., User]
) -> None:
    member = make_member(make_practice(), "dr.erreur")
    client.post(reverse("account_login"), {"login": member.username, "password": PASSWORD})
    response = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert response.status_code == 200
    assert "Code incorrect" in response.content.decode()
    failure = AuditEntry.objects.get(action="login.failed", object_id=str(member.pk))
    assert failure.details["factor"] == "second"
    assert failure.practice_id == member.practice_id


def test_a_member_without_second_factor_must_enrol_one_first(
    client: Client, make_practice: Callable[..., Practice], make_member: Callable[..., User]
) -> None:
    member = make_member(make_practice(), "nouvelle.secretaire", with_totp=False)
    response = client.post(
        reverse("account_login"), {"login": member.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    home = client.get("/")
    assert home.status_code == 302 and home["Location"] == reverse("mfa_activate_totp")
    # allauth asks for the password again before any second-factor change.
    reauth = client.get(reverse("mfa_activate_totp"))
    assert reauth.status_code == 302 and reverse("account_reauthenticate") in reauth["Location"]
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    enrol = client.get(reverse("mfa_activate_totp"))
    assert enrol.status_code == 200
    assert "svg" in enrol.content.decode()  # the QR code to scan


def test_wrong_passwords_are_throttled_then_the_account_is_locked_and_audited(
    client: Client, make_practice: Callable[..., Practice], make_member: Callable[..., User]
) -> None:
    member = make_member(make_practice(), "dr.cible")
    for _ in range(5):
        response = client.post(
            reverse("account_login"), {"login": member.username, "password": "mauvais"}
        )
        assert "incorrect" in response.content.decode()
    locked = client.post(reverse("account_login"), {"login": member.username, "password": PASSWORD})
    assert locked.status_code == 200
    assert "Trop de tentatives" in locked.content.decode()
    assert client.get("/").status_code == 302  # still signed out, even with the right password
    assert AuditEntry.objects.filter(action="login.failed", object_id=str(member.pk)).count() == 5
    assert AuditEntry.objects.filter(action="login.locked", object_id=str(member.pk)).exists()


def test_the_session_expires_after_two_hours_without_activity(
    client: Client, make_practice: Callable[..., Practice], make_member: Callable[..., User]
) -> None:
    from django.conf import settings

    member = make_member(make_practice(), "dr.session")
    sign_in(client, member)
    assert settings.SESSION_COOKIE_AGE == 7200 and settings.SESSION_SAVE_EVERY_REQUEST
    assert client.session.get_expiry_age() == 7200
    session = client.session  # what the clock does after two idle hours:
    session.set_expiry(-1)
    session.save()
    assert client.get("/").status_code == 302


def test_the_console_is_available_in_english(
    client: Client, make_practice: Callable[..., Practice], make_member: Callable[..., User]
) -> None:
    member = make_member(make_practice("Cabinet des Lilas"), "dr.english")
    client.force_login(member)
    client.cookies["django_language"] = "en"
    text = client.get("/").content.decode()
    assert "Hello, Cabinet des Lilas" in text and "Backup" in text
