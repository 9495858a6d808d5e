"""MIME composition and reading, MSSanté rules, confidentiality blocking, the full round trip."""

from __future__ import annotations

import pytest

from egide.messaging.cda import Code, parse_cda
from egide.messaging.confidentiality import RecipientKind, check_sending, recipient_kind
from egide.messaging.errors import InvalidDraft, MalformedMime, MessageTooLarge, SendingForbidden
from egide.messaging.health_message import HealthMail, compose_health_message
from egide.messaging.inspection import inspect_bytes
from egide.messaging.mime import Attachment, Draft, compose_message, parse_message, reply_threading
from egide.messaging.mssante import (
    has_qualified_ins,
    mss_headers,
    pdf_copy_name,
    strip_subject_prefix,
    xdm_subject,
)
from egide.messaging.xdm_metadata import CONFIDENTIALITY_MSS_SYSTEM
from egide.messaging.xdm_reader import read_xdm

from .conftest import DATA, LEVEL1_CDA, LEVEL3_CDA

DOCTOR = "Dr_Charles_BOILEAU <charles.boileau@cabinet.mssante.fr>"
COLLEAGUE = "adam.hoda@test-ci-sis.mssante.fr"
PATIENT = "279035121518989@patient.mssante.fr"
MASQUE_PS = Code("MASQUE_PS", CONFIDENTIALITY_MSS_SYSTEM, "Masqué aux PS")
INVISIBLE_PATIENT = Code("INVISIBLE_PATIENT", CONFIDENTIALITY_MSS_SYSTEM, "Invisible patient")


def _draft(**changes: object) -> Draft:
    values: dict[str, object] = {
        "sender": DOCTOR,
        "recipients": (COLLEAGUE,),
        "subject": "Résultats de Mme Œdipe — été",
        "body": "Chère consœur,\nci-joint le compte rendu.\n",
    }
    values.update(changes)
    return Draft(**values)  # type: ignore[arg-type]


def test_a_composed_message_reads_back_with_utf8_text_and_attachments() -> None:
    pdf = Attachment("compte rendu été.pdf", "application/pdf", b"%PDF-1.4 test")
    data = compose_message(_draft(attachments=(pdf,)), domain="cabinet.mssante.fr")
    assert b"\r\n" in data
    message = parse_message(data)
    assert message.subject == "Résultats de Mme Œdipe — été"
    assert message.body.startswith("Chère consœur")
    assert message.message_id is not None and message.message_id.endswith("@cabinet.mssante.fr>")
    assert message.attachments == [pdf]
    assert message.warnings == []


def test_a_reply_threads_with_in_reply_to_and_references() -> None:
    first = parse_message(compose_message(_draft(), domain="a.mssante.fr"))
    in_reply_to, references = reply_threading(first)
    second = parse_message(
        compose_message(
            _draft(in_reply_to=in_reply_to, references=references), domain="b.mssante.fr"
        )
    )
    assert second.in_reply_to == first.message_id
    assert second.references == (first.message_id,)
    third_in_reply_to, third_references = reply_threading(second)
    assert third_in_reply_to == second.message_id
    assert third_references == (first.message_id, second.message_id)


def test_an_oversized_attachment_or_message_is_refused_with_the_limit() -> None:
    big = Attachment("scanner.dcm", "application/dicom", b"x" * 2_000_000)
    with pytest.raises(MessageTooLarge, match="limite de 1 Mo"):
        compose_message(_draft(attachments=(big,)), domain="a.test", max_bytes=1_048_576)
    near = Attachment("a.bin", "application/octet-stream", b"x" * 900_000)
    with pytest.raises(MessageTooLarge, match="Message"):
        compose_message(_draft(attachments=(near,)), domain="a.test", max_bytes=1_048_576)
    data = compose_message(_draft(attachments=(near,)), domain="a.test")
    with pytest.raises(MessageTooLarge):
        parse_message(data, max_bytes=1_048_576)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "vide"),
        (b"\x00\x01\x02 pas un courriel", "aucun en-tête"),
        (
            b"From: a@b.test\r\nContent-Type: multipart/mixed\r\n\r\n--x\r\nhello\r\n",
            "Structure MIME illisible",
        ),
        (
            b'From: a@b.test\r\nContent-Type: multipart/mixed; boundary="zz"\r\n\r\n'
            b"no parts here\r\n",
            "Structure MIME illisible",
        ),
    ],
)
def test_malformed_mime_gets_a_clear_error(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedMime, match=reason):
        parse_message(data)


def test_the_guides_receipts_are_read_and_their_defects_reported() -> None:
    mdn = parse_message((DATA / "receipts" / "mdn-ko-902.eml").read_bytes())
    assert mdn.subject.startswith("[KO Intégration système !][902]")
    printed = parse_message(
        (DATA / "receipts" / "mdn-ko-902_v2025-01-17-as-printed.eml").read_bytes()
    )
    assert any("MissingHeaderBodySeparator" in w for w in printed.warnings)


def test_the_subject_headers_and_pdf_name_follow_the_mssante_client_rules() -> None:
    document = parse_cda(LEVEL3_CDA.read_bytes())
    subject = xdm_subject(document)
    assert subject == "XDM/1.0/DDM+CR d'examens biologiques PAT-TROIS Dominique 28/03/1979"
    assert strip_subject_prefix(subject).startswith("CR d'examens")
    assert has_qualified_ins(document)
    assert mss_headers([document], "DEV935997") == {
        "X-MSS-NIL": "DEV935997",
        "X-MSS-CODECDA": "11502-2",
        "X-MSS-INS": "O",
    }
    assert mss_headers([], "DEV935997") == {"X-MSS-NIL": "DEV935997"}
    name = pdf_copy_name(document)
    assert name.endswith("_CR-d-examens-biologiques_PAT-TROIS_Dominique.pdf")
    assert name[:8].isdigit()


