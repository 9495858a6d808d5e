"""Use cases of the compliance desk: framework import, evidence, attestations, documents,
assessment and living status. Every change is written to the audit trail (never content).

`record_evidence` is the single entry point through which the other pillars (backups, messaging,
the workstation agent, external checks) report what they observed.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from egide.console.accounts.models import Practice, User
from egide.console.audit.services import record

from . import framework_file, upload
from .errors import InvalidInput, UnknownMeasure, UploadRefused
from .framework_file import FrameworkFileError, FrameworkSpec
from .models import (
    Answer,
    Assessment,
    Document,
    Evidence,
    EvidenceKind,
    EvidenceResult,
    Framework,
    Measure,
    MeasureState,
    Profile,
    ScoreSnapshot,
    Status,
)
from .queries import current_framework, scores

FRAMEWORKS_DIR = Path(__file__).resolve().parent / "frameworks"

# The guided assessment's answers, in plain French, and the status each one declares.
ANSWERS: dict[str, tuple[str, Status]] = {
    "oui": ("Oui", Status.COMPLIANT),
    "en_partie": ("En partie", Status.PARTIAL),
    "non": ("Non", Status.NON_COMPLIANT),
    "sans_objet": ("Ne me concerne pas", Status.NOT_APPLICABLE),
    "ne_sait_pas": ("Je ne sais pas", Status.UNVERIFIED),
}


# --- Frameworks ------------------------------------------------------------------------------


def load_frameworks(directory: Path = FRAMEWORKS_DIR) -> list[tuple[Framework, bool]]:
    """Validate every file of `directory`, then import the versions not yet in the database.

    A version already loaded with the same bytes is skipped; with different bytes it is refused
    (a published version never changes: give the new text a new version number). Older versions
    stay in the database so past assessments keep pointing at the measures they answered.
    """
    specs, _catalogues = framework_file.read_directory(directory)
    results: list[tuple[Framework, bool]] = []
    with transaction.atomic():
        for spec in specs:
            existing = Framework.objects.filter(code=spec.code, version=spec.version).first()
            if existing is not None:
                if existing.file_sha256 != spec.sha256:
                    raise FrameworkFileError(
                        spec.path,
                        1,
                        f"la version {spec.version} de {spec.code} est déjà chargée avec un autre "
                        "contenu : changez le numéro de version",
                    )
                results.append((existing, False))
                continue
            results.append((_create_framework(spec), True))
    return results


def _create_framework(spec: FrameworkSpec) -> Framework:
    Framework.objects.filter(code=spec.code).update(is_current=False)
    framework = Framework.objects.create(
        code=spec.code,
        version=spec.version,
        title=spec.title,
        source=spec.source,
        file_sha256=spec.sha256,
        is_current=True,
        themes=[{"id": theme_id, "title": title} for theme_id, title in spec.themes],
    )
    Measure.objects.bulk_create(
        Measure(
            framework=framework,
            ref=measure.id,
            position=position,
            theme=measure.theme,
            title=measure.title,
            explanation=measure.explanation,
            question=measure.question,
            conditional=measure.conditional,
            to_verify=measure.to_verify,
            applies_if=list(measure.applies_if),
            evidence_modes=list(measure.evidence),
            renewal_days=measure.renewal_days,
            guide_2024=list(measure.guide_2024),
        )
        for position, measure in enumerate(spec.measures, start=1)
    )
    record(
        "compliance.framework_loaded",
        practice_id=None,
        actor="system",
        object_type="framework",
        object_id=f"{spec.code}@{spec.version}",
        details={"measures": len(spec.measures), "sha256": spec.sha256},
    )
    return framework


def measure_or_refuse(measure_id: str) -> Measure:
    framework = current_framework()
    measure = (
        Measure.objects.filter(framework=framework, ref=measure_id).first() if framework else None
    )
    if measure is None:
        raise UnknownMeasure(f"La mesure « {measure_id} » n'existe pas dans le référentiel actuel.")
    return measure


# --- Evidence --------------------------------------------------------------------------------


def record_evidence(
    practice: Practice,
    measure_id: str,
    status: EvidenceResult | str,
    observed: dict[str, Any],
    source: str,
    valid_until: datetime,
    *,
    observed_at: datetime | None = None,
    kind: EvidenceKind = EvidenceKind.AUTOMATIC,
) -> Evidence:
    """Record one automatic observation about a measure (the pillars' single entry point).

    `status` is pass / partial / fail / not_applicable; `observed` holds small facts (counts,
    versions, ages), never health data; `valid_until` is when the observation stops proving
    anything: after it the measure decays to «non vérifié» until a fresh report arrives.
    The compliance desk's own workflows (register, processors) use `kind=PLATFORM`.
    """
    measure_or_refuse(measure_id)
    _check_observed(observed)
    try:
        result = EvidenceResult(status)
    except ValueError:
        raise InvalidInput(f"Résultat de preuve inconnu : « {status} ».") from None
    moment = observed_at or timezone.now()
    if valid_until <= moment:
        raise InvalidInput("La fin de validité d'une preuve doit suivre son observation.")
    if not source.strip():
        raise InvalidInput("Indiquez la source de la preuve.")
    evidence = Evidence.objects.create(
        practice=practice,
        ref=measure_id,
        kind=kind,
        result=result,
        observed=dict(observed),
        source=source.strip()[:120],
        observed_at=moment,
        valid_until=valid_until,
    )
    record(
        "compliance.evidence_recorded",
        practice_id=practice.pk,
        actor=source[:120],
        object_type="measure",
        object_id=measure_id,
        details={"result": result.value, "evidence_id": evidence.pk, "kind": kind.value},
    )
    return evidence


# Observations are facts about machines and processes (ages, counts, versions), never content.
_OBSERVED_FORBIDDEN = {"body", "content", "subject", "patient", "password", "passphrase", "text"}
_OBSERVED_MAX_BYTES = 4096


def _check_observed(observed: dict[str, Any]) -> None:
    try:
        size = len(json.dumps(observed, ensure_ascii=False).encode("utf-8"))
    except (TypeError, ValueError):
        raise InvalidInput("Les observations doivent être des valeurs simples (JSON).") from None
    if size > _OBSERVED_MAX_BYTES:
        raise InvalidInput("Observations trop volumineuses : gardez des compteurs et des dates.")
    leaked = _OBSERVED_FORBIDDEN & {str(key).lower() for key in observed}
    if leaked:
        raise InvalidInput(f"Observations refusées : clé(s) de contenu {sorted(leaked)}.")


def _end_of_day(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(23, 59, 59)))


def refuse_past(day: date | None, what: str) -> None:
    if day is not None and day < timezone.localdate():
        raise InvalidInput(f"{what} est dans le passé : choisissez une date à venir.")


def sign_attestation(
    practice: Practice, user: User, measure_id: str, statement: str, renewal_on: date
) -> Evidence:
    """A named user attests a measure until `renewal_on`, when it must be attested again."""
    measure_or_refuse(measure_id)
    if user.practice_id != practice.pk:
        raise InvalidInput("Seul un membre du cabinet peut signer une attestation.")
    refuse_past(renewal_on, "La date de renouvellement")
    if renewal_on == timezone.localdate():
        raise InvalidInput("La date de renouvellement doit être postérieure à aujourd'hui.")
    if not statement.strip():
        raise InvalidInput("Écrivez ce que vous attestez.")
    evidence = Evidence.objects.create(
        practice=practice,
        ref=measure_id,
        kind=EvidenceKind.ATTESTATION,
        result=EvidenceResult.PASS,
        source="attestation",
        observed_at=timezone.now(),
        valid_until=_end_of_day(renewal_on),
        signed_by=user,
        signer_name=user.get_full_name() or user.username,
        statement=statement.strip(),
    )
    record(
        "compliance.attestation_signed",
        practice_id=practice.pk,
        actor_id=user.pk,
        actor=user.username,
        object_type="measure",
        object_id=measure_id,
        details={"evidence_id": evidence.pk, "renewal_on": renewal_on.isoformat()},
    )
    return evidence


def document_path(document: Document) -> Path:
    return Path(settings.DATA_DIR) / "compliance" / str(document.practice_id) / document.sha256


def store_document(
    practice: Practice,
    user: User | None,
    content: bytes,
    *,
    filename: str,
    title: str,
    document_date: date,
    expires_on: date | None = None,
    measure_id: str | None = None,
) -> Document:
    """Check, hash and store an uploaded document; link it as evidence to a measure if given."""
    try:
        checked = upload.inspect(content)
    except upload.UploadProblem as problem:
        raise UploadRefused(str(problem)) from None
    if document_date > timezone.localdate():
        raise InvalidInput("La date du document ne peut pas être dans le futur.")
    refuse_past(expires_on, "La date d'expiration")
    measure = measure_or_refuse(measure_id) if measure_id else None
    digest = hashlib.sha256(content).hexdigest()
    with transaction.atomic():
        document = Document.objects.create(
            practice=practice,
            title=title.strip()[:200] or filename,
            filename=Path(filename).name[:255] or f"document{checked.extension}",
            content_type=checked.content_type,
            size=checked.size,
            sha256=digest,
            document_date=document_date,
            expires_on=expires_on,
            uploaded_by=user,
        )
        path = document_path(document)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_bytes(content)
        if measure is not None:
            until = expires_on or document_date + timedelta(days=measure.renewal_days)
            Evidence.objects.create(
                practice=practice,
                ref=measure.ref,
                kind=EvidenceKind.DOCUMENT,
                result=EvidenceResult.PASS,
                source="document",
                observed_at=timezone.now(),
                valid_until=_end_of_day(until),
                document=document,
                signed_by=user,
                signer_name=(user.get_full_name() or user.username) if user else "",
            )
        record(
            "compliance.document_stored",
            practice_id=practice.pk,
            actor_id=user.pk if user else None,
            actor=user.username if user else "system",
            object_type="document",
            object_id=document.pk,
            details={"sha256": digest, "size": checked.size, "measure": measure_id or ""},
        )
    return document


# --- Assessment and living status ----------------------------------------------------------


def save_profile(practice: Practice, user: User, profile: Profile) -> Profile:
    """Save what the practice has (staff, laptop, website…): it decides which measures apply."""
    profile.practice = practice
    profile.save()
    record(
        "compliance.profile_saved",
        practice_id=practice.pk,
        actor_id=user.pk,
        actor=user.username,
        object_type="profile",
        object_id=profile.pk,
        details={condition: profile.has(condition) for condition in Profile.CONDITIONS},
    )
    return profile


def start_assessment(practice: Practice, user: User) -> Assessment:
    """The open assessment for the current framework, or a new one."""
    framework = current_framework()
    if framework is None:
        raise InvalidInput(
            "Aucun référentiel n'est chargé : lancez « egide compliance load-frameworks »."
        )
    open_one = Assessment.objects.filter(
        practice=practice, framework=framework, completed_at__isnull=True
    ).first()
    if open_one is not None:
        return open_one
    assessment = Assessment.objects.create(practice=practice, framework=framework, started_by=user)
    record(
        "compliance.assessment_started",
        practice_id=practice.pk,
        actor_id=user.pk,
        actor=user.username,
        object_type="assessment",
        object_id=assessment.pk,
    )
    return assessment


def answer_measure(assessment: Assessment, user: User, measure: Measure, answer: str) -> Answer:
    if answer not in ANSWERS:
        raise InvalidInput("Choisissez une des réponses proposées.")
    if measure.framework_id != assessment.framework_id:
        raise InvalidInput("Cette mesure n'appartient pas au référentiel de l'évaluation.")
    status = ANSWERS[answer][1]
    with transaction.atomic():
        saved, _ = Answer.objects.update_or_create(
            assessment=assessment,
            measure=measure,
            defaults={"status": status, "dont_know": answer == "ne_sait_pas"},
        )
        state, _ = MeasureState.objects.get_or_create(
            practice_id=assessment.practice_id, ref=measure.ref
        )
        state.status = status
        state.save(update_fields=["status", "updated_at"])
        record(
            "compliance.measure_answered",
            practice_id=assessment.practice_id,
            actor_id=user.pk,
            actor=user.username,
            object_type="measure",
            object_id=measure.ref,
            details={"status": status.value, "assessment_id": assessment.pk},
        )
    return saved


def complete_assessment(assessment: Assessment, user: User) -> ScoreSnapshot:
    assessment.completed_at = timezone.now()
    assessment.save(update_fields=["completed_at"])
    record(
        "compliance.assessment_completed",
        practice_id=assessment.practice_id,
        actor_id=user.pk,
        actor=user.username,
        object_type="assessment",
        object_id=assessment.pk,
    )
    return take_score_snapshot(assessment.practice)


def update_measure_state(
    practice: Practice,
    user: User,
    ref: str,
    *,
    status: str,
    owner: User | None,
    due_date: date | None,
    action_plan: str,
) -> MeasureState:
    measure_or_refuse(ref)
    refuse_past(due_date, "L'échéance")
    if owner is not None and owner.practice_id != practice.pk:
        raise InvalidInput("Le responsable doit être un membre du cabinet.")
    try:
        new_status = Status(status)
    except ValueError:
        raise InvalidInput("Statut inconnu.") from None
    state, _ = MeasureState.objects.get_or_create(practice=practice, ref=ref)
    state.status = new_status
    state.owner = owner
    state.due_date = due_date
    state.action_plan = action_plan.strip()
    state.save()
    record(
        "compliance.measure_updated",
        practice_id=practice.pk,
        actor_id=user.pk,
        actor=user.username,
        object_type="measure",
        object_id=ref,
        details={
            "status": new_status.value,
            "owner_id": owner.pk if owner else None,
            "due_date": due_date.isoformat() if due_date else None,
        },
    )
    return state


def take_score_snapshot(practice: Practice) -> ScoreSnapshot:
    framework = current_framework()
    if framework is None:
        raise InvalidInput("Aucun référentiel n'est chargé.")
    overall, by_theme = scores(practice)
    return ScoreSnapshot.objects.create(
        practice=practice, framework=framework, overall=overall, by_theme=by_theme
    )
