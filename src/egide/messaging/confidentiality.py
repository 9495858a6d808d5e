"""Who may receive a document, given its confidentiality codes (DMP/MSSanté masking rules).

The ANS « MetaDMPMSS » codes travel as XDS confidentialityCode values (code system
1.2.250.1.213.1.1.4.13) or as HL7 v2 OBX flags. MSSanté sending must honour them: a document
masked to professionals (`MASQUE_PS`) must not go to a professional's address, one invisible
to the patient (`INVISIBLE_PATIENT`) not to the patient's Mon espace santé address, one
invisible to legal representatives (`INVISIBLE_REP_LEGAUX`) not to them.

The sending software also says where a document goes (same table, HL7 v2 OBX with a Y/N value,
ANS IG « Transmission de documents CDA en HL7 v2 », see messaging-facts §1.6):
`DESTMSSANTEPS` (« Destinataire (Professionnel de Santé, organisation ou BAL applicative) »)
and `DESTMSSANTEPAT` (« Destinataire Patient »). A flag set to N means no MSSanté copy for that
audience: such a recipient is not sent to, and is reported with the reason. A flag that is
absent says nothing (the sender's other rules apply).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from .cda import Code
from .errors import SendingForbidden

__all__ = [
    "DESTINATION_FLAGS",
    "RecipientKind",
    "Refusal",
    "check_destination",
    "check_sending",
    "recipient_kind",
    "split_recipients",
]

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


# MetaDMPMSS flag → the audience it opens or closes, and its meaning in French.
DESTINATION_FLAGS: dict[str, tuple[RecipientKind, str]] = {
    "DESTMSSANTEPS": (
        RecipientKind.PROFESSIONAL,
        "le logiciel émetteur n'autorise pas l'envoi MSSanté aux professionnels, organisations"
        " ou BAL applicatives (DESTMSSANTEPS = N)",
    ),
    "DESTMSSANTEPAT": (
        RecipientKind.PATIENT,
        "le logiciel émetteur n'autorise pas l'envoi MSSanté au patient (DESTMSSANTEPAT = N)",
    ),
}


@dataclass(frozen=True)
class Refusal:
    """A recipient left out of a send, with the reason in French."""

    address: str
    reason: str


def check_destination(
    flags: Mapping[str, bool],
    address: str,
    *,
    kind: RecipientKind | None = None,
    title: str = "Le document",
) -> None:
    """Raise SendingForbidden when a destination flag set to N closes this recipient's audience."""
    kind = kind or recipient_kind(address)
    for name, (audience, reason) in DESTINATION_FLAGS.items():
        if audience is kind and flags.get(name) is False:
            raise SendingForbidden(
                f"Envoi bloqué : « {title} » ne peut pas être adressé à {address} "
                f"({kind.value}) : {reason}."
            )


def split_recipients(
    addresses: Iterable[str],
    codes: Iterable[Code],
    flags: Mapping[str, bool],
    *,
    kinds: Mapping[str, RecipientKind] | None = None,
    title: str = "Le document",
) -> tuple[list[str], list[Refusal]]:
    """The recipients a document may go to, and those refused with why (destination flags,
    then confidentiality codes)."""
    codes = tuple(codes)
    allowed: list[str] = []
    refused: list[Refusal] = []
    for address in addresses:
        kind = (kinds or {}).get(address)
        try:
            check_destination(flags, address, kind=kind, title=title)
            check_sending(codes, address, kind=kind, title=title)
        except SendingForbidden as error:
            refused.append(Refusal(address, str(error)))
        else:
            allowed.append(address)
    return allowed, refused
