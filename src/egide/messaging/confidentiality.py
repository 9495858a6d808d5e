"""Who may receive a document, given its confidentiality codes (DMP/MSSanté masking rules).

The ANS « MetaDMPMSS » codes travel as XDS confidentialityCode values (code system
1.2.250.1.213.1.1.4.13) or as HL7 v2 OBX flags. MSSanté sending must honour them: a document
masked to professionals (`MASQUE_PS`) must not go to a professional's address, one invisible
to the patient (`INVISIBLE_PATIENT`) not to the patient's Mon espace santé address, one
invisible to legal representatives (`INVISIBLE_REP_LEGAUX`) not to them.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from .cda import Code
from .errors import SendingForbidden

__all__ = ["RecipientKind", "check_sending", "recipient_kind"]

PATIENT_DOMAIN = "patient.mssante.fr"


class RecipientKind(Enum):
    """The audience a recipient address belongs to."""

    PROFESSIONAL = "professionnel"
    PATIENT = "patient"
    LEGAL_REPRESENTATIVE = "représentant légal"


# code → (kind it forbids, French explanation)
_RULES: dict[str, tuple[RecipientKind, str]] = {
    "MASQUE_PS": (
        RecipientKind.PROFESSIONAL,
        "le document est masqué aux professionnels de santé (MASQUE_PS)",
    ),
    "INVISIBLE_PATIENT": (
        RecipientKind.PATIENT,
        "le document ne doit pas être visible par le patient (INVISIBLE_PATIENT)",
    ),
    "INVISIBLE_REP_LEGAUX": (
        RecipientKind.LEGAL_REPRESENTATIVE,
        "le document ne doit pas être visible par les représentants légaux (INVISIBLE_REP_LEGAUX)",
    ),
}


def recipient_kind(address: str) -> RecipientKind:
    """Patients' Mon espace santé addresses are `<INS>@patient.mssante.fr`; others are pros."""
    domain = address.rsplit("@", 1)[-1].strip().strip(">").lower()
    return RecipientKind.PATIENT if domain == PATIENT_DOMAIN else RecipientKind.PROFESSIONAL


def check_sending(
    codes: Iterable[Code],
    address: str,
    *,
    kind: RecipientKind | None = None,
    title: str = "Le document",
) -> None:
    """Raise SendingForbidden, with the reason in French, when `codes` forbid this recipient."""
    kind = kind or recipient_kind(address)
    for code in codes:
        rule = _RULES.get(code.code.upper())
        if rule is not None and rule[0] is kind:
            raise SendingForbidden(
                f"Envoi bloqué : « {title} » ne peut pas être adressé à {address} "
                f"({kind.value}) : {rule[1]}."
            )
