"""The rights desk: a request, its two clocks (GDPR art. 12.3; CSP L1111-7 for the medical
record), the identity check, a templated answer and the proof of closure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from egide.console.accounts.models import Practice, User
from egide.console.audit.services import record

from .clocks import add_months, rights_clocks
from .errors import InvalidInput
from .models import RightKind, RightsRequest

TEMPLATES: dict[str, str] = {
    RightKind.ACCESS: (
        "Madame, Monsieur,\n\nVous avez demandé le {received} l'accès aux informations vous "
        "concernant. Vous trouverez ci-joint la copie de votre dossier (CSP L1111-7 ; RGPD art. "
        "15), ainsi que les finalités, destinataires et durées de conservation.\n\n{practice}"
    ),
    RightKind.RECTIFICATION: (
        "Madame, Monsieur,\n\nSuite à votre demande du {received}, les informations inexactes "
        "ont été rectifiées (RGPD art. 16).\n\n{practice}"
    ),
    RightKind.OBJECTION: (
        "Madame, Monsieur,\n\nNous avons bien reçu votre opposition du {received}. Les données "
        "nécessaires aux soins et à nos obligations légales restent conservées ; les autres "
        "traitements cessent (RGPD art. 21).\n\n{practice}"
    ),
    RightKind.RESTRICTION: (
        "Madame, Monsieur,\n\nSuite à votre demande du {received}, l'utilisation des données "
        "concernées est limitée pendant la vérification (RGPD art. 18).\n\n{practice}"
    ),
    RightKind.ERASURE: (
        "Madame, Monsieur,\n\nVotre demande d'effacement du {received} ne peut porter sur le "
        "dossier médical, que la loi nous oblige à conserver 20 ans après le dernier soin "
        "(RGPD art. 17.3). Les autres données ont été effacées.\n\n{practice}"
    ),
    RightKind.PORTABILITY: (
        "Madame, Monsieur,\n\nLe droit à la portabilité ne s'applique qu'aux données traitées "
        "sur la base du consentement ou d'un contrat (RGPD art. 20) ; votre dossier médical "
        "reste accessible par le droit d'accès.\n\n{practice}"
    ),
}


def _audit(request: RightsRequest, user: User | None, action: str, **details: Any) -> None:
    record(
        action,
        practice_id=request.practice_id,
        actor_id=user.pk if user else None,
        actor=user.username if user else "system",
        object_type="rights_request",
        object_id=request.pk,
        details=details,
    )


def open_request(
    practice: Practice,
    user: User | None,
    *,
    kind: str,
    requester: str,
    received_at: datetime,
    medical_record: bool,
    older_than_5_years: bool = False,
) -> RightsRequest:
    if kind not in RightKind.values:
        raise InvalidInput("Choisissez le droit exercé.")
    if received_at > timezone.now():
        raise InvalidInput("La date de réception ne peut pas être dans le futur.")
    if not requester.strip():
        raise InvalidInput("Indiquez le nom du demandeur.")
    request = RightsRequest.objects.create(
        practice=practice,
        kind=kind,
        requester=requester.strip()[:200],
        received_at=received_at,
        medical_record=medical_record,
        older_than_5_years=older_than_5_years,
    )
    clocks = clocks_of(request)
    _audit(
        request,
        user,
        "compliance.rights_request_opened",
        kind=kind,
        deadline=clocks.binding_deadline.isoformat(),
    )
    return request


def clocks_of(request: RightsRequest) -> Any:
    return rights_clocks(
        request.received_at,
        medical_record=request.medical_record,
        older_than_5_years=request.older_than_5_years,
        extended=request.extended_at is not None,
    )


def check_identity(request: RightsRequest, user: User | None, method: str) -> RightsRequest:
    if len(method.strip()) < 5:
        raise InvalidInput("Indiquez comment l'identité a été vérifiée (pièce présentée, etc.).")
    request.identity_checked_at = timezone.now()
    request.identity_method = method.strip()[:200]
    request.save(update_fields=["identity_checked_at", "identity_method"])
    _audit(request, user, "compliance.rights_identity_checked")
    return request


def extend(request: RightsRequest, user: User | None, reason: str) -> RightsRequest:
    """GDPR art. 12.3: two more months, the person being told within the first month."""
    if request.extended_at is not None:
        raise InvalidInput("Le délai a déjà été prolongé.")
    if timezone.now() > add_months(request.received_at, 1):
        raise InvalidInput("La prolongation doit être annoncée dans le premier mois.")
    if len(reason.strip()) < 10:
        raise InvalidInput("Expliquez au demandeur pourquoi le délai est prolongé.")
    request.extended_at = timezone.now()
    request.extension_reason = reason.strip()
    request.save(update_fields=["extended_at", "extension_reason"])
    _audit(request, user, "compliance.rights_extended")
    return request


def draft_answer(request: RightsRequest) -> str:
    return TEMPLATES[request.kind].format(
        received=timezone.localtime(request.received_at).strftime("%d/%m/%Y"),
        practice=request.practice.name,
    )


def answer(
    request: RightsRequest,
    user: User | None,
    *,
    text: str,
    proof: str,
    answered_at: datetime | None = None,
) -> RightsRequest:
    """Close the request: identity checked first, not before the CSP's 48-hour reflection time."""
    moment = answered_at or timezone.now()
    if request.identity_checked_at is None:
        raise InvalidInput("Vérifiez d'abord l'identité du demandeur.")
    if moment > timezone.now():
        raise InvalidInput("La date de réponse ne peut pas être dans le futur.")
    clocks = clocks_of(request)
    if (
        clocks.csp_earliest is not None
        and request.kind == RightKind.ACCESS
        and (moment < clocks.csp_earliest)
    ):
        raise InvalidInput(
            "Le dossier médical ne peut pas être communiqué avant 48 heures (CSP L1111-7) : "
            f"attendez le {timezone.localtime(clocks.csp_earliest):%d/%m/%Y à %H:%M}."
        )
    if not proof.strip():
        raise InvalidInput("Indiquez la preuve d'envoi (recommandé, remise en main propre…).")
    request.answer = text.strip() or draft_answer(request)
    request.answered_at = moment
    request.closure_proof = proof.strip()[:300]
    request.save()
    _audit(request, user, "compliance.rights_answered", late=moment > clocks.binding_deadline)
    return request
