"""Fixtures of the compliance tests: the real framework files, practices and signed-in users."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from allauth.mfa.models import Authenticator
from django.test import Client

from egide.console.accounts.models import Practice, Role, User
from egide.console.compliance import services


@pytest.fixture
def frameworks(db: None) -> None:
    services.load_frameworks()


@pytest.fixture
def make_member(db: None) -> Callable[..., User]:
    def make(practice: Practice, username: str, role: Role = Role.PRACTITIONER) -> User:
        user = User.objects.create_user(
            username=username,
            password=None,  # unusable: tests sign in with force_login, no slow hashing
            practice=practice,
            role=role,
            first_name="Camille",
            last_name=username.capitalize(),
        )
        # The console refuses users without a second factor; the middleware only checks that
        # one is enrolled, so a TOTP authenticator row is enough for the test client.
        Authenticator.objects.create(
            user=user, type=Authenticator.Type.TOTP, data={"secret": "JBSWY3DPEHPK3PXP"}
        )
        return user

    return make


@pytest.fixture
def practice(db: None) -> Practice:
    return Practice.objects.create(name="Cabinet des Tilleuls", slug="tilleuls", city="Tours")


@pytest.fixture
def member(practice: Practice, make_member: Callable[..., User]) -> User:
    return make_member(practice, "durand")


@pytest.fixture
def client_of(member: User) -> Client:
    client = Client()
    client.force_login(member)
    return client
