"""HL7 v2 ORU/MDM messages carrying CDA documents."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from egide.messaging.errors import InvalidHl7Message
from egide.messaging.hl7v2 import parse_hl7

from .conftest import DATA, HL7_FILES

BASE64_ORU = (
    DATA / "hl7v2" / "Volets__TRANS_DOC_CDA_HL7V2__V2.1__ORU__Remplacement_ORU__message_ORU_CR_"
    "Bio_RPLC_N1_Base64_N3_Base64.er7"
)
MDM = DATA / "hl7v2" / "Volets__Trans_LPS_CDA_MSSanté__V1.0__MDM__messageDocB64.hl7"


@pytest.mark.parametrize("path", HL7_FILES, ids=lambda p: p.name[-60:])
def test_every_ans_hl7_example_parses_without_error(path: Path) -> None:
    message = parse_hl7(path.read_bytes())
    assert message.errors == []
    assert message.message_type.split("^")[0] in {"ORU", "MDM", "ACK", "ADT"}


def test_base64_cda_documents_are_decoded_and_parsed() -> None:
    message = parse_hl7(BASE64_ORU.read_bytes())
    assert message.message_type == "ORU^R01"
    assert [d.cda.code.code for d in message.documents if d.cda] == ["11502-2", "11502-2"]
    assert message.patient is not None
    assert message.patient.ids[0].extension == "279035121518989"
    assert message.patient.ids[0].root == "1.2.250.1.213.1.4.10"
    assert (message.patient.family, message.patient.birth_date) == ("PAT-TROIS", "1979-03-28")
    assert "279035121518989@patient.mssante.fr" in message.recipients
    assert message.sender_ids[0].root == "1.2.250.1.71.4.2.1"


def test_restriction_flags_become_masking_codes() -> None:
    message = parse_hl7(MDM.read_bytes())
    assert message.flags["MASQUE_PS"] is False
    assert message.flags["INVISIBLE_PATIENT"] is True
    assert [c.code for c in message.masking_codes] == ["INVISIBLE_PATIENT", "INVISIBLE_REP_LEGAUX"]
    assert message.bodies == ["Corps du courriel"]


def _flag(raw: bytes, code: bytes, value: bytes) -> bytes:
    """The message with the Y/N value of one MetaDMPMSS OBX replaced."""
    start = raw.index(b"|" + code + b"^")
    at = raw.index(b"||", start) + 2
    changed = raw[:at] + value + raw[at + 1 :]
    assert changed != raw or raw[at : at + 1] == value
    return changed


PROFESSIONAL = "adam.hoda@test-ci-sis.mssante.fr"
PATIENT = "279035121518989@patient.mssante.fr"


def test_destination_flags_choose_the_mssante_recipients() -> None:
    raw = BASE64_ORU.read_bytes()
    message = parse_hl7(raw)
    assert (message.flags["DESTMSSANTEPS"], message.flags["DESTMSSANTEPAT"]) == (True, True)
    assert message.mss_recipients() == ([PROFESSIONAL, PATIENT], [])

    allowed, refused = parse_hl7(_flag(raw, b"DESTMSSANTEPAT", b"N")).mss_recipients()
    assert allowed == [PROFESSIONAL]
    assert [r.address for r in refused] == [PATIENT]
    assert "DESTMSSANTEPAT = N" in refused[0].reason

    allowed, refused = parse_hl7(_flag(raw, b"DESTMSSANTEPS", b"N")).mss_recipients()
    assert allowed == [PATIENT]
    assert [r.address for r in refused] == [PROFESSIONAL]
    assert "DESTMSSANTEPS = N" in refused[0].reason


def test_masking_flags_refuse_recipients_too() -> None:
    raw = _flag(BASE64_ORU.read_bytes(), b"INVISIBLE_PATIENT", b"Y")
    allowed, refused = parse_hl7(raw).mss_recipients()
    assert allowed == [PROFESSIONAL]
    assert [r.address for r in refused] == [PATIENT]
    assert "INVISIBLE_PATIENT" in refused[0].reason


def test_line_endings_from_the_field_are_accepted() -> None:
    raw = MDM.read_bytes().replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    assert len(parse_hl7(raw.replace(b"\n", b"\r\n")).documents) == 1
    assert len(parse_hl7(raw).documents) == 1


def test_an_inline_escaped_cda_is_unescaped() -> None:
    cda = (DATA / "cda" / "BIO-CR-BIO_2024.01_TSH_2.xml").read_bytes().decode()
    escaped = cda.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
    escaped = (
        escaped.replace("&", "\\T\\").replace("~", "\\R\\").replace("\r", "").replace("\n", " ")
    )
    text = (
        "MSH|^~\\&|A|B|C|D|202401010000||ORU^R01^ORU_R01|1|P|2.5\r"
        "PID|||279035121518989^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS||T^A\r"
        f"OBX|1|ED|11502-2^CR^LN||^TEXT^XML^A^{escaped}||||||F\r"
    )
    message = parse_hl7(text.encode())
    assert message.errors == []
    assert message.documents[0].cda is not None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "MSH"),
        (b"PID|||1\r", "MSH"),
        (b"\x00\x01\x02", "MSH"),
    ],
)
def test_what_is_not_hl7_is_refused_clearly(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidHl7Message, match=reason):
        parse_hl7(data)


def test_a_broken_embedded_document_is_an_error_not_a_crash() -> None:
    bad_b64 = (
        "MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5\rOBX|1|ED|11502-2^CR^LN||^TEXT^XML^Base64^@@@@\r"
    )
    assert "base64" in parse_hl7(bad_b64.encode()).errors[0]
    cut = base64.b64encode(b"<ClinicalDocument xmlns='urn:hl7-org:v3'><code").decode()
    truncated = f"MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5\rOBX|1|ED|X^Y^LN||^TEXT^XML^Base64^{cut}\r"
    assert "XML invalide" in parse_hl7(truncated.encode()).errors[0]


def test_bad_escape_sequences_print_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    text = (
        "MSH|^~\\&|A|B|C|D|1||ORU^R01|1|P|2.5\r"
        "OBX|1|ED|X^Y^LN||^TEXT^XML^A^a\\XZZ\\b\\C2842\\||||||F\r"
    )
    parse_hl7(text.encode())
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
