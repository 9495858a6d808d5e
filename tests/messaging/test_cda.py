"""CDA R2 parsing, safe narrative rendering and the PDF copy."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

import pytest

from egide.messaging.cda import embedded_file, parse_cda
from egide.messaging.errors import InvalidCda, UnsafeXml
from egide.messaging.narrative import render_narrative, sanitize_html
from egide.messaging.rendition import render_html_page, render_pdf

from .conftest import CDA_FILES, DATA, LEVEL1_CDA, LEVEL3_CDA

MINIMAL = b"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <code code="11502-2" codeSystem="2.16.840.1.113883.6.1" displayName="CR d'examens biologiques"/>
  <title>Compte rendu</title>
  <recordTarget><patientRole><id root="1.2.250.1.213.1.4.10" extension="279035121518989"/>
    <patient><name><family>TEST</family><given>Anne</given></name></patient>
  </patientRole></recordTarget>
  <component><structuredBody><component><section><title>R\xc3\xa9sultats</title>
    <text>BODY</text></section></component></structuredBody></component>
</ClinicalDocument>"""


def _with_body(body: str) -> bytes:
    return MINIMAL.replace(b"BODY", body.encode())


def test_there_are_sixty_ans_examples() -> None:
    assert len(CDA_FILES) == 60


@pytest.mark.parametrize("path", CDA_FILES, ids=lambda p: p.name)
def test_every_ans_example_parses_and_renders_as_safe_html(path: Path) -> None:
    document = parse_cda(path.read_bytes())
    assert document.code.code
    assert document.patient.ids
    assert document.patient.family
    page = render_html_page(document)
    assert "<script" not in page.lower()
    assert html.escape(document.title) in page


def test_the_header_gives_patient_traits_authors_and_confidentiality() -> None:
    document = parse_cda(LEVEL3_CDA.read_bytes())
    assert document.code.code == "11502-2"
    assert document.code.code_system == "2.16.840.1.113883.6.1"
    assert document.patient.ids[0].root == "1.2.250.1.213.1.4.10"
    assert document.patient.ids[0].extension == "279035121518989"
    assert (document.patient.family, document.patient.birth_date, document.patient.sex) == (
        "PAT-TROIS",
        "1979-03-28",
        "F",
    )
    assert document.authors[0].ids[0].root == "1.2.250.1.71.4.2.1"
    assert [c.code for c in document.confidentiality] == ["N"]
    assert document.level == 3


def test_the_birth_name_is_preferred_to_the_used_name() -> None:
    document = parse_cda((DATA / "cda" / "CSE-CS8_2024.01.xml").read_bytes())
    assert document.patient.family == "DECOURCY"
    assert document.patient.given == "Ruth Isabelle"


def test_a_level_one_document_yields_its_embedded_pdf() -> None:
    document = parse_cda(LEVEL1_CDA.read_bytes())
    assert document.level == 1
    assert document.embedded_media_type == "application/pdf"
    pdf = embedded_file(document)
    assert pdf is not None and pdf.startswith(b"%PDF-")
    assert render_pdf(document) == pdf


def test_a_self_presenting_document_is_read_without_running_its_stylesheet() -> None:
    path = DATA / "cda" / "BIO-CR-BIO_2021.01_Auto-Presentable.xml"
    document = parse_cda(path.read_bytes())
    assert document.code.code == "11502-2"
    assert any("autoprésentable" in w for w in document.warnings)


def test_a_level_three_pdf_copy_is_a_pdf_a_with_the_patient_name() -> None:
    pdf = render_pdf(parse_cda(LEVEL3_CDA.read_bytes()))
    assert pdf.startswith(b"%PDF-")
    assert b"pdfaid" in pdf  # the PDF/A identification in the XMP metadata


@pytest.mark.parametrize(
    "hostile",
    [
        '<paragraph>x<script xmlns="urn:hl7-org:v3">alert(1)</script></paragraph>',
        '<linkHtml href="javascript:alert(1)">clic</linkHtml>',
        '<content onclick="alert(1)" styleCode="Bold">gras</content>',
        '<renderMultiMedia referencedObject="img1"/><img xmlns="http://www.w3.org/1999/xhtml"'
        ' src="https://evil.test/x.png"/>',
        '<paragraph><style xmlns="http://www.w3.org/1999/xhtml">*{}</style>&lt;script&gt;</paragraph>',
    ],
)
def test_narrative_never_lets_active_content_through(hostile: str) -> None:
    lowered = render_narrative(parse_cda(_with_body(hostile))).lower()
    for forbidden in ("<script", "javascript:", "onclick", "<img", "<style", "evil.test"):
        assert forbidden not in lowered


