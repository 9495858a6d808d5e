"""classCode and formatCode of DocumentEntries, from the ANS tables copied in `xds_codes.toml`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from egide.messaging.cda import Code, parse_cda
from egide.messaging.xdm import build_xdm
from egide.messaging.xdm_reader import read_xdm
from egide.messaging.xds_codes import _tables, class_code, format_code

from .conftest import CDA_FILES, DATA, LEVEL1_CDA

ANS_FORMATS = "1.2.250.1.213.1.1.4.2.282"
IHE_FORMATS = "1.3.6.1.4.1.19376.1.2.3"


@pytest.mark.parametrize(
    ("name", "code", "system"),
    [
        ("VSM_1.4_2022.01.xml", "urn:asip:ci-sis:vsm:2012", ANS_FORMATS),
        ("BIO-CR-BIO_2024.01_TSH_2.xml", "urn:ihe:lab:xd-lab:2008", IHE_FORMATS),
        ("ANEST-CR-ANEST_2022.01.xml", "urn:asip:ci-sis:cr-anest:2020", ANS_FORMATS),
        ("LDL-SES_2022.01.xml", "urn:asip:ci-sis:ldl-ses:2017", ANS_FORMATS),
        ("CSE-CS8_2024.01.xml", "urn:asip:ci-sis:cse-cs8:2017", ANS_FORMATS),
        ("eDISP-MED_2024.01.xml", "urn:ihe:pharm:dis:2010", IHE_FORMATS),
        ("TLM-CR_2022.01.xml", "urn:ihe:iti:xds-sd:pdf:2008", IHE_FORMATS),
    ],
)
def test_the_format_code_comes_from_the_model_or_the_embedded_file(
    name: str, code: str, system: str
) -> None:
    found = format_code(parse_cda((DATA / "cda" / name).read_bytes()))
    assert (found.code, found.code_system) == (code, system)


@pytest.mark.parametrize("path", CDA_FILES, ids=lambda p: p.name[:40])
def test_every_ans_example_gets_a_format_code_of_the_ans_value_sets(path: Path) -> None:
    document = parse_cda(path.read_bytes())
    found = format_code(document)
    tables = _tables()["format"]
    known = {*tables["ans"]["by_template"].values(), *tables["ihe"]["by_template"].values()}
    known |= set(tables["ihe"]["by_media_type"].values()) | {tables["unknown"]["code"]}
    assert found.code in known
    if document.level == 1:
        assert found.code.startswith(("urn:ihe:iti:xds-sd:", "urn:ihe:iti-fr:xds-sd:"))
    # Only a model in neither ANS table falls back to «Document non référencé IHE ou CI-SIS».
    listed = any(
        t in tables["ans"]["by_template"] or t in tables["ihe"]["by_template"]
        for t in document.template_ids
    )
    if document.level == 3 and listed:
        assert found.code != tables["unknown"]["code"]


def test_a_structured_document_of_no_known_model_is_declared_as_such() -> None:
    raw = (DATA / "cda" / "VSM_1.4_2022.01.xml").read_bytes()
    raw = raw.replace(b'root="1.2.250.1.213.1.1.1.13"', b'root="1.2.3.4.5"')
    found = format_code(parse_cda(raw))
    assert found.code == "urn:asipSante:modelesHorsProfils:2011"


def test_the_class_code_follows_the_document_type() -> None:
    report = class_code(parse_cda((DATA / "cda" / "BIO-CR-BIO_2024.01_TSH_2.xml").read_bytes()))
    summary = class_code(parse_cda((DATA / "cda" / "VSM_1.4_2022.01.xml").read_bytes()))
    prescription = class_code(
        parse_cda((DATA / "cda" / "eP-MED-DM_2024.01_PosoStruct.xml").read_bytes())
    )
    assert (report.code, report.display_name) == ("10", "Compte rendu")
    assert (summary.code, summary.display_name) == ("11", "Synthèse")
    assert prescription.code == "42"
    assert report.code_system == summary.code_system == "1.2.250.1.213.1.1.4.1"


def test_the_tables_are_consistent() -> None:
    tables = _tables()
    classes = tables["class"]
    assert set(classes["by_type"].values()) <= set(classes["labels"])
    assert classes["default"] in classes["labels"]
    for table in ("ans", "ihe"):
        for template, code in tables["format"][table]["by_template"].items():
            assert re.fullmatch(r"[0-9]+(\.[0-9]+)+", template)
            assert re.fullmatch(r"urn:[a-zA-Z-]+:[a-zA-Z0-9:._-]+", code)


def test_built_packages_carry_the_codes_and_the_caller_may_choose_the_class() -> None:
    entry = read_xdm(build_xdm([LEVEL1_CDA.read_bytes()], source_id="1.2.3", sender="x").data)
    first = entry.documents[0].entry
    assert first.format_code is not None and first.format_code.code == "urn:ihe:iti:xds-sd:pdf:2008"
    assert first.class_code is not None and first.class_code.code == "10"
    chosen = Code("52", "1.2.250.1.213.1.1.4.1", "Certificat, déclaration")
    built = build_xdm([LEVEL1_CDA.read_bytes()], source_id="1.2.3", sender="x", class_code=chosen)
    again = read_xdm(built.data).documents[0].entry
    assert again.class_code is not None and again.class_code.code == "52"
