"""French health identifiers: RPPS, ADELI, national professional and structure ids, INS.

Formats (ANS, « Annuaire Santé » and INS referentials):

- RPPS: 11 digits whose last one is a Luhn check digit; the ANS test range starts with `997`.
- ADELI: 9 characters (digits, `2A`/`2B` for Corsica in the department part). Its key algorithm
  is not published; we check the format only rather than refuse real numbers on a guess.
- idNatPS (OID 1.2.250.1.71.4.2.1): `8` + RPPS or `0` + ADELI; `3` + FINESS/… and `5` + SIRET/…
  exist for professionals attached to a structure and are accepted on their format.
- idNatStruct (OID 1.2.250.1.71.4.2.2): `1` + FINESS (9), `2` + SIREN (9, Luhn), `3` + SIRET
  (14, Luhn), `4` + RPPS + rang (11 + 3), `R` / `C` + a technical id.
- INS matricule (NIR or NIA): 13 characters + a 2-digit key = 97 − (n mod 97), where n is the
  13-character number with Corsica's department `2A` read as `19` and `2B` as `18`.
  OIDs: 1.2.250.1.213.1.4.8 NIR, .9 NIA, .10 test NIR, .11 demo NIR.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InvalidIdentifier

__all__ = [
    "IDNATPS_OID",
    "IDNATSTRUCT_OID",
    "INS_OIDS",
    "InvalidIdentifier",
    "NationalProfessionalId",
    "ins_key",
    "ins_oid_label",
    "luhn_check_digit",
    "luhn_is_valid",
    "national_id_from_adeli",
    "national_id_from_rpps",
    "parse_national_professional_id",
    "validate_adeli",
    "validate_ins",
    "validate_rpps",
    "validate_structure_id",
    "xds_patient_id",
]

IDNATPS_OID = "1.2.250.1.71.4.2.1"
IDNATSTRUCT_OID = "1.2.250.1.71.4.2.2"
RPPS_TEST_PREFIX = "997"

INS_NIR_OID = "1.2.250.1.213.1.4.8"
INS_NIA_OID = "1.2.250.1.213.1.4.9"
INS_TEST_OID = "1.2.250.1.213.1.4.10"
INS_DEMO_OID = "1.2.250.1.213.1.4.11"
INS_OIDS: dict[str, str] = {
    INS_NIR_OID: "INS-NIR",
    INS_NIA_OID: "INS-NIA",
    INS_TEST_OID: "INS-NIR de test",
    INS_DEMO_OID: "INS-NIR de démonstration",
}

# Corsica's departments are letters in the NIR; the key is computed on these substitutes.
_CORSICA = {"2A": "19", "2B": "18"}


def _digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def luhn_is_valid(digits: str) -> bool:
    """True when the last digit of `digits` is its Luhn check digit."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_check_digit(digits: str) -> str:
    """The Luhn digit to append to `digits`."""
    for candidate in "0123456789":
        if luhn_is_valid(digits + candidate):
            return candidate
    raise AssertionError("unreachable: one digit always completes a Luhn number")


def validate_rpps(value: str) -> str:
    """Return `value` when it is a well-formed RPPS number, else raise InvalidIdentifier."""
    if len(value) != 11 or not _digits(value):
        raise InvalidIdentifier(f"RPPS « {value} » : 11 chiffres attendus.")
    if not luhn_is_valid(value):
        raise InvalidIdentifier(f"RPPS « {value} » : la clé de contrôle (Luhn) est fausse.")
    return value


def validate_adeli(value: str) -> str:
    """Return `value` when it has the ADELI format (9 characters), else raise InvalidIdentifier."""
    if len(value) != 9 or not value.isascii():
        raise InvalidIdentifier(f"ADELI « {value} » : 9 caractères attendus.")
    rest = value[2:] if value[:2].upper() in _CORSICA else value
    if not _digits(rest):
        raise InvalidIdentifier(
            f"ADELI « {value} » : seuls des chiffres sont permis (2A/2B pour la Corse)."
        )
    return value.upper()


def national_id_from_rpps(rpps: str) -> str:
    """The idNatPS of a professional identified by RPPS: `8` + RPPS."""
    return "8" + validate_rpps(rpps)


def national_id_from_adeli(adeli: str) -> str:
    """The idNatPS of a professional identified by ADELI: `0` + ADELI."""
    return "0" + validate_adeli(adeli)


@dataclass(frozen=True)
class NationalProfessionalId:
    """An idNatPS split into the register it comes from and the number in that register."""

    value: str
    register: str  # "RPPS", "ADELI", "FINESS", "SIRET"
    number: str


