"""Patient information (measure RCM-GOU-2): the waiting-room poster and the patient notice,
generated from the processing register as print-ready PDF.

Both list the controller and how to reach it, the purposes, legal bases, recipients and
retention periods of the activities that concern patients, the rights and how to exercise them,
and the right to complain to the CNIL. The register is the single source: edit it, and the next
download says the same as the register.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from egide.console.accounts.models import Practice, User
from egide.console.audit.services import record

from .errors import InvalidInput
from .models import NoticeContact
from .register import register_content

KINDS = ("notice", "affiche")
SIZES = ("A4", "A3")

# Rights of patients over their data (GDPR art. 15-21, CSP L1111-7), in plain French.
RIGHTS: tuple[tuple[str, str], ...] = (
    (
        "Accès",
        "obtenir une copie de vos données ; pour votre dossier médical, la communication a lieu "
        "au plus tôt 48 heures et au plus tard 8 jours après la demande (2 mois si les "
        "informations datent de plus de 5 ans)",
    ),
    ("Rectification", "faire corriger des informations inexactes ou incomplètes"),
    ("Limitation", "demander le gel temporaire de l'utilisation de certaines données"),
    (
        "Opposition",
        "vous opposer à certaines utilisations, sauf lorsque la loi impose le traitement "
        "(tenue du dossier médical, facturation)",
    ),
    (
        "Effacement",
        "demander la suppression de données inutiles ; le dossier médical est conservé pendant "
        "la durée fixée par la loi",
    ),
)
CNIL = {
    "name": "Commission nationale de l'informatique et des libertés (CNIL)",
    "address": "3 place de Fontenoy, TSA 80715, 75334 Paris Cedex 07",
    "url": "www.cnil.fr/fr/plaintes",
}
ANSWER_DELAY = "un mois"  # GDPR art. 12.3, extensible by two months for complex requests


def concerns_patients(activity: dict[str, Any]) -> bool:
    return any("patient" in str(subject).lower() for subject in activity["data_subjects"])


def contact_of(practice: Practice) -> NoticeContact | None:
    return NoticeContact.objects.filter(practice=practice).first()


def save_contact(practice: Practice, user: User, contact: NoticeContact) -> NoticeContact:
    """Save how patients reach the practice (printed on the notice and the poster; audited)."""
    if not contact.address.strip():
        raise InvalidInput("Indiquez l'adresse postale du cabinet.")
    if not (contact.email.strip() or contact.phone.strip()):
        raise InvalidInput("Indiquez une adresse électronique ou un téléphone pour les demandes.")
    with transaction.atomic():
        existing = contact_of(practice)
        if existing is not None:
            contact.pk = existing.pk
        contact.practice = practice
        contact.save()
        record(
            "compliance.notice_contact_saved",
            practice_id=practice.pk,
            actor_id=user.pk,
            actor=user.username,
            object_type="notice_contact",
            object_id=contact.pk,
        )
    return contact


def notice_content(practice: Practice) -> dict[str, Any]:
    """What both documents say, read from the register; refused while it cannot be complete."""
    register = register_content(practice)
    activities = [item for item in register["activities"] if concerns_patients(item)]
    if not activities:
        raise InvalidInput(
            "Le registre des traitements ne contient aucune activité concernant les patients : "
            "préremplissez-le (page Registre) avant de générer l'information des patients."
        )
    contact = contact_of(practice)
    if contact is None:
        raise InvalidInput(
            "Indiquez d'abord l'adresse et le moyen de contact du cabinet pour les demandes."
        )
    return {
        "controller": {
            "name": practice.name,
            "city": practice.city,
            "address": contact.address,
            "email": contact.email,
            "phone": contact.phone,
            "dpo": contact.dpo,
        },
        "activities": activities,
        "rights": RIGHTS,
        "answer_delay": ANSWER_DELAY,
        "cnil": CNIL,
        "date": timezone.localdate(),
    }


def render_pdf(practice: Practice, user: User, kind: str, size: str = "A4") -> bytes:
    """The notice or the poster as PDF, at A4 or A3 (audited with the PDF's SHA-256)."""
    from weasyprint import HTML

    if kind not in KINDS or size not in SIZES:
        raise InvalidInput("Document inconnu : notice ou affiche, au format A4 ou A3.")
    content = notice_content(practice)
    html = render_to_string(
        f"compliance/awareness/{kind}_pdf.html", {"content": content, "size": size}
    )
    pdf = bytes(HTML(string=html).write_pdf())
    record(
        "compliance.patient_information_generated",
        practice_id=practice.pk,
        actor_id=user.pk,
        actor=user.username,
        object_type="patient_information",
        object_id=kind,
        details={"size": size, "sha256": hashlib.sha256(pdf).hexdigest()},
    )
    return pdf
