"""`open_item`: received items opened into documents the inbox can show."""

from __future__ import annotations

from egide.messaging.health_message import HealthMail, compose_health_message
from egide.messaging.received import open_item, patient_from_cx

from .conftest import DATA, LEVEL1_CDA, LEVEL3_CDA


def test_a_level_one_document_shows_its_embedded_pdf() -> None:
    (document,) = open_item(LEVEL1_CDA.read_bytes()).documents
    pdf = document.pdf()
    assert pdf is not None and pdf.startswith(b"%PDF-")
    html = document.html()
    assert html is not None and "niveau 1" in html


def test_a_level_three_document_shows_safe_html_and_no_pdf() -> None:
    (document,) = open_item(LEVEL3_CDA.read_bytes()).documents
    html = document.html()
    assert html is not None and "PAT-TROIS" in html
    assert document.pdf() is None


def test_a_health_mail_opens_into_its_documents_and_message() -> None:
    mail = HealthMail(
        sender="a@cabinet.mssante.fr",
        recipients=("b@hopital.mssante.fr",),
        body="Bonjour",
        cda_files=(LEVEL1_CDA.read_bytes(),),
        nil="DEV935997",
        source_id="1.2.250.1.999.1",
    )
    item = open_item(compose_health_message(mail, domain="cabinet.mssante.fr"))
    assert item.understood and item.warnings == []
    assert item.message is not None and item.message.body.startswith("Bonjour")
    (document,) = item.documents
    assert document.cda is not None and document.uri == "DOC0001.XML"
    assert document.content == LEVEL1_CDA.read_bytes()


def test_hl7_documents_carry_the_message_restrictions() -> None:
    path = DATA / "hl7v2" / "Volets__Trans_LPS_CDA_MSSanté__V1.0__MDM__messageDocB64.hl7"
    (document,) = open_item(path.read_bytes()).documents
    assert [c.code for c in document.confidentiality][1:] == [
        "INVISIBLE_PATIENT",
        "INVISIBLE_REP_LEGAUX",
    ]


def test_an_xds_patient_id_is_read_even_without_its_carets() -> None:
    patient = patient_from_cx("279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH")
    assert patient is not None and patient.ids[0].root == "1.2.250.1.213.1.4.10"
    sloppy = patient_from_cx("111111111^^&2.16.840.1.113883.4.1&ISO")
    assert sloppy is not None and sloppy.ids[0].extension == "111111111"
    assert patient_from_cx(None) is None