def test_narrative_keeps_tables_lists_and_safe_links() -> None:
    body = (
        '<table><tbody><tr><td colspan="2" style="color:red">a</td></tr></tbody></table>'
        '<list listType="ordered"><item>un</item></list>'
        '<linkHtml href="https://esante.gouv.fr">ANS</linkHtml>'
        '<content styleCode="Bold">b</content>'
    )
    out = render_narrative(parse_cda(_with_body(body)))
    assert '<td colspan="2">a</td>' in out
    assert "<ol><li>un</li></ol>" in out
    assert 'href="https://esante.gouv.fr"' in out and 'rel="noopener noreferrer nofollow"' in out
    assert '<span class="cda-bold">b</span>' in out
    assert "<h2>Résultats</h2>" in out


def test_the_sanitizer_strips_what_the_mapping_would_never_produce() -> None:
    cleaned = sanitize_html('<a href="javascript:x()">y</a><iframe></iframe>')
    assert cleaned == '<a rel="noopener noreferrer nofollow">y</a>'


def test_a_document_that_is_not_a_clinical_document_is_refused() -> None:
    with pytest.raises(InvalidCda, match="ClinicalDocument"):
        parse_cda(b"<html/>")
    with pytest.raises(InvalidCda, match="code du type"):
        parse_cda(MINIMAL.replace(b'<code code="11502-2"', b'<code nocode="1"'))
    with pytest.raises(InvalidCda, match="patient"):
        parse_cda(MINIMAL.replace(b"recordTarget>", b"recordTargetX>"))


@pytest.mark.parametrize(
    "payload",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<ClinicalDocument xmlns="urn:hl7-org:v3">&xxe;</ClinicalDocument>',
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
            for i in range(1, 10)
        )
        + b']><ClinicalDocument xmlns="urn:hl7-org:v3">&lol9;</ClinicalDocument>',
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a SYSTEM "http://evil.test/a.dtd"><a/>'.encode(
            "utf-16"
        ),
    ],
    ids=["xxe", "billion-laughs", "utf16-external-dtd"],
)
def test_xml_with_a_dtd_or_entities_is_refused(payload: bytes) -> None:
    with pytest.raises(UnsafeXml, match="DOCTYPE"):
        parse_cda(payload)


def test_truncated_and_oversized_xml_are_refused_clearly() -> None:
    with pytest.raises(UnsafeXml, match="XML invalide"):
        parse_cda(MINIMAL[:200])
    with pytest.raises(UnsafeXml, match="vide"):
        parse_cda(b"  ")
    from egide.messaging.xmlreader import parse_xml

    with pytest.raises(UnsafeXml, match="limite"):
        parse_xml(b"<a>" + b"x" * 2000 + b"</a>", max_bytes=1000)


def test_deeply_nested_narrative_is_flattened_not_a_crash() -> None:
    body = "<content>" * 200 + "profond" + "</content>" * 200
    out = render_narrative(parse_cda(_with_body(body)))
    assert "profond" in out


def test_nesting_beyond_libxml2s_limit_is_refused_clearly() -> None:
    body = "<content>" * 2100 + "x" + "</content>" * 2100
    with pytest.raises(UnsafeXml, match="XML invalide"):
        parse_cda(_with_body(body))


@pytest.mark.parametrize(
    "name", ["CSE-CS8_2024.01.xml", "VSM_1.4_2022.01.xml", "eP-MED-DM_2024.01_PosoStruct.xml"]
)
def test_sample_level_three_documents_render_a_pdf(name: str) -> None:
    assert render_pdf(parse_cda((DATA / "cda" / name).read_bytes())).startswith(b"%PDF-")


@pytest.mark.skipif(
    not os.environ.get("EGIDE_SLOW_TESTS"), reason="≈ 1.5 s per document: set EGIDE_SLOW_TESTS=1"
)
@pytest.mark.parametrize("path", CDA_FILES, ids=lambda p: p.name)
def test_every_ans_example_renders_a_pdf(path: Path) -> None:
    assert render_pdf(parse_cda(path.read_bytes())).startswith(b"%PDF-")


def test_a_level_one_document_with_a_large_scanned_pdf_is_read() -> None:
    source = LEVEL1_CDA.read_bytes()
    start = source.index(b'representation="B64"')
    start = source.index(b">", start) + 1
    end = source.index(b"</text>", start)
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40_000  # 10 MB, base64 13.6 MB in one text node
    data = source[:start] + base64.b64encode(pdf) + source[end:]
    assert embedded_file(parse_cda(data)) == pdf
