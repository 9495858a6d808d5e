"""Searching the way a secretary types, on both index back-ends."""

from __future__ import annotations

import pytest

from egide.messaging.directory import DirectoryIndex, import_file

from .conftest import MSSANTE_SAMPLE


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
