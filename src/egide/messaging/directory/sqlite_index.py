"""The embedded directory index: one SQLite file with two FTS5 indexes (stdlib `sqlite3`).

On-disk format (version 1, `meta.format`):
- `entry(id, key, fingerprint, data)`: `data` is the row's fields (`ROW_FIELDS` order) joined
  by U+001F (`row_text`). Ids follow `alphabetical` order inside a per-source range
  (`SOURCE_BASE`); `fingerprint` is the CRC-32 of the line(s) the entry comes from.
- `identity_<source>`, `everything_<source>`: contentless FTS5 tables (the documents of
  `document.py`, rowid = entry id), one pair per source so that an import clears its own
  pair in one statement. FTS5 returns matches in rowid order, hence alphabetically: a query
  stops after N matches instead of ranking every match (why the plain FTS5 baseline's p95 is
  32 ms ranked). `detail=none` (no positions: we never search phrases, and the index is half
  the size), `unicode61 remove_diacritics 2` (the folding of `normalization.words`), prefix
  indexes for the short prefixes people type.
- `term(source, document, word)`: each FTS table's words (identifiers aside), copied from
  its `fts5vocab` at import. FTS5 answers a prefix query without a prefix index of that
  length by first merging the lists of every matching word (58 ms for «paris*», where
  «paris» alone takes 0.1 ms); we look the words up here (14 µs) and ask for
  («paris» OR «parisot» …), which FTS5 walks lazily and stops after N matches.
  Prefixes of one to three letters use FTS5's own prefix indexes.
- `import`, `change`: the dated diffs, kept forever (they are small after the first import).
The file lives in the data directory the caller names; WAL mode lets searches run during an
import, which they see only once committed. A full import builds the FTS5 tables in scratch
files beside it on two more threads and copies them in (`sqlite_side`).
"""

# ruff: noqa: S608  (SQL is built from fixed table names only; values are bound parameters)

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from ..errors import DirectoryIndexError
from .document import row_documents
from .entry import Entry, Row, Source, row_from_text, row_text
from .extraction import MalformedLine
from .index import Change, ChangeKind, Document, ImportRecord, search_entries
from .query import Query
from .sqlite_side import SideTables
from .vocabulary import vocabulary_version

FORMAT_VERSION = "1"
SOURCE_BASE = {Source.MSSANTE: 0, Source.PS: 1 << 40}
SOURCE_SPAN = 1 << 40
# Ids are spaced by GAP at each full rebuild, so that day-to-day additions fit between their
# alphabetical neighbours (16 levels of halving before a rebuild is needed).
GAP = 1 << 16
# A diff of more changes than this (or a tenth of the entries) is applied by a full rebuild.
INCREMENTAL_LIMIT = 1000


