"""Importing extractions: merged duplicates, dated diffs, liste rouge, truncated files."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from egide.messaging.directory import ChangeKind, DirectoryIndex, Source, import_file, open_index
from egide.messaging.errors import DirectoryFileRefused, DirectoryIndexError

from .conftest import MSSANTE_SAMPLE, PS_SAMPLE, mssante_file, sample_lines

DAY_ONE = datetime(2026, 8, 25, 6, 0, tzinfo=UTC)
DAY_TWO = datetime(2026, 8, 26, 6, 0, tzinfo=UTC)


def test_it_merges_duplicate_addresses_into_one_entry(index: DirectoryIndex) -> None:
    record = import_file(index, MSSANTE_SAMPLE, imported_at=DAY_ONE)
    assert (record.lines, record.entries, record.merged, record.malformed) == (12, 10, 1, 0)
    merged = index.get("Marie.Dupont@medecin.mssante.fr")
    assert merged is not None
    # The first line wins; the duplicate fills what the first left empty.
    assert merged.family_name == "DUPONT"
    assert merged.organisation == "Maison de santé des Tilleuls"
    assert index.count(Source.MSSANTE) == 10


def test_backslashes_and_tabs_in_a_field_are_stored_as_read(
    index: DirectoryIndex, tmp_path: Path
) -> None:
    # PostgreSQL's first import writes COPY's text format itself: these must be escaped.
    line = sample_lines()[0].split("|")
    line[7] = "Cardio\\logie\tsoins \\N"
    line[18] = "Clinique\\ du \\.Lac"
    path = mssante_file(tmp_path, ["|".join(line), *sample_lines()[1:]])
    import_file(index, path, imported_at=DAY_ONE)
    entry = index.get("marie.dupont@medecin.mssante.fr")
    assert entry is not None
    assert entry.service == "Cardio\\logie\tsoins \\N"
    assert entry.organisation == "Clinique\\ du \\.Lac"
    assert [found.key for found in index.search("dupont cardio", 10)] == [entry.key]


def test_the_first_import_lists_every_entry_as_new(index: DirectoryIndex) -> None:
    record = import_file(index, MSSANTE_SAMPLE, imported_at=DAY_ONE)
    assert (record.added, record.removed, record.changed) == (10, 0, 0)
    changes = index.changes(record.id)
    assert len(changes) == 10
    assert {change.kind for change in changes} == {ChangeKind.ADDED}
    assert "paul.martin@kine.mssante.fr" in {change.address for change in changes}


def test_a_later_import_stores_a_dated_diff(index: DirectoryIndex, tmp_path: Path) -> None:
    import_file(index, MSSANTE_SAMPLE, imported_at=DAY_ONE)
    lines = sample_lines()
    lines = [line for line in lines if "paul.martin" not in line]  # removed
    lines = [line.replace("RUE DE LA PAIX", "AVENUE FOCH") for line in lines]  # changed
    lines.append(lines[1].replace("lea.durand@", "lea.durand2@"))  # added
    record = import_file(index, mssante_file(tmp_path, lines), imported_at=DAY_TWO)
    assert (record.added, record.removed, record.changed) == (1, 1, 1)
    assert record.imported_at == DAY_TWO
    changes = {change.kind: change for change in index.changes(record.id)}
    assert changes[ChangeKind.ADDED].address == "lea.durand2@infirmier.mssante.fr"
    assert changes[ChangeKind.REMOVED].address == "paul.martin@kine.mssante.fr"
    assert changes[ChangeKind.REMOVED].name == "M Paul MARTIN"
    assert changes[ChangeKind.CHANGED].fields == ("street",)
    history = index.imports()
    assert [item.imported_at for item in history] == [DAY_TWO, DAY_ONE]
    assert index.get("paul.martin@kine.mssante.fr") is None
    assert index.search("martin paul") == []


def test_the_same_file_twice_changes_nothing(index: DirectoryIndex) -> None:
    import_file(index, MSSANTE_SAMPLE, imported_at=DAY_ONE)
    record = import_file(index, MSSANTE_SAMPLE, imported_at=DAY_TWO)
    assert (record.added, record.removed, record.changed) == (0, 0, 0)
    assert index.changes(record.id) == []


def test_malformed_lines_are_reported_and_kept_out(index: DirectoryIndex, tmp_path: Path) -> None:
    lines = [*sample_lines()[:2], "PER|cassé", sample_lines()[2]]
    record = import_file(index, mssante_file(tmp_path, lines))
    assert record.malformed == 1
    assert record.problems[0].number == 4
    assert record.entries == 3
    stored = index.imports()[0]
    assert stored.problems == record.problems


def test_liste_rouge_addresses_are_never_published(index: DirectoryIndex) -> None:
    record = import_file(
        index, MSSANTE_SAMPLE, red_list=["Lea.Durand@infirmier.mssante.fr"], imported_at=DAY_ONE
    )
    assert record.withheld == 1
    assert index.get("lea.durand@infirmier.mssante.fr") is None
    assert index.search("durand") == []
    assert index.search("infirmière paris") == []


def test_a_much_smaller_file_is_refused_as_truncated(index: DirectoryIndex, tmp_path: Path) -> None:
    import_file(index, MSSANTE_SAMPLE, imported_at=DAY_ONE)
    truncated = mssante_file(tmp_path, sample_lines()[:2])
    with pytest.raises(DirectoryFileRefused, match="tronqué"):
        import_file(index, truncated)
    assert index.count() == 10
    record = import_file(index, truncated, allow_shrink=True)
    assert record.removed == 8


def test_a_wrong_header_leaves_the_index_untouched(index: DirectoryIndex, tmp_path: Path) -> None:
    import_file(index, MSSANTE_SAMPLE, imported_at=DAY_ONE)
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("Type de BAL|Adresse\nPER|x@y.fr\n", encoding="utf-8")
    with pytest.raises(DirectoryFileRefused):
        import_file(index, wrong)
    assert index.count() == 10
    assert len(index.imports()) == 1


@pytest.fixture
def collector_on() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.enable()
    yield
    if not enabled:
        gc.disable()


@pytest.mark.usefixtures("collector_on")
def test_an_import_pauses_the_cycle_collector_and_resumes_it(
    index: DirectoryIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    during: list[bool] = []
    replace = index.replace_source

    def replace_source(*args: object, **kwargs: object) -> object:
        during.append(gc.isenabled())
        return replace(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(index, "replace_source", replace_source)
    import_file(index, MSSANTE_SAMPLE, imported_at=DAY_ONE)
    assert during == [False]
    assert gc.isenabled()
    # Also when the import is refused, and never switched on when it was off.
    truncated = mssante_file(tmp_path, sample_lines()[:2])
    with pytest.raises(DirectoryFileRefused):
        import_file(index, truncated)
    assert gc.isenabled()
    gc.disable()
    import_file(index, MSSANTE_SAMPLE, imported_at=DAY_TWO)
    assert during == [False, False]
    assert not gc.isenabled()


def test_professionals_and_mailboxes_live_side_by_side(index: DirectoryIndex) -> None:
    import_file(index, MSSANTE_SAMPLE, imported_at=DAY_ONE)
    record = import_file(index, PS_SAMPLE, imported_at=DAY_TWO)
    assert record.source is Source.PS
    assert (record.entries, record.merged) == (3, 1)
    assert index.count(Source.PS) == 3
    assert index.count(Source.MSSANTE) == 10
    found = index.search("dupont marie", limit=10)
    # Mailboxes come before activities without an MSSanté address.
    assert found[0].source is Source.MSSANTE
    assert {entry.source for entry in found} == {Source.MSSANTE, Source.PS}


def test_day_to_day_changes_keep_the_alphabetical_order(
    index: DirectoryIndex, tmp_path: Path
) -> None:
    import_file(index, MSSANTE_SAMPLE, imported_at=DAY_ONE)
    lines = sample_lines()
    added = [
        lines[0].replace("marie.dupont@", "anne.dupond@").replace("DUPONT|Marie", "DUPOND|Anne"),
        lines[0].replace("marie.dupont@", "zoe.dupuy@").replace("DUPONT|Marie", "DUPUY|Zoé"),
    ]
    changed = [line.replace("PETIT|Hugo", "PETIT|Hugues") for line in lines]
    record = import_file(index, mssante_file(tmp_path, changed + added), imported_at=DAY_TWO)
    assert (record.added, record.removed, record.changed) == (2, 0, 1)
    assert [entry.family_name for entry in index.search("dup")] == [
        "DUPOND",
        "DUPONT",
        "DUPONTEL",
        "DUPUY",
    ]
    assert [entry.given_name for entry in index.search("petit")] == ["Hugues"]
    assert index.search("hugo") == []
    # A third day: the same file changes nothing, and the entries are still all there.
    again = import_file(index, mssante_file(tmp_path, changed + added, "again.txt"))
    assert (again.added, again.removed, again.changed) == (0, 0, 0)
    assert index.count() == 12


def test_an_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(DirectoryIndexError, match="injoignable"):
        open_index("postgresql://postgres@127.0.0.1:1/egide_directory_test?connect_timeout=2")


def test_a_missing_embedded_index_is_not_created_for_a_search(tmp_path: Path) -> None:
    with pytest.raises(DirectoryIndexError, match="importez d'abord"):
        open_index(tmp_path / "absent.sqlite3", create=False)
    assert not (tmp_path / "absent.sqlite3").exists()


def test_postgresql_search_indexes_keep_no_pending_list(
    postgres_database: str, tmp_path: Path
) -> None:
    """GIN's fast update would queue a day's rows in a list every search reads whole: the
    indexes are made without it, by the schema and by a first import alike, and a day-to-day
    import merges the list of an index made before."""
    with psycopg.connect(postgres_database, autocommit=True) as db:
        db.execute("DROP SCHEMA IF EXISTS egide_directory CASCADE")
    index = open_index(postgres_database)
    try:

        def options() -> dict[str, list[str] | None]:
            with psycopg.connect(postgres_database) as db:
                rows = db.execute(
                    "SELECT relname, reloptions FROM pg_class"
                    " WHERE relnamespace = 'egide_directory'::regnamespace"
                    " AND relname LIKE 'entry_%%' AND relam = (SELECT oid FROM pg_am"
                    " WHERE amname = 'gin')"
                ).fetchall()
            return dict(rows)

        def pending() -> int:
            with psycopg.connect(postgres_database, autocommit=True) as db:
                row = db.execute(
                    "SELECT gin_clean_pending_list('egide_directory.entry_mssante_everything')"
                ).fetchone()
            return int(row[0]) if row else -1

        assert set(options()) == {
            f"entry_{s.value}_{d}" for s in Source for d in ("identity", "everything")
        }
        assert all(value == ["fastupdate=off"] for value in options().values())
        import_file(index, MSSANTE_SAMPLE, imported_at=DAY_ONE)
        assert options()["entry_mssante_everything"] == ["fastupdate=off"]
        # An index made before: fast update on, a day's rows queued, then merged by the import.
        with psycopg.connect(postgres_database, autocommit=True) as db:
            db.execute("ALTER INDEX egide_directory.entry_mssante_everything SET (fastupdate = on)")
        lines = [line.replace("RUE DE LA PAIX", "AVENUE FOCH") for line in sample_lines()]
        record = import_file(index, mssante_file(tmp_path, lines), imported_at=DAY_TWO)
        assert record.changed == 1
        assert pending() == 0
        assert index.get("marie.dupont@medecin.mssante.fr") is not None
    finally:
        index.close()


def downgraded(url: str, *statements: str) -> DirectoryIndex:
    """The sample imported, the stored directory taken back to an older format by
    `statements`, then opened again (which upgrades it)."""
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("DROP SCHEMA IF EXISTS egide_directory CASCADE")
    index = open_index(url)
    import_file(index, MSSANTE_SAMPLE, imported_at=DAY_ONE)
    index.close()
    with psycopg.connect(url, autocommit=True) as db:
        for statement in statements:
            db.execute(statement)
    return open_index(url)


def format_and_empty(url: str, column: str) -> tuple[object, ...] | None:
    """The stored format, how many entries have `column` empty, and how many there are."""
    with psycopg.connect(url) as db:
        return db.execute(
            sql.SQL(
                "SELECT (SELECT value FROM egide_directory.meta WHERE name = 'format'),"
                " count(*) FILTER (WHERE {} IS NULL), count(*) FROM egide_directory.entry"
            ).format(sql.Identifier(column))
        ).fetchone()


def test_a_postgresql_directory_of_format_1_gets_names_and_cities_at_its_next_import(
    postgres_database: str,
) -> None:
    """Format 2 adds `name` and `place` (B-tree ranges for «name, then a prefix» and «a
    profession in a city»): a directory stored before gets the columns when opened, empty,
    and its next import, even one that changes nothing, rebuilds the source to fill them."""
    index = downgraded(
        postgres_database,
        "ALTER TABLE egide_directory.entry DROP COLUMN name, DROP COLUMN place",
        "DROP TABLE egide_directory.place",
        "UPDATE egide_directory.meta SET value = '1' WHERE name = 'format'",
    )
    try:
        assert format_and_empty(postgres_database, "name") == ("3", 10, 10)
        # Rows without names are still found, through the word indexes.
        assert [entry.family_name for entry in index.search("dupont ma")] == ["DUPONT"]
        record = import_file(index, MSSANTE_SAMPLE, imported_at=DAY_TWO)
        assert (record.added, record.removed, record.changed) == (0, 0, 0)
        with psycopg.connect(postgres_database) as db:
            names = db.execute(
                "SELECT name, place FROM egide_directory.entry WHERE key = %s",
                ("marie.dupont@medecin.mssante.fr",),
            ).fetchone()
            cities = db.execute("SELECT count(*) FROM egide_directory.place").fetchone()
        assert names == ("dupont marie ", "lyon ")
        assert cities is not None and cities[0] > 0
        assert [entry.family_name for entry in index.search("dupont ma")] == ["DUPONT"]
        assert index.count() == 10
    finally:
        index.close()


def test_a_postgresql_directory_of_format_2_gets_its_rpps_apart_at_its_next_import(
    postgres_database: str,
) -> None:
    """Format 3 keeps an RPPS of digits out of the `identity` words, in `rpps` and its B-tree:
    a format-2 directory (the RPPS among the words) gets the column when opened, empty, is
    still searched by RPPS meanwhile, and its next import, even one that changes nothing,
    rebuilds the source to fill it."""
    index = downgraded(
        postgres_database,
        "UPDATE egide_directory.entry SET identity = identity || rpps::tsvector"
        " WHERE rpps IS NOT NULL",
        "ALTER TABLE egide_directory.entry DROP COLUMN rpps",
        "UPDATE egide_directory.meta SET value = '2' WHERE name = 'format'",
    )
    try:
        row = format_and_empty(postgres_database, "rpps")
        with psycopg.connect(postgres_database) as db:
            rebuilds = db.execute(
                "SELECT name, value FROM egide_directory.meta WHERE name LIKE 'rebuild%%'"
                " ORDER BY name"
            ).fetchall()
        assert row == ("3", 10, 10)
        assert rebuilds == [("rebuild_mssante", "format 2"), ("rebuild_ps", "format 2")]
        # Rows stored by format 2 are still found by RPPS, through their words.
        for typed in ("99700000066", "9970000006", "bernard 99700000066"):
            assert [entry.family_name for entry in index.search(typed)] == ["BERNARD"], typed
        record = import_file(index, MSSANTE_SAMPLE, imported_at=DAY_TWO)
        assert (record.added, record.removed, record.changed) == (0, 0, 0)
        with psycopg.connect(postgres_database) as db:
            stored = db.execute(
                "SELECT rpps, identity::text FROM egide_directory.entry WHERE key = %s",
                ("claire.bernard@medecin.mssante.fr",),
            ).fetchone()
            rebuilds = db.execute(
                "SELECT name FROM egide_directory.meta WHERE name LIKE 'rebuild%%'"
            ).fetchall()
        assert stored == ("99700000066", "'bernard' 'claire'")
        assert rebuilds == [("rebuild_ps",)]
        for typed in ("99700000066", "9970000006", "bernard 99700000066"):
            assert [entry.family_name for entry in index.search(typed)] == ["BERNARD"], typed
        assert index.count() == 10
    finally:
        index.close()
