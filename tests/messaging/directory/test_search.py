"""Searching the way a secretary types, on both index back-ends."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from egide.messaging.directory import DirectoryIndex, import_file, open_index, postgres_index
from egide.messaging.directory.postgres_index import PostgresIndex
from egide.messaging.directory.query import parse_query

from .conftest import MSSANTE_SAMPLE, mssante_file, sample_lines


@pytest.fixture
def filled(index: DirectoryIndex) -> DirectoryIndex:
    import_file(index, MSSANTE_SAMPLE)
    return index


def names(index: DirectoryIndex, query: str, limit: int = 10) -> list[str]:
    return [entry.family_name or entry.organisation for entry in index.search(query, limit)]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("infirmière", "DURAND"),
        ("IDE paris", "DURAND"),
        ("infirmier", "DURAND"),
        ("kiné lyon", "MARTIN"),
        ("kine", "MARTIN"),
        ("kinésithérapeute", "MARTIN"),
        ("généraliste lyon", "DUPONT"),
        ("medecin generaliste paris", "DUPONTEL"),
        ("dentiste", "MOREAU"),
        ("sage-femme", "LEFÈVRE"),
        ("sage femme marseille", "LEFÈVRE"),
        ("psy lyon", "ROUX"),
        ("ORL", "BERNARD"),
        ("pédiatre", "PETIT"),
        ("pediatre lille", "PETIT"),
    ],
)
def test_it_understands_the_usual_names_of_professions(
    filled: DirectoryIndex, typed: str, expected: str
) -> None:
    assert names(filled, typed)[:1] == [expected]


def test_accents_and_case_do_not_matter(filled: DirectoryIndex) -> None:
    assert names(filled, "lefevre") == ["LEFÈVRE"]
    assert names(filled, "ELODIE") == ["LEFÈVRE"]
    assert names(filled, "Élo") == ["LEFÈVRE"]
    assert names(filled, "ines roux") == ["ROUX"]


def test_the_last_word_is_a_prefix_and_the_others_whole_words(filled: DirectoryIndex) -> None:
    assert names(filled, "dup") == ["DUPONT", "DUPONTEL"]
    assert names(filled, "dupont ma") == ["DUPONT"]
    assert names(filled, "dupont zo") == []
    # A finished word (followed by a space) is no longer a prefix.
    assert names(filled, "dupont ") == ["DUPONT"]


def test_every_word_becomes_a_prefix_when_nothing_matched(filled: DirectoryIndex) -> None:
    assert names(filled, "dupon mar") == ["DUPONT", "DUPONTEL"]
    # «dupont» is a whole word: no DUPONT Marc, so DUPONTEL Marc is the next best.
    assert names(filled, "dupont marc") == ["DUPONTEL"]


def test_courtesy_words_are_ignored(filled: DirectoryIndex) -> None:
    assert names(filled, "Dr Dupont") == ["DUPONT", "DUPONTEL"]
    assert names(filled, "Dr Dupont ") == ["DUPONT"]
    assert names(filled, "madame durand") == ["DURAND"]


def test_it_finds_an_rpps_and_its_prefix(filled: DirectoryIndex) -> None:
    assert names(filled, "99700000066") == ["BERNARD"]
    assert names(filled, "9970000006") == ["BERNARD"]


def test_it_finds_an_address_by_its_beginning(filled: DirectoryIndex) -> None:
    found = filled.search("secretariat.cardio@ch")
    assert [entry.address for entry in found] == ["secretariat.cardio@ch-lyon.mssante.fr"]
    found = filled.search("hugo.petit@medecin.mssante.fr")
    assert found[0].family_name == "PETIT"


def test_it_finds_organisations_by_name_service_and_city(filled: DirectoryIndex) -> None:
    assert names(filled, "centre hospitalier") == ["Centre Hospitalier de Lyon"]
    assert names(filled, "cardiologie lyon") == ["Centre Hospitalier de Lyon"]


def test_names_rank_before_other_fields(filled: DirectoryIndex) -> None:
    # «Lyon» is a city for most entries, and the organisation's name for the hospital.
    found = names(filled, "lyon")
    assert found[0] == "Centre Hospitalier de Lyon"
    assert set(found[1:]) == {"DUPONT", "MARTIN", "ROUX"}


def test_people_rank_alphabetically_among_equal_matches(filled: DirectoryIndex) -> None:
    assert names(filled, "lyon kin") == ["MARTIN"]
    assert names(filled, "69003 ") == ["DUPONT", "ROUX", "Centre Hospitalier de Lyon"]


def test_limits_and_empty_queries(filled: DirectoryIndex) -> None:
    assert filled.search("") == []
    assert filled.search("  ,; ") == []
    assert len(filled.search("d", limit=1)) == 1
    assert len(filled.search("fr", limit=1000)) <= 100
    assert filled.search("zzzz") == []


def test_hostile_text_is_only_text(filled: DirectoryIndex) -> None:
    for text in ['"', "dupont' OR 1=1 --", "NEAR(a b)", "a AND", "*", "l'", "x:*", "(|&!)"]:
        filled.search(text)


def crowded_file(tmp_path: Path) -> Path:
    """The sample, with 150 kinés named MARTIN in Lyon and 150 nurses in Lille: more matches
    than a search ranks, so that PostgreSQL reads ranges of names and cities."""
    template = sample_lines()[1]  # MARTIN Paul, kiné in Lyon
    lines = sample_lines()
    for number in range(150):
        lines.append(
            template.replace("paul.martin@", f"luc{number}.martin@")
            .replace("|Paul|", f"|Luc{number:03}|")
            .replace("99700000025", f"9970100{number:04}")
        )
        lines.append(
            template.replace("paul.martin@kine", f"ines{number}.roux@infirmier")
            .replace("|MARTIN|Paul|", f"|ROUX|Inès{number:03}|")
            .replace("|70|Masseur-Kinésithérapeute|", "|60|Infirmier|")
            .replace("69001 LYON|69001|69", "59000 LILLE|59000|59")
            .replace("99700000025", f"9970200{number:04}")
        )
    return mssante_file(tmp_path, lines)


def test_many_equal_matches_still_match_every_word(index: DirectoryIndex, tmp_path: Path) -> None:
    import_file(index, crowded_file(tmp_path))
    found = index.search("martin lu")
    assert len(found) == 10
    assert all(e.family_name == "MARTIN" and e.given_name.startswith("Luc") for e in found)
    for typed in ("kiné lyo", "Lyon kiné", "infirmière lil", "Lille IDE"):
        found = index.search(typed)
        assert len(found) == 10, typed
        assert len({(e.profession, e.city) for e in found}) == 1, typed
    assert {e.city for e in index.search("kiné lil")} == set()
    assert index.search("lille kiné") == []


def test_postgresql_reads_names_and_cities_as_ranges(
    postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """«name, then a prefix» reads the B-tree of names; «profession + city» the city's rows
    (format 2): in order, stopping after the candidates, instead of a GIN posting list."""
    with psycopg.connect(postgres_database, autocommit=True) as db:
        db.execute("DROP SCHEMA IF EXISTS egide_directory CASCADE")
    index = open_index(postgres_database)
    try:
        assert isinstance(index, PostgresIndex)
        import_file(index, crowded_file(tmp_path))
        statement = index.search_statement(parse_query("martin lu"), 10)
        assert statement is not None and "name >= %s" in statement[0]
        assert "martin lu" in statement[1]
        # On so few rows the word index is cheaper: make the city's rows cheaper still.
        monkeypatch.setattr(postgres_index, "ROW_THROUGH_INDEX", 0.001)
        statement = index.search_statement(parse_query("kiné lyo"), 10)
        assert statement is not None and "place >= %s" in statement[0]
        assert "lyo" in statement[1]
        found = index.search("kiné lyo")
        assert len(found) == 10
        assert {(e.profession, e.city) for e in found} == {("Masseur-Kinésithérapeute", "LYON")}
        # Two cities in one query: no city range (an entry has one city).
        statement = index.search_statement(parse_query("lille lyo"), 10)
        assert statement is not None and "place >= %s" not in statement[0]
    finally:
        index.close()


def numbered_file(tmp_path: Path) -> Path:
    """The crowded file, with organisations whose names hold numbers («SOS 24», «Centre
    15») and a person whose RPPS starts with 24."""
    lines = crowded_file(tmp_path).read_text(encoding="utf-8").splitlines()[1:]
    organisation = sample_lines()[9]  # Centre Hospitalier de Lyon, cardiology
    person = sample_lines()[0]  # DUPONT Marie
    lines += [
        organisation.replace("secretariat.cardio@ch-lyon", "accueil@sos24")
        .replace("Centre Hospitalier de Lyon", "SOS 24")
        .replace("Service de cardiologie", "Urgences"),
        organisation.replace("secretariat.cardio@ch-lyon", "regulation@samu")
        .replace("Centre Hospitalier de Lyon", "Centre 15")
        .replace("Service de cardiologie", ""),
        person.replace("marie.dupont@", "anne.sos@")
        .replace("|DUPONT|Marie|", "|SOS|Anne|")
        .replace("99700000017", "24100000011"),
    ]
    return mssante_file(tmp_path, lines)


def test_rpps_and_numbers_in_names_are_found_as_before(
    tmp_path: Path, postgres_database: str
) -> None:
    """PostgreSQL (format 3) keeps the RPPS out of the `identity` words and reads it from a
    B-tree; what a search finds is still what SQLite finds with the RPPS among the words:
    a whole RPPS, its prefix, a number in a name, an RPPS beside a name."""
    path = numbered_file(tmp_path)
    with psycopg.connect(postgres_database, autocommit=True) as db:
        db.execute("DROP SCHEMA IF EXISTS egide_directory CASCADE")
    lite = open_index(tmp_path / "lite")
    server = open_index(postgres_database)
    try:
        import_file(lite, path)
        import_file(server, path)
        for typed in (
            "99701000012",
            "99701000012 ",
            "997010001",
            "9970100001",
            "99700000066",
            "9970000006",
            "24",
            "24 ",
            "241",
            "2410000001",
            "sos 24",
            "sos 2",
            "SOS 24 ",
            "sos",
            "centre 15",
            "15",
            "martin 99701000012",
            "martin 9970100001",
            "luc001 9970",
            "luc001 99701000012",
            "99701000012 martin",
            "dupont 99700000017",
            "dupon 9970000001",
            "69003 ",
            "99701000012 99701",
        ):
            expected = [entry.key for entry in lite.search(typed)]
            assert [entry.key for entry in server.search(typed)] == expected, typed
        assert names(server, "99701000012") == ["MARTIN"]
        assert names(server, "24") == ["SOS 24", "SOS"] or names(server, "24") == [
            "SOS",
            "SOS 24",
        ]
        assert names(server, "centre 15") == ["Centre 15"]
        with psycopg.connect(postgres_database) as db:
            row = db.execute(
                "SELECT rpps, identity::text FROM egide_directory.entry WHERE key = %s",
                ("anne.sos@medecin.mssante.fr",),
            ).fetchone()
        assert row == ("24100000011", "'anne' 'sos'")
    finally:
        lite.close()
        server.close()