def test_an_unqualified_identity_is_announced_with_x_mss_ins_n() -> None:
    raw = LEVEL3_CDA.read_bytes().replace(b'root="1.2.250.1.213.1.4.10"', b'root="1.2.3.4"')
    assert mss_headers([parse_cda(raw)], "NIL")["X-MSS-INS"] == "N"


def test_masking_codes_block_the_forbidden_audience_only() -> None:
    assert recipient_kind(PATIENT) is RecipientKind.PATIENT
    assert recipient_kind(COLLEAGUE) is RecipientKind.PROFESSIONAL
    with pytest.raises(SendingForbidden, match="masqué aux professionnels"):
        check_sending([MASQUE_PS], COLLEAGUE)
    check_sending([MASQUE_PS], PATIENT)
    with pytest.raises(SendingForbidden, match="INVISIBLE_PATIENT"):
        check_sending([INVISIBLE_PATIENT], PATIENT)
    check_sending([INVISIBLE_PATIENT], COLLEAGUE)
    rep = Code("INVISIBLE_REP_LEGAUX")
    with pytest.raises(SendingForbidden, match="représentants légaux"):
        check_sending([rep], "parent@example.test", kind=RecipientKind.LEGAL_REPRESENTATIVE)


def _mail(**changes: object) -> HealthMail:
    values: dict[str, object] = {
        "sender": DOCTOR,
        "recipients": (COLLEAGUE,),
        "body": "Bonjour,\nci-joint le compte rendu.\n",
        "cda_files": (LEVEL1_CDA.read_bytes(),),
        "nil": "DEV935997",
        "source_id": "1.2.250.1.999.1",
    }
    values.update(changes)
    return HealthMail(**values)  # type: ignore[arg-type]


def test_a_masked_document_is_blocked_before_anything_is_composed() -> None:
    with pytest.raises(SendingForbidden, match="Envoi bloqué"):
        compose_health_message(_mail(masking=(MASQUE_PS,)), domain="cabinet.mssante.fr")
    with pytest.raises(SendingForbidden, match="patient"):
        compose_health_message(
            _mail(recipients=(PATIENT,), masking=(INVISIBLE_PATIENT,)), domain="cabinet.mssante.fr"
        )


def test_a_closed_destination_blocks_that_audience_only() -> None:
    closed = {"DESTMSSANTEPS": False, "DESTMSSANTEPAT": True}
    with pytest.raises(SendingForbidden, match="DESTMSSANTEPS = N"):
        compose_health_message(_mail(destinations=closed), domain="cabinet.mssante.fr")
    assert compose_health_message(
        _mail(recipients=(PATIENT,), destinations=closed), domain="cabinet.mssante.fr"
    )
    with pytest.raises(SendingForbidden, match="DESTMSSANTEPAT = N"):
        compose_health_message(
            _mail(recipients=(PATIENT,), destinations={"DESTMSSANTEPAT": False}),
            domain="cabinet.mssante.fr",
        )
    # An absent flag says nothing: both audiences stay open.
    assert compose_health_message(
        _mail(recipients=(COLLEAGUE, PATIENT)), domain="cabinet.mssante.fr"
    )


def test_cda_to_xdm_to_mime_round_trips() -> None:
    """Level 1 (embedded PDF) end to end; the level-3 PDF path is covered in test_cda."""
    data = compose_health_message(_mail(), domain="cabinet.mssante.fr")
    message = parse_message(data)
    assert message.subject.startswith("XDM/1.0/DDM+")
    assert message.headers == {
        "X-MSS-CODECDA": "85208-7",
        "X-MSS-INS": "O",
        "X-MSS-NIL": "DEV935997",
    }
    names = [a.filename for a in message.attachments]
    assert names[0] == "IHE_XDM.ZIP"
    assert names[1].endswith("_PAT-TROIS_Dominique.pdf")
    assert message.attachments[1].data.startswith(b"%PDF-")
    package = read_xdm(message.attachments[0].data)
    assert package.errors == [] and package.warnings == []
    assert package.documents[0].content == LEVEL1_CDA.read_bytes()
    inspection = inspect_bytes(data)
    assert inspection.understood, inspection.errors
    assert inspection.kind == "eml"
    assert inspection.patient is not None
    assert inspection.patient["ids"][0] == {
        "root": "1.2.250.1.213.1.4.10",
        "extension": "279035121518989",
    }
    assert inspection.documents[0].code == "85208-7"
    assert inspection.documents[0].uri == "DOC0001.XML"


def test_a_header_with_a_line_break_cannot_forge_headers() -> None:
    with pytest.raises(InvalidDraft, match="retour à la ligne"):
        compose_message(_draft(subject="Bonjour\r\nBcc: espion@evil.test"), domain="a.test")


def test_recipients_are_read_as_addresses() -> None:
    data = compose_message(
        _draft(recipients=("Dr A <a@x.mssante.fr>", "b@y.mssante.fr"), cc=("c@z.mssante.fr",)),
        domain="a.test",
    )
    assert parse_message(data).recipients == ("a@x.mssante.fr", "b@y.mssante.fr", "c@z.mssante.fr")


def test_a_personal_mailbox_is_labelled_title_first_name_name_entity() -> None:
    from egide.messaging.mssante import sender_label

    assert sender_label("Dr", "Charles", "Boileau", "Cabinet des Tilleuls") == (
        "Dr_Charles_BOILEAU_Cabinet des Tilleuls"
    )
