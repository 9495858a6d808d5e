"""Shared fixtures: practices, members with a second factor, fast password hashing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

from egide.console.accounts.models import Practice, Role, User
from egide.console.accounts.services import create_member, create_practice

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # Throttling counters and used TOTP codes live in the cache: start each test clean.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def frameworks(db: None) -> None:
    """The CNIL référentiel loaded from the real framework files, as `egide demo` does."""
    from egide.console.compliance import services

    services.load_frameworks()


@pytest.fixture
def make_practice(db: None) -> Callable[..., Practice]:
    counter = iter(range(1, 1000))

    def make(name: str | None = None, slug: str | None = None) -> Practice:
        number = next(counter)
        return create_practice(name or f"Cabinet {number}", slug or f"cabinet-{number}", "Lyon")

    return make


@pytest.fixture
def make_member(db: None) -> Callable[..., User]:
    def make(
        practice: Practice | None,
        username: str,
        role: Role = Role.PRACTITIONER,
        *,
        with_totp: bool = True,
    ) -> User:
        if practice is None:
            user = User.objects.create_user(
                username=username, password=PASSWORD, role=Role.OPERATOR
            )
        else:
            user = create_member(practice, username=username, password=PASSWORD, role=role)
        if with_totp:
            secret = generate_totp_secret()
            TOTP.activate(user, secret)
            user.totp_secret = secret  # type: ignore[attr-defined]  # for tests only
        return user

    return make


def totp_now(user: User) -> str:
    secret: str = user.totp_secret  # type: ignore[attr-defined]
    return pyotp.TOTP(secret).now()
