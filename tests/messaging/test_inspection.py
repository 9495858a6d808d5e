"""`inspect_bytes`: every fixture is understood; bad input comes back with errors, never raises."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from egide.messaging.hl7v2 import parse_hl7
from egide.messaging.inspection import detect_kind, inspect_bytes
from egide.messaging.rendition import render_html_page
from egide.messaging.xdm_reader import read_xdm

from .conftest import CDA_FILES, DATA, HL7_FILES, XDM_FILES

FIXTURES = [*CDA_FILES, *HL7_FILES, *XDM_FILES]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name[-60:])
def test_every_fixture_is_understood(path: Path) -> None:
    result = inspect_bytes(path.read_bytes())
    assert result.understood, result.errors
    assert result.kind == {".xml": "cda", ".zip": "xdm"}.get(path.suffix, "hl7v2")
    data = result.as_dict()
    assert set(data) == {"kind", "patient", "documents", "warnings", "errors"}
    for document in data["documents"]:
        assert set(document) == {
            "code", "code_system", "title", "author_ids", "mime_type", "uri", "hash", "size",
            "confidentiality",
        }  # fmt: skip


def test_a_cda_is_described_with_patient_and_document() -> None:
    data = inspect_bytes((DATA / "cda" / "CSE-CS8_2024.01.xml").read_bytes()).as_dict()
    assert data["patient"] == {
        "ids": [
            {"root": "1.2.250.1.213.1.4.8", "extension": "223042545611404"},
            {"root": "1.2.3.4.5.6.7.8.9.10", "extension": "594857603"},
        ],
        "family": "DECOURCY",
        "given": "Ruth Isabelle",
        "birth_date": "2023-04-25",
        "sex": "F",
    }
    (document,) = data["documents"]
    assert document["code"] == "CERT_DECL"
    assert document["code_system"] == "1.2.250.1.213.1.1.4.12"
    assert document["author_ids"] == [{"root": "1.2.250.1.71.4.2.1", "extension": "801234567897"}]
    assert document["confidentiality"] == ["N"]
    assert len(document["hash"]) == 40


def test_an_hl7_message_reports_masking_as_confidentiality() -> None:
    path = DATA / "hl7v2" / "Volets__Trans_LPS_CDA_MSSanté__V1.0__MDM__messageDocB64.hl7"
    data = inspect_bytes(path.read_bytes()).as_dict()
    assert data["documents"][0]["confidentiality"] == [
        "N",
        "INVISIBLE_PATIENT",
        "INVISIBLE_REP_LEGAUX",
    ]
    assert data["patient"]["family"] == "DE VINCI"


def test_an_eml_whose_xdm_is_a_placeholder_is_not_understood() -> None:
    result = inspect_bytes((DATA / "receipts" / "mdn-ko-902.eml").read_bytes())
    assert result.kind == "eml"
    assert any("IHE_XDM.zip" in e and "ZIP" in e for e in result.errors)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "unknown"),
        (b"\x89PNG\r\n", "unknown"),
        (b"PK\x03\x04broken", "xdm"),
        (b"MSH|^~\\&|broken", "hl7v2"),
        (b"<not-closed", "cda"),
        (b"From: x\r\nContent-Type: multipart/mixed\r\n\r\n--a\r\n", "eml"),
    ],
)
def test_bad_input_returns_errors_and_never_raises(data: bytes, kind: str) -> None:
    assert detect_kind(data) == kind
    result = inspect_bytes(data)
    assert not result.understood
    assert result.errors


def test_a_zip_bomb_is_reported_as_an_error() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("IHE_XDM/SUBSET01/METADATA.XML", b"\0" * (10 * 1024 * 1024))
    result = inspect_bytes(buffer.getvalue())
    assert any("bombe" in e for e in result.errors)


@pytest.mark.parametrize("path", [*HL7_FILES, *XDM_FILES], ids=lambda p: p.name[-60:])
def test_every_cda_carried_by_a_message_or_package_renders(path: Path) -> None:
    if path.suffix == ".zip":
        documents = [d.cda for d in read_xdm(path.read_bytes()).documents]
    else:
        documents = [d.cda for d in parse_hl7(path.read_bytes()).documents]
    for document in documents:
        if document is not None:
            page = render_html_page(document)
            assert "<script" not in page.lower()


def test_an_ins_with_a_wrong_key_is_flagged_for_checking() -> None:
    # Some ANS examples carry an INS whose key does not match: read, but flagged.
    result = inspect_bytes((DATA / "cda" / "CSE-CS8_2024.01.xml").read_bytes())
    assert result.understood
    assert any("223042545611404" in w and "clé" in w for w in result.warnings)


def test_x_mss_headers_are_checked_against_what_was_received() -> None:
    from egide.messaging.mime import Attachment, Draft, compose_message
    from egide.messaging.xdm import build_xdm

    xdm = build_xdm(
        [(DATA / "cda" / "TLM-CR_2022.01.xml").read_bytes()], source_id="1.2", sender="x"
    )
    draft = Draft(
        sender="a@x.mssante.fr",
        recipients=("b@y.mssante.fr",),
        subject="XDM/1.0/DDM+test",
        body="",
        attachments=(Attachment("IHE_XDM.ZIP", "application/zip", xdm.data),),
        headers={"X-MSS-CODECDA": "11502-2"},
    )
    result = inspect_bytes(compose_message(draft, domain="x.mssante.fr"))
    assert result.understood
    assert any("X-MSS-CODECDA" in w and "85208-7" in w for w in result.warnings)
    assert any("X-MSS-NIL" in w for w in result.warnings)
