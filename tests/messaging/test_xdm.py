"""IHE XDM: building packages from CDA, reading field packages tolerantly, hostile ZIPs."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from egide.messaging.archive import ArchiveLimits, read_archive
from egide.messaging.cda import Code
from egide.messaging.errors import InvalidArchive, InvalidCda, UnsafeArchive
from egide.messaging.xdm import build_xdm
from egide.messaging.xdm_metadata import CONFIDENTIALITY_MSS_SYSTEM, RIM_NS, SCHEME
from egide.messaging.xdm_reader import read_xdm

from .conftest import CDA_FILES, DATA, LEVEL1_CDA, LEVEL3_CDA, XDM_FILES


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


ELECTROPHORESIS = "BIO-CR-BIO_2024.01_Electrophorese.xml"


def _built() -> bytes:
    return build_xdm(
        [
            LEVEL3_CDA.read_bytes(),
            (DATA / "cda" / "BIO-CR-BIO_2024.01_Electrophorese.xml").read_bytes(),
        ],
        source_id="1.2.250.1.999.1",
        sender="Dr Charles BOILEAU",
    ).data


def test_a_built_package_has_the_ihe_layout() -> None:
    with zipfile.ZipFile(io.BytesIO(_built())) as archive:
        assert archive.namelist() == [
            "README.TXT",
            "INDEX.HTM",
            "IHE_XDM/SUBSET01/METADATA.XML",
            "IHE_XDM/SUBSET01/DOC0001.XML",
            "IHE_XDM/SUBSET01/DOC0002.XML",
        ]


def test_built_metadata_takes_every_field_from_the_cda_header() -> None:
    data = _built()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        metadata = etree.fromstring(archive.read("IHE_XDM/SUBSET01/METADATA.XML"))
        document = archive.read("IHE_XDM/SUBSET01/DOC0001.XML")
    assert etree.QName(metadata).localname == "SubmitObjectsRequest"
    entry = metadata.find(f".//{{{RIM_NS}}}ExtrinsicObject")
    assert entry is not None
    slots = {
        slot.get("name"): [v.text for v in slot.iter(f"{{{RIM_NS}}}Value")]
        for slot in entry.findall(f"{{{RIM_NS}}}Slot")
    }
    assert slots["hash"] == [hashlib.sha1(document, usedforsecurity=False).hexdigest()]
    assert slots["size"] == [str(len(document))]
    assert slots["URI"] == ["DOC0001.XML"]
    assert slots["sourcePatientId"] == ["279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"]
    schemes = {
        c.get("classificationScheme"): c for c in entry.findall(f"{{{RIM_NS}}}Classification")
    }
    assert schemes[SCHEME["typeCode"]].get("nodeRepresentation") == "11502-2"
    for name in ("classCode", "confidentialityCode", "formatCode", "author"):
        assert SCHEME[name] in schemes
    package = read_xdm(data)
    assert package.warnings == [] and package.errors == []
    first = package.documents[0].entry
    assert first.patient_id == "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert first.author_persons[0].startswith("8")
    assert first.author_persons[0].endswith("&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS")
    assert first.creation_time is not None and len(first.creation_time) == 14


def test_building_is_deterministic_for_the_same_submission() -> None:
    from egide.messaging.xdm_metadata import SubmissionSet

    submission = SubmissionSet(
        source_id="1.2.3", patient_id=None, unique_id="2.25.1", submission_time="20260101000000"
    )
    one = build_xdm([LEVEL3_CDA.read_bytes()], source_id="1.2.3", sender="x", submission=submission)
    two = build_xdm([LEVEL3_CDA.read_bytes()], source_id="1.2.3", sender="x", submission=submission)
    assert one.data == two.data


def test_masking_codes_travel_as_extra_confidentiality_codes() -> None:
    masked = Code("MASQUE_PS", CONFIDENTIALITY_MSS_SYSTEM, "Masqué aux professionnels")
    data = build_xdm(
        [LEVEL1_CDA.read_bytes()], source_id="1.2.3", sender="x", extra_confidentiality=(masked,)
    ).data
    entry = read_xdm(data).documents[0].entry
    assert [c.code for c in entry.confidentiality] == ["N", "MASQUE_PS"]
    assert entry.format_code is not None and entry.format_code.code == "urn:ihe:iti:xds-sd:pdf:2008"


def test_documents_of_two_patients_do_not_share_a_package() -> None:
    with pytest.raises(InvalidCda, match="un patient"):
        build_xdm(
            [LEVEL3_CDA.read_bytes(), (DATA / "cda" / "CSE-CS8_2024.01.xml").read_bytes()],
            source_id="1.2.3",
            sender="x",
        )


@pytest.mark.parametrize("path", XDM_FILES, ids=lambda p: p.name)
def test_every_direct_project_package_reads_with_warnings(path: Path) -> None:
    package = read_xdm(path.read_bytes())
    assert package.errors == []
    assert len(package.documents) == 1
    document = package.documents[0]
    assert document.cda is not None and document.cda.code.code == "34133-9"
    assert document.entry.patient_id == "111111111^^&2.16.840.1.113883.4.1&ISO"
    assert any("URI" in w for w in package.warnings)


def test_field_defects_are_read_and_reported() -> None:
    """The ANS DRIM-M sample's defects: SS000001, a URI with the folder, an undeclared prefix."""
    built = zipfile.ZipFile(io.BytesIO(_built()))
    metadata = built.read("IHE_XDM/SUBSET01/METADATA.XML").decode()
    metadata = metadata.replace("<rim:Value>DOC0001.XML<", "<rim:Value>SS000001/DOC0001.XML<")
    metadata = metadata.replace(' xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"', "")
    metadata = metadata.replace("lcm:SubmitObjectsRequest", "ns3:SubmitObjectsRequest")
    members = {
        name.replace("SUBSET01", "SS000001"): built.read(name)
        for name in built.namelist()
        if not name.endswith("METADATA.XML")
    }
    members["IHE_XDM/SS000001/METADATA.XML"] = metadata.encode()
    package = read_xdm(_zip(members))
    assert package.errors == []
    assert len(package.documents) == 2
    text = " ".join(package.warnings)
    assert "SS000001" in text
    assert "URI « SS000001/DOC0001.XML »" in text
    assert "ns3" in text


