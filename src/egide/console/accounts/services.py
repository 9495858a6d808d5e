"""Creating practices and people; the demo practice."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from egide.console.audit import services as audit

from . import tokens
from .models import ApiToken, Practice, Role, User

DEMO_SLUG = "tilleuls"


@dataclass(frozen=True)
class DemoPerson:
    username: str
    first_name: str
    last_name: str
    role: Role
    profession: str
    rpps: str


# RPPS numbers in the ANS test range (997…), with a valid Luhn key.
DEMO_PEOPLE = (
    DemoPerson(
        "dr.martin", "Claire", "Martin", Role.PRACTITIONER, "Médecin généraliste", "99700000013"
    ),
    DemoPerson(
        "k.bernard",
        "Karim",
        "Bernard",
        Role.PRACTITIONER,
        "Masseur-kinésithérapeute",
        "99700000021",
    ),
    DemoPerson("secretariat", "Sophie", "Durand", Role.SECRETARY, "Secrétaire médicale", ""),
)


@transaction.atomic
def create_practice(name: str, slug: str, city: str = "", *, by: User | None = None) -> Practice:
    """Create a practice and open its audit chain with the creation event."""
    practice = Practice.objects.create(name=name, slug=slug, city=city)
    audit.record(
        "practice.created",
        practice_id=practice.pk,
        actor_id=by.pk if by else None,
        actor=by.username if by else "system",
        object_type="practice",
        object_id=practice.pk,
        details={"slug": slug},
    )
    return practice


@transaction.atomic
def create_member(
    practice: Practice,
    *,
    username: str,
    password: str,
    role: Role,
    first_name: str = "",
    last_name: str = "",
    profession: str = "",
    rpps: str = "",
    by: User | None = None,
) -> User:
    """Create a user of `practice`; validation errors name the field to correct."""
    user = User(
        username=username,
        practice=practice,
        role=role,
        first_name=first_name,
        last_name=last_name,
        profession=profession,
        rpps=rpps,
    )
    user.set_password(password)
    user.full_clean()
    user.save()
    audit.record(
        "user.created",
        practice_id=practice.pk,
        actor_id=by.pk if by else None,
        actor=by.username if by else "system",
        object_type="user",
        object_id=user.pk,
        details={"role": str(role)},
    )
    return user


def create_demo() -> dict[str, str] | None:
    """Create «Cabinet médical des Tilleuls» when absent; return the new logins, else None."""
    if Practice.objects.filter(slug=DEMO_SLUG).exists():
        return None
    credentials: dict[str, str] = {}
    with transaction.atomic():
        practice = create_practice("Cabinet médical des Tilleuls", DEMO_SLUG, "Lyon")
        for person in DEMO_PEOPLE:
            password = secrets.token_urlsafe(12)
            create_member(
                practice,
                username=person.username,
                password=password,
                role=person.role,
                first_name=person.first_name,
                last_name=person.last_name,
                profession=person.profession,
                rpps=person.rpps,
            )
            credentials[person.username] = password
    return credentials


API_TOKEN_PREFIX = "egide-api"  # noqa: S105 - a public label, not a secret


@transaction.atomic
def create_api_token(user: User, name: str) -> tuple[ApiToken, str]:
    """An application password for `user`; the token is returned once and never stored."""
    token, key_id, secret_hash = tokens.new_token(API_TOKEN_PREFIX)
    api_token = ApiToken.objects.create(
        user=user, name=name, key_id=key_id, secret_hash=secret_hash
    )
    audit.record(
        "api_token.created",
        practice_id=user.practice_id,
        actor_id=user.pk,
        actor=user.username,
        object_type="api_token",
        object_id=api_token.pk,
        details={"name": name},
    )
    return api_token, token


def revoke_api_token(api_token: ApiToken, *, by: User) -> None:
    api_token.revoked_at = timezone.now()
    api_token.save(update_fields=["revoked_at"])
    audit.record(
        "api_token.revoked",
        practice_id=by.practice_id,
        actor_id=by.pk,
        actor=by.username,
        object_type="api_token",
        object_id=api_token.pk,
    )


def audit_session(action: str, user: User, *, ip: str | None, channel: str = "") -> None:
    """Audit a sign-in or sign-out of `user` (`channel` names a way in other than the web)."""
    audit.record(
        action,
        practice_id=user.practice_id,
        actor_id=user.pk,
        actor=user.username,
        object_type="user",
        object_id=user.pk,
        ip=ip,
        details={"channel": channel} if channel else None,
    )


def user_for_secret(key_id: str, secret: str, *, ip: str | None, channel: str) -> User | None:
    """The active user owning this application password, or None (the refusal is audited)."""
    api_token = ApiToken.objects.select_related("user").filter(key_id=key_id).first()
    if (
        api_token is not None
        and api_token.revoked_at is None
        and api_token.user.is_active
        and tokens.secret_matches(secret, api_token.secret_hash)
    ):
        ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=timezone.now())
        return api_token.user
    audit.record(
        "api_token.refused",
        practice_id=api_token.user.practice_id if api_token else None,
        object_type="api_token",
        object_id=api_token.pk if api_token else "",
        ip=ip,
        details={"channel": channel},
    )
    return None


def user_for_request(request: HttpRequest) -> User | None:
    """The user named by an `Authorization: Bearer egide-api.…` header, or None (audited)."""
    parts = tokens.bearer(request, API_TOKEN_PREFIX)
    if parts is None:
        audit.record(
            "api_token.refused",
            practice_id=None,
            ip=audit.client_ip(request),
            details={"channel": "api", "reason": "malformed"},
        )
        return None
    return user_for_secret(*parts, ip=audit.client_ip(request), channel="api")
