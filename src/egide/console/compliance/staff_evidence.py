"""Where the team stands on training and charter, and the platform evidence it gives.

RCM-SEN-1 (staff trained): «conforme» when every active member holds a valid training
completion, «partiel» when some do, «non conforme» when nobody does. RCM-SEN-2 (charter signed)
and RCM-TRA-2 (users told about the access logs, section 7 of the charter) follow the
signatures of the charter's current version the same way. The evidence is recorded when the
situation changes (a completion, a signature, the nightly refresh that notices a new member or a
new charter text), never twice for the same facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.utils import timezone

from egide.console.accounts.models import Practice, User
from egide.console.audit.services import record

from . import charter, training
from .models import CharterSignature, CharterVersion, Evidence, EvidenceKind, EvidenceResult
from .queries import current_framework, profile_of
from .services import measure_or_refuse

SOURCE = "parcours Égide"
PARTIAL_VALIDITY = timedelta(days=7)  # a gap is re-observed nightly; it expires if nobody looks
RENEW_BEFORE = timedelta(days=2)
GRACE = timedelta(days=14)  # a newcomer's time to train and sign before it becomes a finding
LOGS_SECTION = "Journalisation des accès"  # the charter section that informs users (RCM-TRA-2)


@dataclass(frozen=True)
class MemberAwareness:
    user: User
    training: training.TrainingStatus
    signature: CharterSignature | None

    @property
    def signed(self) -> bool:
        return self.signature is not None


def team_status(practice: Practice, version: CharterVersion | None) -> list[MemberAwareness]:
    return [
        MemberAwareness(
            member, training.training_status(member), charter.signature_of(member, version)
        )
        for member in charter.active_members(practice)
    ]


def _result(done: int, total: int) -> EvidenceResult:
    if total and done == total:
        return EvidenceResult.PASS
    return EvidenceResult.PARTIAL if done else EvidenceResult.FAIL


def record_platform_evidence(
    practice: Practice,
    measure_id: str,
    result: EvidenceResult,
    observed: dict[str, Any],
    valid_until: datetime,
) -> Evidence | None:
    """Record evidence produced by Égide's own workflows, unless the latest says the same."""
    measure_or_refuse(measure_id)
    now = timezone.now()
    latest = Evidence.objects.filter(
        practice=practice, ref=measure_id, kind=EvidenceKind.PLATFORM
    ).first()
    # A pass lasts until the first completion or signature expires: same end, same proof.
    # A gap is re-observed with a rolling end: extend it only when it is about to lapse.
    same_facts = latest is not None and (latest.result, latest.observed) == (result, observed)
    if (
        same_facts
        and latest is not None
        and (
            latest.valid_until == valid_until
            or (result != EvidenceResult.PASS and latest.valid_until > now + RENEW_BEFORE)
        )
    ):
        return None
    evidence = Evidence.objects.create(
        practice=practice,
        ref=measure_id,
        kind=EvidenceKind.PLATFORM,
        result=result,
        observed=observed,
        source=SOURCE,
        observed_at=now,
        valid_until=valid_until,
    )
    record(
        "compliance.evidence_recorded",
        practice_id=practice.pk,
        actor=SOURCE,
        object_type="measure",
        object_id=measure_id,
        details={"result": result.value, "evidence_id": evidence.pk, "kind": "plateforme"},
    )
    return evidence


def refresh_staff_evidence(practice: Practice) -> list[Evidence]:
    """Recompute RCM-SEN-1, RCM-SEN-2 and RCM-TRA-2 from the team; record what changed."""
    if current_framework() is None:
        return []
    now = timezone.now()
    version = charter.current_charter(practice)
    team = team_status(practice, version)
    course = training.load_course()
    trained = [
        item.training.valid_until
        for item in team
        if item.training.valid and item.training.valid_until is not None
    ]
    signed = [item.signature.signed_at for item in team if item.signature is not None]
    recorded = []
    result = _result(len(trained), len(team))
    until = min(trained) if result == EvidenceResult.PASS else now + PARTIAL_VALIDITY
    observed = {
        "members": len(team),
        "trained": len(trained),
        "course": f"{course.code}@{course.version}",
    }
    recorded.append(record_platform_evidence(practice, "RCM-SEN-1", result, observed, until))
    result = _result(len(signed), len(team))
    refs = ["RCM-SEN-2"] + (["RCM-TRA-2"] if LOGS_SECTION in version.text else [])
    observed = {
        "members": len(team),
        "signed": len(signed),
        "charter_version": version.number,
        "sha256": version.sha256,
    }
    for ref in refs:
        days = measure_or_refuse(ref).renewal_days
        until = (
            min(signed) + timedelta(days=days)
            if result == EvidenceResult.PASS
            else now + PARTIAL_VALIDITY
        )
        recorded.append(record_platform_evidence(practice, ref, result, observed, until))
    return [item for item in recorded if item is not None]


class Gap(NamedTuple):
    """A person's missing training or signature; the fields of a compliance `Finding`."""

    ref: str
    kind: str
    message: str
    deadline: datetime
    object_type: str
    object_id: str


def awareness_gaps(practice: Practice) -> list[Gap]:
    """Members to train (or retrain within a month) and members to sign the charter."""
    if not profile_of(practice).staff:
        return []  # RCM-SEN-1/2 apply to practices with staff or locums only
    version = charter.latest_charter(practice)
    gaps = []
    for item in team_status(practice, version):
        name = str(item.user)
        joined = item.user.date_joined
        status = item.training
        if status.latest is None:
            gaps.append(
                Gap(
                    "RCM-SEN-1",
                    "formation_a_suivre",
                    f"Formation de sensibilisation à suivre : {name}.",
                    joined + GRACE,
                    "user",
                    str(item.user.pk),
                )
            )
        elif status.to_renew and status.valid_until is not None:
            gaps.append(
                Gap(
                    "RCM-SEN-1",
                    "formation_a_renouveler",
                    f"Formation de sensibilisation de {name} à renouveler avant le "
                    f"{timezone.localtime(status.valid_until).strftime('%d/%m/%Y')}.",
                    status.valid_until,
                    "user",
                    str(item.user.pk),
                )
            )
        if version is not None and not item.signed:
            start = max(joined, version.created_at)
            gaps.append(
                Gap(
                    "RCM-SEN-2",
                    "charte_a_signer",
                    f"Charte informatique (version {version.number}) à signer : {name}.",
                    start + GRACE,
                    "user",
                    str(item.user.pk),
                )
            )
    return gaps


def home_prompt(user: User) -> dict[str, Any]:
    """The gentle banner of the home page: what this person still has to do, if anything."""
    if user.practice is None:
        return {}
    status = training.training_status(user)
    version = charter.latest_charter(user.practice)
    signed = charter.signature_of(user, version)
    needs_signature = signed is None or signed.sha256 != charter.text_hash(
        charter.charter_text(user.practice)
    )
    needs_training = not status.valid or status.to_renew
    if not (needs_training or needs_signature):
        return {}
    return {
        "training": status.label if needs_training else "",
        "charter": needs_signature,
        "welcome": status.latest is None and user.date_joined > timezone.now() - timedelta(days=30),
        "minutes": training.load_course().reading_minutes,
    }
