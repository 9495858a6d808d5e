"""The IT charter (charte informatique, measure RCM-SEN-2; it also informs users of the access
logs, RCM-TRA-2): generated from the practice's settings, versioned, signed by each member.

The text is rendered from `compliance/awareness/charter.txt` with the practice's name, the roles
of its members and its profile (laptop, smartphone, remote access, Wi-Fi). When the rendered text
changes, it becomes a new version with a new SHA-256, and every member must sign again. A
signature stores the signer's name, the date and the hash of the exact text signed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from egide.console.accounts.models import PRACTICE_ROLES, Practice, Role, User
from egide.console.audit.services import record

from .errors import InvalidInput
from .models import CharterSignature, CharterVersion
from .queries import profile_of


@dataclass(frozen=True)
class RoleRule:
    label: str
    scope: str


# What each role may see, in the order the charter lists them.
ROLE_SCOPES: dict[str, str] = {
    Role.PRACTITIONER: "les dossiers des patients qu'il ou elle prend en charge",
    Role.LOCUM: "les dossiers des patients vus pendant le remplacement, pour sa durée",
    Role.SECRETARY: (
        "les données administratives (identité, coordonnées, rendez-vous, facturation), "
        "pas le contenu médical des dossiers"
    ),
    Role.COMPLIANCE_LEAD: (
        "les registres, le journal des accès et l'état de conformité, pas le contenu médical"
    ),
}


def active_members(practice: Practice) -> list[User]:
    return list(
        User.objects.filter(practice=practice, is_active=True, role__in=PRACTICE_ROLES).order_by(
            "last_name", "first_name", "username"
        )
    )


@translation.override("fr")  # a French document, hashed: never in the reader's language
def charter_text(practice: Practice) -> str:
    """The charter as it reads today for `practice` (deterministic: same settings, same text)."""
    present = {member.role for member in active_members(practice)}
    roles = [
        RoleRule(str(Role(role).label), scope)
        for role, scope in ROLE_SCOPES.items()
        if role in present
    ] or [RoleRule(str(Role.PRACTITIONER.label), ROLE_SCOPES[Role.PRACTITIONER])]
    labels = [rule.label.lower() for rule in roles]
    sentence = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " et " + labels[-1]
    text = render_to_string(
        "compliance/awareness/charter.txt",
        {
            "practice": practice,
            "profile": profile_of(practice),
            "roles": roles,
            "roles_sentence": sentence,
        },
    )
    return text.strip() + "\n"


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def current_charter(practice: Practice, user: User | None = None) -> CharterVersion:
    """The version matching today's text, created (and audited) when the text has changed."""
    text = charter_text(practice)
    digest = text_hash(text)
    with transaction.atomic():
        last = (
            CharterVersion.objects.select_for_update()
            .filter(practice=practice)
            .order_by("-number")
            .first()
        )
        if last is not None and last.sha256 == digest:
            return last
        version = CharterVersion.objects.create(
            practice=practice, number=(last.number + 1) if last else 1, text=text, sha256=digest
        )
        record(
            "compliance.charter_versioned",
            practice_id=practice.pk,
            actor_id=user.pk if user else None,
            actor=user.username if user else "system",
            object_type="charter",
            object_id=version.number,
            details={"sha256": digest},
        )
    return version


def latest_charter(practice: Practice) -> CharterVersion | None:
    return CharterVersion.objects.filter(practice=practice).order_by("-number").first()


def sign_charter(practice: Practice, user: User, signed_sha256: str) -> CharterSignature:
    """`user` signs the current version; `signed_sha256` is the hash of the text they were shown.

    A hash that is not the current version's (text changed meanwhile, or a tampered form) and a
    second signature of the same version are refused.
    """
    if user.practice_id != practice.pk or not user.is_active:
        raise InvalidInput("Seul un membre actif du cabinet peut signer sa charte.")
    version = current_charter(practice, user)
    if signed_sha256.strip().lower() != version.sha256:
        raise InvalidInput(
            "Le texte signé ne correspond pas à la version en vigueur de la charte : "
            "relisez la charte affichée puis signez de nouveau."
        )
    if CharterSignature.objects.filter(version=version, user=user).exists():
        raise InvalidInput(f"Vous avez déjà signé la version {version.number} de la charte.")
    try:
        with transaction.atomic():
            signature = CharterSignature.objects.create(
                practice=practice,
                version=version,
                user=user,
                signer_name=user.get_full_name() or user.username,
                sha256=version.sha256,
                signed_at=timezone.now(),
            )
            record(
                "compliance.charter_signed",
                practice_id=practice.pk,
                actor_id=user.pk,
                actor=user.username,
                object_type="charter",
                object_id=version.number,
                details={"sha256": version.sha256, "signature_id": signature.pk},
            )
    except IntegrityError:  # a double submit racing the check above
        raise InvalidInput(
            f"Vous avez déjà signé la version {version.number} de la charte."
        ) from None
    return signature


def signature_of(user: User, version: CharterVersion | None) -> CharterSignature | None:
    if version is None:
        return None
    return CharterSignature.objects.filter(version=version, user=user).first()
