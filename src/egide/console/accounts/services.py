"""Creating practices and people; the demo practice."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import transaction

from egide.console.audit import services as audit

from .models import Practice, Role, User

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