def test_a_tampered_document_is_flagged_by_its_hash() -> None:
    built = zipfile.ZipFile(io.BytesIO(_built()))
    members = {name: built.read(name) for name in built.namelist()}
    members["IHE_XDM/SUBSET01/DOC0002.XML"] = members["IHE_XDM/SUBSET01/DOC0002.XML"].replace(
        b"PAT-TROIS", b"PAT-QUATR"
    )
    package = read_xdm(_zip(members))
    assert any("SHA-1" in w and "DOC0002" in w for w in package.warnings)


def test_a_listed_document_missing_from_the_archive_is_an_error() -> None:
    built = zipfile.ZipFile(io.BytesIO(_built()))
    members = {n: built.read(n) for n in built.namelist() if not n.endswith("DOC0002.XML")}
    package = read_xdm(_zip(members))
    assert any("absent" in e for e in package.errors)


def test_a_zip_without_metadata_is_not_an_xdm_package() -> None:
    with pytest.raises(InvalidArchive, match=r"METADATA\.XML"):
        read_xdm(_zip({"hello.txt": b"bonjour"}))


def test_a_truncated_zip_is_refused_clearly() -> None:
    data = _built()
    with pytest.raises(InvalidArchive, match="illisible ou tronquée"):
        read_xdm(data[: len(data) // 2])
    with pytest.raises(InvalidArchive):
        read_xdm(b"PK\x03\x04" + b"\x00" * 50)


def test_a_zip_bomb_is_refused_by_ratio_before_it_fills_memory() -> None:
    bomb = _zip({"IHE_XDM/SUBSET01/METADATA.XML": b"\x00" * (20 * 1024 * 1024)})
    assert len(bomb) < 100_000
    with pytest.raises(UnsafeArchive, match="bombe"):
        read_xdm(bomb)


def test_an_archive_over_the_absolute_limits_is_refused() -> None:
    data = _zip({f"f{i}.txt": b"x" for i in range(20)})
    with pytest.raises(UnsafeArchive, match="fichiers"):
        read_archive(data, ArchiveLimits(max_members=10))
    data = _zip({"a.bin": bytes(range(256)) * 400}, method=zipfile.ZIP_STORED)
    with pytest.raises(UnsafeArchive, match="décompressée"):
        read_archive(data, ArchiveLimits(max_total_bytes=50_000))


@pytest.mark.parametrize(
    "name", ["../evil.txt", "/etc/passwd", "IHE_XDM/../../x", "C:\\x.txt", "a\\..\\..\\b"]
)
def test_paths_leaving_the_archive_are_refused(name: str) -> None:
    with pytest.raises(UnsafeArchive, match="chemin"):
        read_archive(_zip({name: b"x"}))


def test_a_nested_archive_is_refused() -> None:
    inner = _zip({"a.txt": b"a"})
    with pytest.raises(UnsafeArchive, match="imbriquée"):
        read_archive(_zip({"IHE_XDM/SUBSET01/DOC0001.XML": inner}))
    with pytest.raises(UnsafeArchive, match="imbriquée"):
        read_archive(_zip({"inner.zip": b"not really"}))


def test_a_duplicated_member_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", b"1")
        archive.writestr("A.TXT", b"2")
    with pytest.raises(UnsafeArchive, match="deux fois"):
        read_archive(buffer.getvalue())


@pytest.mark.parametrize("path", CDA_FILES, ids=lambda p: p.name)
def test_every_ans_example_round_trips_through_an_xdm_package(path: Path) -> None:
    data = path.read_bytes()
    built = build_xdm([data], source_id="1.2.250.1.999.1", sender="Dr Test")
    package = read_xdm(built.data)
    assert package.errors == [] and package.warnings == []
    (document,) = package.documents
    assert document.content == data
    assert document.entry == built.entries[0]
    assert document.cda is not None and document.cda.code == built.documents[0].code
