"""The IT charter: generated from the practice, versioned by hash, signed once per version."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from egide.console.accounts.models import Practice, Role, User
from egide.console.audit.models import AuditEntry
from egide.console.compliance import charter
from egide.console.compliance.errors import InvalidInput
from egide.console.compliance.models import CharterSignature, CharterVersion, Profile

pytestmark = pytest.mark.django_db


def test_the_charter_names_the_practice_its_roles_the_tools_and_the_access_logs(
    practice: Practice, member: User, make_member: Callable[..., User]
) -> None:
    make_member(practice, "accueil", Role.SECRETARY)
    text = charter.charter_text(practice)
    assert practice.name.upper() in text and "Tours" in text
    assert "Secrétariat : les données administratives" in text
    assert "Remplaçant" not in text  # no locum in this practice
    for tool in ("second facteur", "messagerie sécurisée de santé", "sauvegarde", "journal"):
        assert tool in text.lower()
    assert "Journalisation des accès" in text
    assert charter.charter_text(practice) == text  # deterministic


def test_the_profile_changes_the_rules_and_so_the_version(practice: Practice, member: User) -> None:
    first = charter.current_charter(practice)
    assert charter.current_charter(practice) == first
    Profile.objects.create(practice=practice, laptop=True, remote_access=True)
    second = charter.current_charter(practice)
    assert second.number == first.number + 1 and second.sha256 != first.sha256
    assert "ordinateurs portables sont chiffrés" in second.text and "VPN" in second.text
    assert AuditEntry.objects.filter(action="compliance.charter_versioned").count() == 2


def test_a_signature_keeps_the_name_the_date_and_the_hash_of_the_exact_text(
    practice: Practice, member: User
) -> None:
    version = charter.current_charter(practice)
    signature = charter.sign_charter(practice, member, version.sha256)
    assert signature.sha256 == hashlib.sha256(version.text.encode("utf-8")).hexdigest()
    assert signature.signer_name == "Camille Durand"
    assert signature.signed_at is not None and signature.version == version
    entry = AuditEntry.objects.get(action="compliance.charter_signed")
    assert entry.details["sha256"] == version.sha256 and entry.actor_id == member.pk


def test_it_refuses_a_tampered_or_outdated_hash(practice: Practice, member: User) -> None:
    version = charter.current_charter(practice)
    tampered = ("0" if version.sha256[0] != "0" else "1") + version.sha256[1:]
    for wrong in (tampered, "", "not-a-hash"):
        with pytest.raises(InvalidInput, match="ne correspond pas"):
            charter.sign_charter(practice, member, wrong)
    assert not CharterSignature.objects.exists()


def test_it_refuses_to_sign_the_same_version_twice(practice: Practice, member: User) -> None:
    version = charter.current_charter(practice)
    charter.sign_charter(practice, member, version.sha256)
    with pytest.raises(InvalidInput, match="déjà signé"):
        charter.sign_charter(practice, member, version.sha256)
    assert CharterSignature.objects.count() == 1


def test_a_new_version_asks_for_a_new_signature(
    practice: Practice, member: User, make_member: Callable[..., User]
) -> None:
    first = charter.current_charter(practice)
    charter.sign_charter(practice, member, first.sha256)
    make_member(practice, "remplacante", Role.LOCUM)  # a new role: new rules in the text
    second = charter.current_charter(practice)
    assert second.number == 2 and "Remplaçant" in second.text
    assert charter.signature_of(member, second) is None
    with pytest.raises(InvalidInput, match="ne correspond pas"):
        charter.sign_charter(practice, member, first.sha256)  # the old text is not signable
    charter.sign_charter(practice, member, second.sha256)
    assert set(CharterSignature.objects.values_list("version__number", flat=True)) == {1, 2}


def test_a_member_of_another_practice_cannot_sign_and_versions_stay_per_practice(
    practice: Practice, member: User, make_member: Callable[..., User]
) -> None:
    other = Practice.objects.create(name="Cabinet des Ormes", slug="ormes")
    stranger = make_member(other, "intrus")
    version = charter.current_charter(practice)
    with pytest.raises(InvalidInput, match="membre actif"):
        charter.sign_charter(practice, stranger, version.sha256)
    theirs = charter.current_charter(other)
    assert theirs.number == 1 and "ORMES" in theirs.text and theirs.sha256 != version.sha256
    assert CharterVersion.objects.filter(practice=practice).count() == 1
