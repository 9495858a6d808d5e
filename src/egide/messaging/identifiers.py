"""French health identifiers: RPPS, ADELI, national professional ids, INS.

RPPS: 11 digits whose last one is a Luhn check digit; the ANS test range starts with `997`.
The national professional id (idNatPS, OID 1.2.250.1.71.4.2.1) is `8` + RPPS or `0` + ADELI.
"""

from __future__ import annotations

from .errors import InvalidIdentifier

__all__ = ["InvalidIdentifier", "luhn_is_valid", "national_id_from_rpps", "validate_rpps"]

IDNATPS_OID = "1.2.250.1.71.4.2.1"
RPPS_TEST_PREFIX = "997"


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
    if len(value) != 11 or not value.isascii() or not value.isdigit():
        raise InvalidIdentifier(f"RPPS « {value} » : 11 chiffres attendus.")
    if not luhn_is_valid(value):
        raise InvalidIdentifier(f"RPPS « {value} » : la clé de contrôle (Luhn) est fausse.")
    return value


def national_id_from_rpps(rpps: str) -> str:
    """The idNatPS of a professional identified by RPPS: `8` + RPPS."""
    return "8" + validate_rpps(rpps)
