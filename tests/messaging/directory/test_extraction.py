"""Reading the ANS extraction files: headers, fields, malformed lines."""

from __future__ import annotations

import pytest

from egide.messaging.directory import Source
from egide.messaging.directory.columns import MSSANTE_HEADER, PS_HEADER
from egide.messaging.directory.extraction import ExtractionReader
from egide.messaging.errors import DirectoryFileRefused

from .conftest import MSSANTE_SAMPLE, PS_SAMPLE, sample_lines

# As published by the ANS (messaging-facts §3.1 and §3.2), kept here as golden values.
OFFICIAL_MSSANTE_HEADER = (
    "Type de BAL|Adresse BAL|Type Identifiant PP|Identifiant PP|Identification nationale PP|"
    "Type identifiant structure|Identification Structure|Service de rattachement|"
    "Civilité d'exercice|Nom d'exercice|Prénom d'exercice|Catégorie profession|"
    "Libellé de catégorie profession|Code Profession|Libellé Profession|Code savoir-faire|"
    "Libellé savoir-faire|Dématérialisation|Raison Sociale structure BAL|"
    "Enseigne commerciale structure BAL|L2COMPLEMENTLOCALISATION|L3COMPLEMENTDISTRIBUTION|"
    "L4NUMEROVOIE|L4COMPLEMENTNUMEROVOIE|NL4TYPEVOIE|L4LIBELLEVOIE|L5LIEUDITMENTION|"
    "L6LIGNEACHEMINEMENT|Code postal|Département|Pays"
)


def read(text: str, kind: Source | None = None) -> ExtractionReader:
    return ExtractionReader(text.encode("utf-8").splitlines(keepends=True), kind)


def test_the_headers_are_the_published_ones() -> None:
    assert "|".join(MSSANTE_HEADER) == OFFICIAL_MSSANTE_HEADER
    assert len(MSSANTE_HEADER) == 31
    assert len(PS_HEADER) == 52
    assert PS_HEADER[0] == "Type d'identifiant PP"
    assert PS_HEADER[-1] == "Libellé section tableau pharmaciens"


def test_it_recognises_each_kind_from_its_header() -> None:
    with MSSANTE_SAMPLE.open("rb") as stream:
        assert ExtractionReader(stream).kind is Source.MSSANTE
    with PS_SAMPLE.open("rb") as stream:
        assert ExtractionReader(stream).kind is Source.PS


def test_it_reads_every_field_of_a_mailbox_line() -> None:
    with MSSANTE_SAMPLE.open("rb") as stream:
        entries = list(ExtractionReader(stream).entries())
    first = entries[0]
    assert first.key == "marie.dupont@medecin.mssante.fr"
    assert first.mailbox_type == "PER"
    assert first.rpps == "99700000017"
    assert first.national_id == "899700000017"
    assert (first.family_name, first.given_name) == ("DUPONT", "Marie")
    assert (first.profession, first.specialty) == ("Médecin", "Médecine Générale")
    assert (first.postcode, first.city, first.department) == ("69003", "LYON", "69")
    assert first.street == "12 RUE DE LA PAIX"
    assert first.display_name == "DR Marie DUPONT"
    organisation = next(entry for entry in entries if entry.mailbox_type == "ORG")
    assert organisation.display_name == "Centre Hospitalier de Lyon – Service de cardiologie"


def test_it_reads_a_professional_activity_line_with_its_trailing_separator() -> None:
    with PS_SAMPLE.open("rb") as stream:
        entries = list(ExtractionReader(stream).entries())
    assert entries[0].key == "pp:899700000017@S001"
    assert entries[0].city == "Lyon"
    assert entries[0].organisation == "Cabinet des Tilleuls"
    assert entries[0].street == "3 Rue des Lilas"
    assert entries[0].address == ""


def test_it_accepts_the_structure_bal_suffixes_and_a_byte_order_mark() -> None:
    names = [
        f"{name} structure BAL" if index >= 20 else name
        for index, name in enumerate(MSSANTE_HEADER)
    ]
    reader = read("\ufeff" + "|".join(names) + "\n" + sample_lines()[0] + "\n")
    assert reader.kind is Source.MSSANTE
    assert len(list(reader.entries())) == 1


def test_it_refuses_a_wrong_header_with_a_french_reason() -> None:
    header = OFFICIAL_MSSANTE_HEADER.replace("Adresse BAL", "Courriel")
    with pytest.raises(DirectoryFileRefused, match="colonne 2 : « Adresse BAL » attendu"):
        read(header + "\n", Source.MSSANTE)


def test_it_refuses_a_file_that_is_no_extraction() -> None:
    with pytest.raises(DirectoryFileRefused, match="ce n'est pas une extraction"):
        read("nom;prenom;adresse\nDUPONT;Marie;x@y.fr\n")


def test_it_refuses_an_empty_file() -> None:
    with pytest.raises(DirectoryFileRefused, match="vide"):
        read("")


def test_it_says_which_kind_a_file_is_when_the_wrong_one_is_asked() -> None:
    text = PS_SAMPLE.read_text(encoding="utf-8")
    with pytest.raises(DirectoryFileRefused, match="--kind ps"):
        read(text, Source.MSSANTE)


def test_it_reports_malformed_lines_with_their_numbers_and_keeps_the_others() -> None:
    good = sample_lines()[0]
    lines = [
        OFFICIAL_MSSANTE_HEADER,
        good,
        "PER|too|few|columns",
        "",
        good.replace("PER|", "XYZ|", 1),
        good.replace("marie.dupont@medecin.mssante.fr", "pas-une-adresse"),
        good.replace("DUPONT", "DU\x1fPONT"),
        sample_lines()[1],
    ]
    raw = "\n".join(lines).encode("utf-8").splitlines(keepends=True)
    raw.insert(3, b"PER|\xff\xfe|broken\n")
    reader = ExtractionReader(raw)
    entries = list(reader.entries())
    assert [entry.family_name for entry in entries] == ["DUPONT", "MARTIN"]
    reasons = {problem.number: problem.reason for problem in reader.problems.lines}
    assert reasons[3] == "4 colonne(s) au lieu de 31"
    assert reasons[4].startswith("octets non UTF-8")
    assert reasons[5] == "ligne vide"
    assert "type de BAL « XYZ » inconnu" in reasons[6]
    assert "adresse BAL « pas-une-adresse » invalide" in reasons[7]
    assert "U+001F" in reasons[8]
    assert reader.problems.count == 6
    assert reader.line_count == 9


def test_it_strips_blanks_around_values() -> None:
    line = " | ".join(sample_lines()[0].split("|"))
    entries = list(read(OFFICIAL_MSSANTE_HEADER + "\n" + line + "\n").entries())
    assert entries[0].address == "marie.dupont@medecin.mssante.fr"
    assert entries[0].family_name == "DUPONT"


def test_it_reads_an_older_latin_1_professional_file() -> None:
    text = PS_SAMPLE.read_text(encoding="utf-8")
    reader = ExtractionReader(text.encode("latin-1").splitlines(keepends=True))
    assert reader.encoding == "latin-1"
    entries = list(reader.entries())
    assert entries[0].profession == "Médecin"