_PS_REGISTERS = {"3": "FINESS", "5": "SIRET"}


def parse_national_professional_id(value: str) -> NationalProfessionalId:
    """Split and check an idNatPS (`8`+RPPS, `0`+ADELI, `3`+…, `5`+…)."""
    value = value.strip()
    if not value:
        raise InvalidIdentifier("Identifiant national de professionnel vide.")
    prefix, rest = value[0], value[1:]
    if prefix == "8":
        return NationalProfessionalId(value, "RPPS", validate_rpps(rest))
    if prefix == "0":
        return NationalProfessionalId(value, "ADELI", validate_adeli(rest))
    if prefix in _PS_REGISTERS and rest and rest.isascii() and rest.replace("/", "").isalnum():
        return NationalProfessionalId(value, _PS_REGISTERS[prefix], rest)
    raise InvalidIdentifier(
        f"Identifiant national de professionnel « {value} » : il doit commencer par "
        "8 (RPPS), 0 (ADELI), 3 ou 5."
    )


def validate_structure_id(value: str) -> str:
    """Return `value` when it is a well-formed idNatStruct, else raise InvalidIdentifier."""
    value = value.strip()
    label = f"Identifiant national de structure « {value} »"
    if not value:
        raise InvalidIdentifier(f"{label} : vide.")
    prefix, rest = value[0], value[1:]
    if prefix == "1":
        if len(rest) != 9 or not rest.isascii() or not rest.isalnum():
            raise InvalidIdentifier(f"{label} : un FINESS compte 9 caractères.")
    elif prefix in "23":
        register, size = ("SIREN", 9) if prefix == "2" else ("SIRET", 14)
        if len(rest) != size or not _digits(rest):
            raise InvalidIdentifier(f"{label} : un {register} compte {size} chiffres.")
        if not luhn_is_valid(rest):
            raise InvalidIdentifier(f"{label} : la clé de contrôle du {register} est fausse.")
    elif prefix == "4":
        if len(rest) != 14 or not _digits(rest):
            raise InvalidIdentifier(f"{label} : RPPS (11 chiffres) et rang (3 chiffres) attendus.")
        validate_rpps(rest[:11])
    elif prefix in "RC":
        if not rest or not rest.isascii() or not rest.isalnum():
            raise InvalidIdentifier(f"{label} : identifiant technique vide ou invalide.")
    else:
        raise InvalidIdentifier(
            f"{label} : préfixe inconnu (1 FINESS, 2 SIREN, 3 SIRET, 4 RPPS-rang, R ou C)."
        )
    return value


def ins_key(matricule: str) -> str:
    """The 2-digit key of a 13-character NIR/NIA (Corsica's 2A/2B substituted)."""
    number = matricule[:5] + _CORSICA.get(matricule[5:7].upper(), matricule[5:7]) + matricule[7:]
    if len(number) != 13 or not _digits(number):
        raise InvalidIdentifier(f"INS « {matricule} » : 13 caractères attendus avant la clé.")
    return f"{97 - int(number) % 97:02d}"


def validate_ins(value: str, oid: str | None = None) -> str:
    """Return the 15-character matricule INS when valid (and its OID known), else raise.

    Spaces are ignored (the matricule is often printed in groups). The first character is the
    sex (1 or 2); the key covers the 13 preceding characters.
    """
    compact = value.replace(" ", "").upper()
    if oid is not None and oid not in INS_OIDS:
        raise InvalidIdentifier(f"INS : l'OID « {oid} » n'est pas celui d'un INS.")
    if len(compact) != 15:
        raise InvalidIdentifier(f"INS « {value} » : 15 caractères attendus (13 + clé).")
    if compact[0] not in "12":
        raise InvalidIdentifier(f"INS « {value} » : le premier chiffre (sexe) doit être 1 ou 2.")
    if not _digits(compact[13:]):
        raise InvalidIdentifier(f"INS « {value} » : la clé doit compter 2 chiffres.")
    if ins_key(compact[:13]) != compact[13:]:
        raise InvalidIdentifier(f"INS « {value} » : la clé de contrôle est fausse.")
    return compact


def ins_oid_label(oid: str) -> str | None:
    """The human label of an INS assigning-authority OID, or None when it is not one."""
    return INS_OIDS.get(oid)


def xds_patient_id(matricule: str, oid: str) -> str:
    """The XDS patientId of an INS: `<matricule>^^^&<OID>&ISO^NH`."""
    return f"{validate_ins(matricule, oid)}^^^&{oid}&ISO^NH"