def _fts_schema(document: Document, source: Source) -> tuple[str, str]:
    """The statements creating one FTS5 table and the `fts5vocab` table that reads it."""
    table = f"{document.value}_{source.value}"
    return (
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING fts5({document.value}, content='',"
        " detail='none', columnsize=0, prefix='1 2 3', tokenize='unicode61 remove_diacritics 2')",
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {table}_vocabulary USING fts5vocab({table}, row)",
    )


_FTS_TABLES = "\n".join(
    f"{statement};"
    for source in Source
    for document in Document
    for statement in _fts_schema(document, source)
)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entry (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    fingerprint INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS entry_by_key ON entry(key);
{_FTS_TABLES}
CREATE TABLE IF NOT EXISTS term (
    source TEXT NOT NULL,
    document TEXT NOT NULL,
    word TEXT NOT NULL,
    PRIMARY KEY (source, document, word)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS import (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    file_name TEXT NOT NULL,
    counts TEXT NOT NULL,
    problems TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS change (
    import_id INTEGER NOT NULL REFERENCES import(id),
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    address TEXT NOT NULL,
    name TEXT NOT NULL,
    fields TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS change_by_import ON change(import_id);
"""
_COUNTS = ("lines", "entries", "merged", "malformed", "withheld", "added", "removed", "changed")


# Past this many words, a prefix is matched by FTS5 itself (slower but rare: the prefix of
# four letters or more that starts 64 different words).
MAX_EXPANSION = 64


def _quoted(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


class SqliteIndex:
    """The embedded back-end of `DirectoryIndex` (see the module docstring for the format)."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        if not create and not path.exists():
            raise DirectoryIndexError(
                f"Annuaire introuvable : {path} (importez d'abord une extraction)."
            )
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta(name, value) VALUES ('format', ?)", (FORMAT_VERSION,)
            )
        except sqlite3.Error as error:
            raise DirectoryIndexError(f"Annuaire illisible : {path} ({error}).") from error
        self.path = path
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    # -- search -----------------------------------------------------------------------------

    def search(self, query: str, limit: int = 10) -> list[Entry]:
        # One connection shared by the console's threads: one search at a time on it (each
        # takes a millisecond or two; open one index per thread for more).
        with self._lock:
            return search_entries(self, query, limit)

    def match_expression(self, query: Query, source: Source, document: Document) -> str | None:
        """The FTS5 MATCH expression for `query`, or None when a prefix matches no word.

        Every word is required; words are `[a-z0-9]+` (`normalization.words`) or come from
        the index's own vocabulary, and are quoted.
        """
        parts = []
        for word, prefix in query.patterns():
            if not prefix:
                parts.append(_quoted(word))
                continue
            if len(word) <= 3 or word.isdigit():
                parts.append(_quoted(word) + "*")
                continue
            words = [
                found
                for (found,) in self._db.execute(
                    "SELECT word FROM term WHERE source = ? AND document = ?"
                    " AND word >= ? AND word < ? ORDER BY word LIMIT ?",
                    (source.value, document.value, word, word + "\uffff", MAX_EXPANSION + 1),
                )
            ]
            if not words:
                return None
            if len(words) > MAX_EXPANSION:
                parts.append(_quoted(word) + "*")
            else:
                parts.append("(" + " OR ".join(_quoted(found) for found in words) + ")")
        return " AND ".join(parts)

    def candidates(self, query: Query, document: Document, count: int) -> list[Entry]:
        found: list[Entry] = []
        for source in Source:
            expression = self.match_expression(query, source, document)
            if expression is None:
                continue
            table = f"{document.value}_{source.value}"
            rows = self._db.execute(
                f"SELECT id, data FROM entry WHERE id IN (SELECT rowid FROM {table}"
                f" WHERE {table} MATCH ? ORDER BY rowid LIMIT ?) ORDER BY id",  # (fixed names)
                (expression, count - len(found)),
            )
            found += [_entry(*row) for row in rows]
            if len(found) >= count:
                break
        return found

    def address_candidates(self, prefix: str, count: int) -> list[Entry]:
        rows = self._db.execute(
            "SELECT id, data FROM entry WHERE key >= ? AND key < ? ORDER BY key LIMIT ?",
            (prefix, prefix + "\uffff", count),
        )
        return [_entry(*row) for row in rows]

    # -- reads ------------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        row = self._db.execute(
            "SELECT id, data FROM entry WHERE key = ?", (key.lower(),)
        ).fetchone()
        return _entry(*row) if row else None

    def count(self, source: Source | None = None) -> int:
        if source is None:
            row = self._db.execute("SELECT count(*) FROM entry").fetchone()
        else:
            base = SOURCE_BASE[source]
            row = self._db.execute(
                "SELECT count(*) FROM entry WHERE id > ? AND id < ?", (base, base + SOURCE_SPAN)
            ).fetchone()
        return int(row[0])

    def fingerprints(self, source: Source) -> dict[str, int]:
        base = SOURCE_BASE[source]
        rows = self._db.execute(
            "SELECT key, fingerprint FROM entry WHERE id > ? AND id < ?",
            (base, base + SOURCE_SPAN),
        )
        return dict(rows)

    def entries(self, keys: Sequence[str]) -> dict[str, Entry]:
        found: dict[str, Entry] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT id, data FROM entry WHERE key IN ({marks})",
                chunk,
            )
            for row in rows:
                entry = _entry(*row)
                found[entry.key] = entry
        return found

    def imports(self, limit: int = 20) -> list[ImportRecord]:
        rows = self._db.execute(
            "SELECT id, source, imported_at, file_name, counts, problems FROM import"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [_record(*row) for row in rows]

    def changes(self, import_id: int, limit: int | None = None) -> list[Change]:
        rows = self._db.execute(
            "SELECT kind, key, address, name, fields FROM change WHERE import_id = ?"
            " ORDER BY rowid LIMIT ?",
            (import_id, -1 if limit is None else limit),
        )
        return [
            Change(ChangeKind(kind), key, address, name, tuple(json.loads(fields)))
            for kind, key, address, name, fields in rows
        ]

    # -- writes -----------------------------------------------------------------------------

    def _vocabulary_version(self) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE name = 'vocabulary'").fetchone()
        return str(row[0]) if row else ""

    def _rebuild(
        self, source: Source, rows: Sequence[Row], fingerprints: Mapping[str, int]
    ) -> SideTables:
        """Every entry of `source` written again, ids spaced by `GAP` in alphabetical order.

        Writes the `entry` rows here while the FTS5 tables are built beside the index on two
        more threads (`sqlite_side`); the caller copies them in with `copy_into` before its
        COMMIT and closes them in every case.
        """
        base = SOURCE_BASE[source]
        db = self._db
        side = SideTables(
            self.path,
            source,
            rows,
            base=base,
            gap=GAP,
            schemas={document: _fts_schema(document, source) for document in Document},
        )
        try:
            db.execute("DELETE FROM entry WHERE id > ? AND id < ?", (base, base + SOURCE_SPAN))
            # Building the key index once after the insert (a sort) is several times faster
            # than updating it row by row in random key order.
            db.execute("DROP INDEX entry_by_key")
            db.executemany(
                "INSERT INTO entry(id, key, fingerprint, data) VALUES (?, ?, ?, ?)",
                (
                    (base + number * GAP, row[0], fingerprints[row[0]], row_text(row))
                    for number, row in enumerate(rows, start=1)
                ),
            )
            db.execute("CREATE UNIQUE INDEX entry_by_key ON entry(key)")
        except BaseException:
            side.close(db)
            raise
        return side

    def _apply(
        self,
        source: Source,
        rows: Sequence[Row],
        fingerprints: Mapping[str, int],
        changes: Sequence[Change],
    ) -> bool:
        """Apply a day's diff in place; False (nothing written) when the id gaps are used up.

        New and changed entries take ids between their alphabetical neighbours', so FTS5's
        rowid order stays alphabetical. Contentless FTS5 deletes a row given its original
        text, rebuilt here from `entry.data` with the same vocabulary (checked by the caller).
        """
        base = SOURCE_BASE[source]
        db = self._db
        touched = [c.key for c in changes if c.kind is not ChangeKind.ADDED]
        arriving = {c.key for c in changes if c.kind is not ChangeKind.REMOVED}
        known = dict(
            db.execute(
                "SELECT key, id FROM entry WHERE id > ? AND id < ?", (base, base + SOURCE_SPAN)
            )
        )
        placed: list[tuple[int, Row]] = []
        waiting: list[Row] = []
        previous = base
        for row in [*rows, None]:
            if row is not None and row[0] in arriving:
                waiting.append(row)
                continue
            following = base + SOURCE_SPAN if row is None else int(known[row[0]])
            if waiting:
                step = (following - previous) // (len(waiting) + 1)
                if step < 1:
                    return False
                placed += [(previous + step * (i + 1), r) for i, r in enumerate(waiting)]
                waiting = []
            previous = following
        identity = f"{Document.IDENTITY.value}_{source.value}"
        everything = f"{Document.EVERYTHING.value}_{source.value}"
        gone = [(int(known[key]), key) for key in touched if key in known]
        for entry_id, _ in gone:
            (data,) = db.execute("SELECT data FROM entry WHERE id = ?", (entry_id,)).fetchone()
            old_identity, old_everything = row_documents(row_from_text(data))
            db.execute(
                f"INSERT INTO {identity}({identity}, rowid, identity) VALUES ('delete', ?, ?)",
                (entry_id, old_identity),
            )
            db.execute(
                f"INSERT INTO {everything}({everything}, rowid, everything)"
                " VALUES ('delete', ?, ?)",
                (entry_id, old_everything),
            )
        db.executemany("DELETE FROM entry WHERE id = ?", [(entry_id,) for entry_id, _ in gone])
        for entry_id, row in placed:
            new_identity, new_everything = row_documents(row)
            db.execute(
                "INSERT INTO entry(id, key, fingerprint, data) VALUES (?, ?, ?, ?)",
                (entry_id, row[0], fingerprints[row[0]], row_text(row)),
            )
            db.execute(
                f"INSERT INTO {identity}(rowid, identity) VALUES (?, ?)", (entry_id, new_identity)
            )
            db.execute(
                f"INSERT INTO {everything}(rowid, everything) VALUES (?, ?)",
                (entry_id, new_everything),
            )
        return True

    def replace_source(
        self,
        source: Source,
        rows: Sequence[Row],
        fingerprints: Mapping[str, int],
        record: ImportRecord,
        changes: Sequence[Change] | None,
    ) -> ImportRecord:
        db = self._db
        # A large page cache: the FTS rebuild and the key index sort in memory instead of
        # spilling to disk half-way (the default cache is 2 MB).
        db.execute("PRAGMA cache_size = -262144")
        side: SideTables | None = None
        try:
            db.execute("BEGIN IMMEDIATE")
            applied = (
                changes is not None
                and len(changes) <= max(INCREMENTAL_LIMIT, len(rows) // 10)
                and self._vocabulary_version() == vocabulary_version()
                and self._apply(source, rows, fingerprints, changes)
            )
            if not applied:
                side = self._rebuild(source, rows, fingerprints)
            # The dated diff is written while the side tables are still being built.
            import_id = self._record(source, record, changes)
            if side is not None:
                side.copy_into(db)
                db.execute(
                    "INSERT OR REPLACE INTO meta(name, value) VALUES ('vocabulary', ?)",
                    (vocabulary_version(),),
                )
            else:
                db.execute("DELETE FROM term WHERE source = ?", (source.value,))
                for document in Document:
                    table = f"{document.value}_{source.value}"
                    db.execute(
                        f"INSERT INTO term(source, document, word) SELECT ?, ?, term"
                        f" FROM {table}_vocabulary WHERE term NOT GLOB '[0-9]*'",
                        (source.value, document.value),
                    )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            if side is not None:
                side.close(db)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return dataclasses.replace(record, id=import_id)

    def _record(
        self, source: Source, record: ImportRecord, changes: Sequence[Change] | None
    ) -> int:
        """Store the import's dated summary and its changes; returns the import's id."""
        base = SOURCE_BASE[source]
        db = self._db
        counts = {name: getattr(record, name) for name in _COUNTS}
        problems = [[p.number, p.reason, p.excerpt] for p in record.problems]
        cursor = db.execute(
            "INSERT INTO import(source, imported_at, file_name, counts, problems)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                source.value,
                record.imported_at.isoformat(),
                record.file_name,
                json.dumps(counts),
                json.dumps(problems, ensure_ascii=False),
            ),
        )
        import_id = int(cursor.lastrowid or 0)
        if changes is None:
            # First import of this source: every entry is new (no Change objects built).
            # Done in SQL: the address of an MSSanté entry is its key (in lower case);
            # names are left out of this one list of half a million lines.
            db.execute(
                "INSERT INTO change(import_id, kind, key, address, name, fields)"
                " SELECT ?, 'added', key, CASE WHEN ? THEN key ELSE '' END, '', '[]'"
                " FROM entry WHERE id > ? AND id < ? ORDER BY id",
                (import_id, source is Source.MSSANTE, base, base + SOURCE_SPAN),
            )
        else:
            db.executemany(
                "INSERT INTO change(import_id, kind, key, address, name, fields)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (import_id, c.kind.value, c.key, c.address, c.name, json.dumps(c.fields))
                    for c in changes
                ),
            )
        return import_id


def _entry(entry_id: int, data: str) -> Entry:
    source = Source.PS if entry_id > SOURCE_BASE[Source.PS] else Source.MSSANTE
    return Entry.from_row(source, row_from_text(data))


def _record(
    import_id: int, source: str, imported_at: str, file_name: str, counts: str, problems: str
) -> ImportRecord:
    numbers = json.loads(counts)
    return ImportRecord(
        id=import_id,
        source=Source(source),
        imported_at=datetime.fromisoformat(imported_at),
        file_name=file_name,
        problems=tuple(MalformedLine(*item) for item in json.loads(problems)),
        **{name: int(numbers[name]) for name in _COUNTS},
    )
