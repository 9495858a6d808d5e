"""The breach workflow: qualification → risk level with rationale → 72-hour clock → CNIL
notification draft (initial, then complementary) → patient letter when the risk is high →
register entry. Four ready scenarios prefill the qualification.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from egide.console.accounts.models import Practice, User
from egide.console.audit.services import record

from .clocks import breach_deadline
from .errors import InvalidInput
from .models import Breach, RiskLevel


@dataclass(frozen=True)
class Question:
    key: str
    text: str


QUESTIONS = (
    Question("health_data", "Des données de santé sont-elles concernées ?"),
    Question("encrypted", "Les données étaient-elles chiffrées, la clé restant hors d'atteinte ?"),
    Question("trusted_recipient", "Le destinataire est-il un professionnel tenu au secret ?"),
    Question("recovered", "Les données ont-elles été récupérées ou effacées de façon certaine ?"),
    Question("available", "Pouvez-vous encore accéder aux données (sauvegarde intacte) ?"),
    Question("many_patients", "Plus de 100 patients sont-ils concernés ?"),
)

SCENARIOS: dict[str, dict[str, Any]] = {
    "ordinateur_perdu": {
        "label": "Ordinateur portable perdu",
        "answers": {
            "health_data": True,
            "encrypted": False,
            "trusted_recipient": False,
            "recovered": False,
            "available": True,
        },
    },
    "rancongiciel": {
        "label": "Rançongiciel",
        "answers": {
            "health_data": True,
            "encrypted": False,
            "trusted_recipient": False,
            "recovered": False,
            "available": False,
        },
    },
    "message_mal_adresse": {
        "label": "Message envoyé au mauvais destinataire",
        "answers": {
            "health_data": True,
            "encrypted": False,
            "trusted_recipient": True,
            "recovered": False,
            "available": True,
            "many_patients": False,
        },
    },
    "telephone_vole": {
        "label": "Téléphone volé",
        "answers": {
            "health_data": True,
            "encrypted": True,
            "trusted_recipient": False,
            "recovered": False,
            "available": True,
        },
    },
}

# CNIL notification form, field by field (art. 33.3 GDPR); the draft stores one text per key.
CNIL_FIELDS = (
    ("nature", "Nature de la violation (confidentialité, intégrité, disponibilité)"),
    ("circumstances", "Circonstances et date de découverte"),
    ("categories", "Catégories et nombre approximatif de personnes concernées"),
    ("records", "Catégories et nombre approximatif d'enregistrements concernés"),
    ("consequences", "Conséquences probables pour les personnes"),
    ("measures_taken", "Mesures prises ou envisagées pour remédier et limiter les effets"),
    ("contact", "Personne à contacter au cabinet"),
    ("patients_informed", "Information des personnes concernées"),
)


def suggested_risk(answers: dict[str, bool]) -> tuple[RiskLevel, str]:
    """A first risk level and its rationale; the practitioner confirms or changes it."""
    if answers.get("encrypted") or answers.get("recovered"):
        return RiskLevel.NONE, (
            "Les données étaient chiffrées ou ont été récupérées : la violation n'est pas "
            "susceptible d'engendrer un risque ; elle est inscrite au registre sans notification."
        )
    if answers.get("health_data") and (
        not answers.get("trusted_recipient") or answers.get("many_patients")
    ):
        return RiskLevel.HIGH, (
            "Des données de santé lisibles ont pu être consultées par un tiers non tenu au "
            "secret : risque élevé, notification à la CNIL et information des patients."
        )
    return RiskLevel.RISK, (
        "Les données sont exposées mais à un destinataire tenu au secret ou en faible nombre : "
        "risque, notification à la CNIL sous 72 heures."
    )


def _audit(breach: Breach, user: User | None, action: str, **details: Any) -> None:
    record(
        action,
        practice_id=breach.practice_id,
        actor_id=user.pk if user else None,
        actor=user.username if user else "system",
        object_type="breach",
        object_id=breach.pk,
        details=details,
    )


def open_breach(
    practice: Practice, user: User | None, *, scenario: str, summary: str, aware_at: datetime
) -> Breach:
    """Register a breach from the moment the practice became aware of it (the clock starts)."""
    if scenario not in SCENARIOS and scenario != "autre":
        raise InvalidInput("Scénario inconnu.")
    if aware_at > timezone.now():
        raise InvalidInput("La date de découverte ne peut pas être dans le futur.")
    if not summary.strip():
        raise InvalidInput("Décrivez la violation en une phrase (sans données de patients).")
    answers = dict(SCENARIOS.get(scenario, {}).get("answers", {}))
    breach = Breach.objects.create(
        practice=practice,
        scenario=scenario,
        summary=summary.strip()[:300],
        aware_at=aware_at,
        qualification=answers,
        created_by=user,
    )
    _audit(
        breach,
        user,
        "compliance.breach_opened",
        scenario=scenario,
        deadline=breach_deadline(aware_at).isoformat(),
    )
    return breach


def qualify(breach: Breach, user: User | None, answers: dict[str, bool]) -> tuple[RiskLevel, str]:
    known = {question.key for question in QUESTIONS}
    breach.qualification = {key: bool(value) for key, value in answers.items() if key in known}
    breach.save(update_fields=["qualification"])
    _audit(breach, user, "compliance.breach_qualified")
    return suggested_risk(breach.qualification)


def set_risk(breach: Breach, user: User | None, level: str, rationale: str) -> Breach:
    try:
        risk = RiskLevel(level)
    except ValueError:
        raise InvalidInput("Choisissez un niveau de risque.") from None
    if len(rationale.strip()) < 10:
        raise InvalidInput("Justifiez le niveau de risque en quelques mots.")
    breach.risk_level = risk
    breach.risk_rationale = rationale.strip()
    if not breach.cnil_draft and risk != RiskLevel.NONE:
        breach.cnil_draft = draft_notification(breach)
    if risk == RiskLevel.HIGH and not breach.patient_letter:
        breach.patient_letter = patient_letter(breach)
    breach.save()
    _audit(breach, user, "compliance.breach_risk_set", risk=risk.value)
    return breach


def draft_notification(breach: Breach) -> dict[str, str]:
    answers = breach.qualification
    nature = []
    if not answers.get("available", True):
        nature.append("disponibilité")
    if not answers.get("encrypted"):
        nature.append("confidentialité")
    return {
        "nature": "Violation de " + (" et de ".join(nature) or "confidentialité"),
        "circumstances": (
            f"{SCENARIOS.get(breach.scenario, {}).get('label', 'Incident')} : {breach.summary}. "
            f"Connaissance le {timezone.localtime(breach.aware_at):%d/%m/%Y à %H:%M}."
        ),
        "categories": "Patients du cabinet (nombre à préciser)",
        "records": "Dossiers patients (nombre à préciser)",
        "consequences": breach.risk_rationale,
        "measures_taken": "À compléter : mots de passe changés, appareil bloqué, plainte déposée…",
        "contact": breach.practice.name,
        "patients_informed": "Oui" if breach.risk_level == RiskLevel.HIGH else "Non nécessaire",
    }


def patient_letter(breach: Breach) -> str:
    return (
        "Madame, Monsieur,\n\n"
        f"Le {timezone.localtime(breach.aware_at):%d/%m/%Y}, notre cabinet a constaté un incident "
        f"(« {breach.summary} ») qui a pu exposer des informations vous concernant, dont des "
        "données de santé.\n\nNous avons pris les mesures suivantes : [à compléter].\n"
        "Nous vous conseillons : [à compléter, par exemple se méfier des messages frauduleux].\n\n"
        "Vous pouvez nous contacter pour toute question, et introduire une réclamation auprès de "
        f"la CNIL (www.cnil.fr).\n\n{breach.practice.name}"
    )


def update_draft(breach: Breach, user: User | None, fields: dict[str, str]) -> Breach:
    keys = {key for key, _ in CNIL_FIELDS}
    breach.cnil_draft = {**breach.cnil_draft, **{k: v for k, v in fields.items() if k in keys}}
    breach.save(update_fields=["cnil_draft"])
    _audit(breach, user, "compliance.breach_draft_updated")
    return breach


def record_notification(
    breach: Breach,
    user: User | None,
    *,
    notified_at: datetime,
    reference: str,
    complementary: bool = False,
) -> Breach:
    if notified_at > timezone.now():
        raise InvalidInput("La date de notification ne peut pas être dans le futur.")
    if notified_at < breach.aware_at:
        raise InvalidInput("La notification ne peut pas précéder la découverte.")
    if complementary:
        breach.complement_notified_at = notified_at
    else:
        breach.cnil_notified_at = notified_at
        breach.cnil_reference = reference.strip()[:80]
    breach.save()
    late = notified_at > breach_deadline(breach.aware_at)
    _audit(breach, user, "compliance.breach_notified", complementary=complementary, late=late)
    return breach


def record_patients_informed(breach: Breach, user: User | None, informed_at: datetime) -> Breach:
    if informed_at > timezone.now():
        raise InvalidInput("La date d'information ne peut pas être dans le futur.")
    breach.patients_informed_at = informed_at
    breach.save(update_fields=["patients_informed_at"])
    _audit(breach, user, "compliance.breach_patients_informed")
    return breach


def close_breach(breach: Breach, user: User | None) -> Breach:
    if not breach.risk_level:
        raise InvalidInput("Qualifiez le risque avant de clore.")
    if breach.risk_level != RiskLevel.NONE and breach.cnil_notified_at is None:
        raise InvalidInput("Notifiez la CNIL avant de clore.")
    if breach.risk_level == RiskLevel.HIGH and breach.patients_informed_at is None:
        raise InvalidInput("Informez les patients avant de clore.")
    with transaction.atomic():
        breach.closed_at = timezone.now()
        breach.save(update_fields=["closed_at"])
        _audit(breach, user, "compliance.breach_closed")
    return breach
