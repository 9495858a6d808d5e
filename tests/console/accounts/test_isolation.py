"""Tenant isolation: a member of one practice reaches nothing of another practice."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from egide.console.accounts.models import Practice, Role, User
from egide.console.audit.services import record

pytestmark = pytest.mark.django_db

SKIPPED_PREFIXES = ("admin/", "accounts/", "i18n/")


def parameterless_paths(
    patterns: list[URLPattern | URLResolver] | None = None, prefix: str = ""
) -> Iterator[str]:
    """Every console URL that takes no argument: new pages are covered without editing this test."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern)
        if route.startswith(SKIPPED_PREFIXES) or "<" in route or "(?P" in route:
            continue
        if isinstance(pattern, URLResolver):
            yield from parameterless_paths(pattern.url_patterns, route)
        else:
            yield "/" + route.lstrip("^").rstrip("$")


@pytest.fixture
def two_practices(
    make_practice: Callable[..., Practice], make_member: Callable[..., User]
) -> tuple[User, User]:
    alpha = make_practice("Cabinet Alpha", "alpha")
    beta = make_practice("Cabinet Bêta secret", "beta")
    member_a = make_member(alpha, "alice.alpha")
    member_b = make_member(beta, "bob.beta-secret", Role.COMPLIANCE_LEAD)
    record("document.downloaded", practice_id=beta.pk, actor=member_b.username, object_id="B-42")
    return member_a, member_b


def test_no_page_shows_anything_of_another_practice(two_practices: tuple[User, User]) -> None:
    member_a, _ = two_practices
    client = Client()
    client.force_login(member_a)
    paths = list(parameterless_paths())
    assert "/journal/" in paths and "/compte/" in paths
    for path in paths:
        response = client.get(path, follow=True)
        body = response.content.decode(errors="replace")
        for secret in ("Cabinet Bêta secret", "bob.beta-secret", "B-42"):
            assert secret not in body, f"{path} leaks {secret!r}"


def test_the_journal_shows_only_the_members_own_practice(two_practices: tuple[User, User]) -> None:
    member_a, member_b = two_practices
    client = Client()
    client.force_login(member_b)
    assert "B-42" in client.get("/journal/").content.decode()
    client.force_login(member_a)
    assert "B-42" not in client.get("/journal/").content.decode()


def test_operator_staff_manage_practices_but_cannot_open_a_practice_journal(
    two_practices: tuple[User, User], make_member: Callable[..., User]
) -> None:
    operator = make_member(None, "ops.dupont")
    client = Client()
    client.force_login(operator)
    assert "Cabinet Bêta secret" in client.get("/").content.decode()
    assert client.get("/journal/").status_code == 403
