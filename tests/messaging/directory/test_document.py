"""The documents of an entry and the counts kept while they are made."""

from __future__ import annotations

from egide.messaging.directory.document import NULL, document_words, place_counts, vocabulary
from egide.messaging.directory.entry import ROW_FIELDS, Row
from egide.messaging.directory.extraction import ExtractionReader

from .conftest import MSSANTE_SAMPLE, PS_SAMPLE


def _row(**fields: str) -> Row:
    return tuple(fields.get(name, "") for name in ROW_FIELDS)


def _rows() -> list[Row]:
    rows: list[Row] = []
    for sample in (MSSANTE_SAMPLE, PS_SAMPLE):
        with sample.open("rb") as lines:
            rows.extend(row for row, _ in ExtractionReader(lines).records())
    people = [
        ("MARTIN", "Lucie", "Masseur-Kinésithérapeute", "", "TOULOUSE", "31000", "12345678901"),
        ("MARTIN", "Paul", "Masseur-Kinésithérapeute", "", "TOULOUSE", "31000", "AB-12"),
        ("PARIS", "Martin", "Infirmier", "", "PARIS", "75012", ""),
        ("Lefèvre", "Élodie", "Médecin", "Médecine générale", "PARIS", "75012", "123456789"),
    ]
    for family, given, profession, specialty, city, postcode, rpps in people:
        rows.append(
            _row(
                key=f"{given}.{family}@x.mssante.fr".lower(),
                family_name=family,
                given_name=given,
                profession=profession,
                specialty=specialty,
                city=city,
                postcode=postcode,
                rpps=rpps,
                organisation="Cabinet du Parc",
                service="Kiné",
            )
        )
    for organisation, service, local in (
        ("Centre Hospitalier de Paris", "Cardiologie", "secretariat.cardio"),
        ("SOS 24", "", "sos_24"),
        ("Centre Hospitalier de Paris", "Martin", "accueil"),
    ):
        rows.append(
            _row(
                key=f"{local}@ch.mssante.fr",
                address=f"{local}@ch.mssante.fr",
                organisation=organisation,
                service=service,
                city="PARIS",
                postcode="75012",
            )
        )
    return rows


def test_the_counts_kept_while_making_documents_give_the_vocabulary_of_those_rows() -> None:
    rows = _rows()
    documents = document_words()
    for row in rows:
        documents(row)
    assert documents.vocabulary() == vocabulary(rows)
    assert documents.place_counts() == place_counts(rows)


def test_documents_fold_names_and_keep_a_digit_rpps_apart() -> None:
    documents = document_words()
    rows = _rows()
    identity, everything, name, city, rpps = documents(rows[-4])
    assert identity == "lefevre elodie"
    assert rpps == "123456789"
    assert everything.startswith("lefevre elodie medecin medecine generale ")
    assert everything.endswith(" paris 75012 cabinet du parc kine")
    assert (name, city) == ("lefevre elodie ", "paris ")
    identity, _, _, _, rpps = documents(rows[-6])
    assert (identity, rpps) == ("martin paul ab 12", None)
    identity, everything, name, _, rpps = documents(rows[-3])
    assert identity == "centre hospitalier de paris cardiologie"
    assert everything.endswith(" secretariat cardio")
    assert (name, rpps) == ("centre hospitalier de paris cardiologie ", None)


def test_copy_text_gives_the_five_values_as_columns_of_a_copy_line() -> None:
    rows = _rows()
    called, copied = document_words(), document_words()
    for row in rows:
        text = copied.copy_text(row)
        values = text.split("\t")
        assert len(values) == 5
        assert "\n" not in text and "\r" not in text
        assert all("\\" not in value for value in values if value != NULL)
        identity, everything, name, city, rpps = called(row)
        assert values == [identity, everything, name, city, NULL if rpps is None else rpps]
    assert copied.copy_text(rows[-6]).endswith("\tmartin paul \ttoulouse \t\\N")
    assert copied.copy_text(rows[-7]).endswith("\tmartin lucie \ttoulouse \t12345678901")
    # The counts are kept by `copy_text` as by a call: two rows were given twice.
    assert called.vocabulary() == vocabulary(rows)
    assert copied.vocabulary() == vocabulary([*rows, rows[-6], rows[-7]])
    assert copied.place_counts() == place_counts([*rows, rows[-6], rows[-7]])
