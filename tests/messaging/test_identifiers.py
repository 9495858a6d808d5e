"""Health identifiers: RPPS, ADELI, idNatPS, idNatStruct, INS."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egide.messaging.errors import InvalidIdentifier
from egide.messaging.identifiers import (
    IDNATPS_OID,
    INS_TEST_OID,
    ins_key,
    luhn_check_digit,
    national_id_from_adeli,
    national_id_from_rpps,
    parse_national_professional_id,
    validate_adeli,
    validate_ins,
    validate_rpps,
    validate_structure_id,
    xds_patient_id,
)


def test_an_rpps_from_the_ans_test_range_is_accepted() -> None:
    assert validate_rpps("99700367909") == "99700367909"
    assert national_id_from_rpps("99700367909") == "899700367909"


@pytest.mark.parametrize(
    ("value", "reason"),
    [("9970036790", "11 chiffres"), ("99700367908", "clé de contrôle"), ("9970036790a", "11")],
)
def test_a_wrong_rpps_is_refused_with_the_reason_in_french(value: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier, match=reason):
        validate_rpps(value)


def test_the_luhn_digit_completes_an_rpps() -> None:
    assert luhn_check_digit("9970036790") == "9"


def test_an_adeli_number_has_nine_characters_and_becomes_an_idnatps_with_a_zero() -> None:
    assert validate_adeli("751234567") == "751234567"
    assert validate_adeli("2a1234567") == "2A1234567"
    assert national_id_from_adeli("751234567") == "0751234567"
    with pytest.raises(InvalidIdentifier, match="9 caractères"):
        validate_adeli("75123456")
    with pytest.raises(InvalidIdentifier, match="chiffres"):
        validate_adeli("75123456X")


def test_a_national_professional_id_says_which_register_it_comes_from() -> None:
    assert parse_national_professional_id("899700367909").register == "RPPS"
    assert parse_national_professional_id("0751234567").register == "ADELI"
    assert parse_national_professional_id("31234567890").register == "FINESS"
    with pytest.raises(InvalidIdentifier, match="clé de contrôle"):
        parse_national_professional_id("899700367908")
    with pytest.raises(InvalidIdentifier, match="doit commencer par"):
        parse_national_professional_id("999700367909")
    assert IDNATPS_OID == "1.2.250.1.71.4.2.1"


@pytest.mark.parametrize("value", ["1750000001", "373282932000074", "499700367909006", "R10000001"])
def test_structure_ids_with_known_prefixes_are_accepted(value: str) -> None:
    assert validate_structure_id(value) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("175000000", "9 caractères"),
        ("373282932000075", "clé de contrôle du SIRET"),
        ("499700367908006", "clé de contrôle"),
        ("9123", "préfixe inconnu"),
        ("", "vide"),
    ],
)
def test_wrong_structure_ids_are_refused(value: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier, match=reason):
        validate_structure_id(value)


def test_the_ans_test_ins_has_a_valid_key() -> None:
    assert validate_ins("279035121518989", INS_TEST_OID) == "279035121518989"
    assert validate_ins("2 79 03 51 215 189 89") == "279035121518989"
    assert xds_patient_id("279035121518989", INS_TEST_OID) == (
        "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
    )


def test_a_corsican_ins_is_keyed_with_the_department_substituted() -> None:
    # 2A reads as 19 and 2B as 18 for the key; the two numbers differ only there.
    assert ins_key("185022A012345") == f"{97 - 1850219012345 % 97:02d}"
    assert ins_key("185022B012345") == f"{97 - 1850218012345 % 97:02d}"
    matricule = "185022A012345" + ins_key("185022A012345")
    assert validate_ins(matricule) == matricule


@pytest.mark.parametrize(
    ("value", "oid", "reason"),
    [
        ("279035121518988", None, "clé de contrôle est fausse"),
        ("27903512151898", None, "15 caractères"),
        ("379035121518989", None, "sexe"),
        ("2790351215189AB", None, "2 chiffres"),
        ("279035121518989", "1.2.3", "n'est pas celui d'un INS"),
    ],
)
def test_a_wrong_ins_is_refused_with_the_reason(value: str, oid: str | None, reason: str) -> None:
    with pytest.raises(InvalidIdentifier, match=reason):
        validate_ins(value, oid)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(alphabet="0123456789AB ", max_size=20), st.sampled_from([None, INS_TEST_OID, "1.2"]))
def test_any_ins_input_is_accepted_or_refused_with_a_reason(value: str, oid: str | None) -> None:
    try:
        assert len(validate_ins(value, oid)) == 15
    except InvalidIdentifier as error:
        assert str(error).startswith("INS")


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.from_regex(r"[12][0-9]{4}(2A|2B|[0-9]{2})[0-9]{6}", fullmatch=True))
def test_a_computed_ins_key_always_validates(matricule: str) -> None:
    assert validate_ins(matricule + ins_key(matricule)) == matricule + ins_key(matricule)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(max_size=16))
def test_any_professional_or_structure_id_is_accepted_or_refused_with_a_reason(value: str) -> None:
    for check in (
        parse_national_professional_id,
        validate_structure_id,
        validate_rpps,
        validate_adeli,
    ):
        try:
            check(value)
        except InvalidIdentifier as error:
            assert str(error)
