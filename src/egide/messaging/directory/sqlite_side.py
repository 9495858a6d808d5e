"""A full SQLite import's two FTS5 tables, built beside the index on the machine's other core.

A full import (`SqliteIndex._rebuild`) writes the `entry` rows on the index's connection;
meanwhile two more connections, each on its own thread and its own scratch database file,
fill the source's `identity` and `everything` FTS5 tables and copy their words into a
`term` table. `sqlite3` releases the GIL while SQLite works and SQLite locks each database
file apart, so the three run side by side, where on the index's one connection they ran
one after the other. Each side table is filled by a few large statements (documents handed
over as one JSON array, read by `json_each`): the GIL changes hands a few times per table
instead of once per row.

The finished tables enter the index inside the import's transaction (`copy_into`): the
index's FTS5 table is dropped and created again — a new table object on this connection, so
no structure record that FTS5 cached for an earlier search survives — and its shadow tables
`<t>_data` and `<t>_idx` are copied from the side file with INSERT … SELECT, a b-tree copy
with no tokenising. The import's transaction stays the one change readers can see: a failed
or killed import leaves the previous directory as it was. Scratch files live in a directory
next to the index (`<index>.import-…`), removed at the end of the import; those a killed
import left behind are removed by the next full import, which holds the write lock.
"""

# ruff: noqa: S608  (SQL is built from fixed table names only; values are bound parameters)

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .document import everything_document, identity_document
from .entry import Row, Source
from .index import Document

# Documents per statement: large enough that FTS5 and `json_each` work in long stretches
# without the GIL, small enough that the JSON text stays a few megabytes.
CHUNK = 65536
SCRATCH_INFIX = ".import-"

_DOCUMENTS: Mapping[Document, Callable[[Row], str]] = {
    Document.IDENTITY: identity_document,
    Document.EVERYTHING: everything_document,
}


def remove_leftovers(index_path: Path) -> None:
    """Remove the scratch directories of earlier imports (call with the write lock held)."""
    for leftover in index_path.parent.glob(f"{index_path.name}{SCRATCH_INFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)


class _SideTable:
    """One FTS5 table and its words, built in its own file by its own thread."""

    def __init__(self, path: Path, table: str, column: str, schema: tuple[str, str]) -> None:
        self.path = path
        self.table = table
        self.column = column
        self.schema = schema
        self.failure: BaseException | None = None
        self._connection: sqlite3.Connection | None = None
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self, source: Source, rows: Sequence[Row], base: int, gap: int) -> None:
        self.thread = threading.Thread(
            target=self._run,
            args=(source, rows, base, gap),
            name=f"directory-{self.table}",
            daemon=True,
        )
        self.thread.start()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()

    def stop(self) -> None:
        """Ask the thread to give up (an error on the index's side) and wait for it."""
        self._stop.set()
        with self._guard:
            if self._connection is not None:
                self._connection.interrupt()
        self.join()

    def _run(self, source: Source, rows: Sequence[Row], base: int, gap: int) -> None:
        document = _DOCUMENTS[Document(self.column)]
        try:
            db = sqlite3.connect(self.path, isolation_level=None)
            with self._guard:
                self._connection = db
            try:
                # A scratch file: nothing to recover after a crash, so no journal, no sync.
                db.execute("PRAGMA journal_mode=OFF")
                db.execute("PRAGMA synchronous=OFF")
                db.execute("PRAGMA cache_size=-131072")
                for statement in self.schema:
                    db.execute(statement)
                db.execute(
                    "CREATE TABLE term (source TEXT, document TEXT, word TEXT,"
                    " PRIMARY KEY (source, document, word)) WITHOUT ROWID"
                )
                db.execute("BEGIN")
                for start in range(0, len(rows), CHUNK):
                    if self._stop.is_set():
                        return
                    texts = json.dumps([document(row) for row in rows[start : start + CHUNK]])
                    db.execute(
                        f"INSERT INTO {self.table}(rowid, {self.column})"
                        " SELECT ? + (key + 1) * ?, value FROM json_each(?)",
                        (base + start * gap, gap, texts),
                    )
                db.execute(
                    f"INSERT INTO term(source, document, word) SELECT ?, ?, term"
                    f" FROM {self.table}_vocabulary WHERE term NOT GLOB '[0-9]*'",
                    (source.value, self.column),
                )
                db.execute("COMMIT")
            finally:
                with self._guard:
                    self._connection = None
                    db.close()
        except BaseException as error:  # handed to the importing thread, raised there
            self.failure = error


class SideTables:
    """The `identity` and `everything` tables of one source, built beside the index.

    `schemas` gives, per document, the statements that create its FTS5 table and its
    `fts5vocab` table (the index's own, so that the shadow tables copied are alike). Start it,
    write the `entry` rows meanwhile, then `copy_into` the index inside the same transaction;
    `close` in every case (after COMMIT or ROLLBACK: a database attached to a transaction
    cannot be detached before its end).
    """

    def __init__(
        self,
        index_path: Path,
        source: Source,
        rows: Sequence[Row],
        *,
        base: int,
        gap: int,
        schemas: Mapping[Document, tuple[str, str]],
    ) -> None:
        remove_leftovers(index_path)
        self._source = source
        self._directory = Path(
            tempfile.mkdtemp(prefix=f"{index_path.name}{SCRATCH_INFIX}", dir=index_path.parent)
        )
        self._attached: list[str] = []
        self._sides = [
            _SideTable(
                self._directory / f"{document.value}.sqlite3",
                f"{document.value}_{source.value}",
                document.value,
                schemas[document],
            )
            for document in Document
        ]
        # The larger table first: it is the one the import waits for.
        for side in reversed(self._sides):
            side.start(source, rows, base, gap)

    def copy_into(self, db: sqlite3.Connection) -> None:
        """Wait for both tables, then put them in place of the index's (in its transaction)."""
        for side in self._sides:
            side.join()
            if side.failure is not None:
                raise side.failure
        db.execute("DELETE FROM term WHERE source = ?", (self._source.value,))
        for side in self._sides:
            alias = f"side_{side.column}"
            db.execute(f"ATTACH DATABASE ? AS {alias}", (str(side.path),))
            self._attached.append(alias)
            db.execute(f"DROP TABLE main.{side.table}")
            db.execute(side.schema[0])
            db.execute(f"DELETE FROM main.{side.table}_data")
            for shadow in ("data", "idx"):
                db.execute(
                    f"INSERT INTO main.{side.table}_{shadow}"
                    f" SELECT * FROM {alias}.{side.table}_{shadow}"
                )
            db.execute(
                f"INSERT INTO main.term(source, document, word)"
                f" SELECT source, document, word FROM {alias}.term"
            )

    def close(self, db: sqlite3.Connection) -> None:
        """Stop the threads if still running, detach and remove the scratch files."""
        for side in self._sides:
            side.stop()
        for alias in self._attached:
            db.execute(f"DETACH DATABASE {alias}")
        self._attached.clear()
        shutil.rmtree(self._directory, ignore_errors=True)
