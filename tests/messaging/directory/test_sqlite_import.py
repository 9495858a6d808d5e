"""The embedded index's full import: FTS5 tables built beside the index, copied in atomically."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from egide.messaging.directory import Source, import_file, open_index, sqlite_index, sqlite_side
from egide.messaging.directory.index import Document
from egide.messaging.directory.sqlite_side import SideTables

from .conftest import MSSANTE_SAMPLE, mssante_file, sample_lines


@pytest.fixture(autouse=True)
def _rebuild_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every import with changes rebuilds (as a large diff, or new synonyms, would)."""
    monkeypatch.setattr(sqlite_index, "INCREMENTAL_LIMIT", 0)


def _next_day(tmp_path: Path) -> Path:
    """The sample with Hugo PETIT renamed Hugues and two new mailboxes."""
    lines = sample_lines()
    added = [
        lines[0].replace("marie.dupont@", "anne.dupond@").replace("DUPONT|Marie", "DUPOND|Anne"),
        lines[0].replace("marie.dupont@", "zoe.dupuy@").replace("DUPONT|Marie", "DUPUY|Zoé"),
    ]
    changed = [line.replace("PETIT|Hugo", "PETIT|Hugues") for line in lines]
    return mssante_file(tmp_path, changed + added, "next-day.txt")


def _names(index_path: Path, text: str) -> list[str]:
    index = open_index(index_path, create=False)
    try:
        return [entry.family_name for entry in index.search(text)]
    finally:
        index.close()


def _scratch(tmp_path: Path) -> list[Path]:
    return sorted(tmp_path.glob("directory.sqlite3.import-*"))


def test_a_full_import_is_searched_at_once_by_the_same_index_and_after_reopening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = open_index(tmp_path)
    import_file(index, MSSANTE_SAMPLE)
    # A day-to-day import first (FTS5 segments added in place), then searches, so that this
    # connection holds FTS5's structure of several segments when the full import comes.
    monkeypatch.setattr(sqlite_index, "INCREMENTAL_LIMIT", 1000)
    lines = [line.replace("PETIT|Hugo", "PETIT|Hugo Xavier") for line in sample_lines()]
    import_file(index, mssante_file(tmp_path, lines))
    assert [entry.given_name for entry in index.search("petit")] == ["Hugo Xavier"]
    assert [entry.family_name for entry in index.search("dup")] == ["DUPONT", "DUPONTEL"]
    monkeypatch.setattr(sqlite_index, "INCREMENTAL_LIMIT", 0)
    record = import_file(index, _next_day(tmp_path))
    assert (record.added, record.removed, record.changed) == (2, 0, 1)
    assert [entry.given_name for entry in index.search("petit")] == ["Hugues"]
    assert index.search("hugo") == []
    assert index.search("xavier") == []
    assert [e.family_name for e in index.search("dup")] == ["DUPOND", "DUPONT", "DUPONTEL", "DUPUY"]
    assert [entry.family_name for entry in index.search("kiné")] == ["MARTIN"]
    index.close()
    assert _names(tmp_path, "dup") == ["DUPOND", "DUPONT", "DUPONTEL", "DUPUY"]
    assert _names(tmp_path, "hugues") == ["PETIT"]
    assert _scratch(tmp_path) == []


def test_an_import_failing_after_the_copy_leaves_the_previous_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = open_index(tmp_path)
    first = import_file(index, MSSANTE_SAMPLE)
    assert [entry.given_name for entry in index.search("petit")] == ["Hugo"]
    copy_into = SideTables.copy_into

    def copy_then_fail(self: SideTables, db: object) -> None:
        copy_into(self, db)  # type: ignore[arg-type]
        raise RuntimeError("disque plein")

    monkeypatch.setattr(SideTables, "copy_into", copy_then_fail)
    with pytest.raises(RuntimeError, match="disque plein"):
        import_file(index, _next_day(tmp_path))
    # The same connection and a new one both see the first import, whole.
    assert [entry.given_name for entry in index.search("petit")] == ["Hugo"]
    assert [e.family_name for e in index.search("dup")] == ["DUPONT", "DUPONTEL"]
    assert index.count(Source.MSSANTE) == 10
    assert [record.id for record in index.imports()] == [first.id]
    index.close()
    assert _names(tmp_path, "hugo") == ["PETIT"]
    assert _scratch(tmp_path) == []
    # And the next import goes through.
    monkeypatch.setattr(SideTables, "copy_into", copy_into)
    index = open_index(tmp_path)
    import_file(index, _next_day(tmp_path))
    assert [entry.given_name for entry in index.search("petit")] == ["Hugues"]
    index.close()


def test_a_failure_while_building_a_side_table_leaves_the_directory_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = open_index(tmp_path)
    import_file(index, MSSANTE_SAMPLE)

    def fail(row: tuple[str, ...]) -> str:
        raise ValueError("document impossible")

    monkeypatch.setitem(sqlite_side._DOCUMENTS, Document.EVERYTHING, fail)
    with pytest.raises(ValueError, match="document impossible"):
        import_file(index, _next_day(tmp_path))
    assert [entry.given_name for entry in index.search("petit")] == ["Hugo"]
    assert [entry.family_name for entry in index.search("kiné")] == ["MARTIN"]
    assert index.count() == 10
    assert _scratch(tmp_path) == []
    index.close()


_KILLED_IMPORT = """
import sys, time
from pathlib import Path
from egide.messaging.directory import import_file, open_index, sqlite_index
from egide.messaging.directory.sqlite_side import SideTables

sqlite_index.INCREMENTAL_LIMIT = 0

copy_into = SideTables.copy_into

def copy_then_wait(self, db):
    copy_into(self, db)
    print("copied", flush=True)
    time.sleep(60)

SideTables.copy_into = copy_then_wait
import_file(open_index(Path(sys.argv[1])), Path(sys.argv[2]))
"""


def test_an_import_killed_after_the_copy_leaves_the_previous_directory(tmp_path: Path) -> None:
    index = open_index(tmp_path)
    import_file(index, MSSANTE_SAMPLE)
    assert [entry.given_name for entry in index.search("petit")] == ["Hugo"]
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_IMPORT, str(tmp_path), str(_next_day(tmp_path))],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "copied"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert [entry.given_name for entry in index.search("petit")] == ["Hugo"]
    assert _names(tmp_path, "hugo") == ["PETIT"]
    assert len(_scratch(tmp_path)) == 1  # left by the killed import
    import_file(index, _next_day(tmp_path))
    assert [entry.given_name for entry in index.search("petit")] == ["Hugues"]
    assert _scratch(tmp_path) == []
    index.close()
