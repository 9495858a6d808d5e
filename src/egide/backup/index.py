"""Index files (where each blob lives) and the local index cache that answers lookups.

Index file plaintext (sealed as `Kind.INDEX`, stored as `index/<hash>`), format versions 1 and 2:

    "EGIX" || version u8 || { pack id[32] || count u32 LE || count × item }…

where an item is the 45-byte entry of `pack.py` (version 1) or its frame record (version 2: one
record per frame, listing every chunk of a group frame — ADR 0028). Several index files may list
the same blob (two clients stored it at once); any of them is valid. The cache is an SQLite
database in the client's cache directory (one row of about 70 bytes per blob on disk, paged in on
demand) — never one Python object per chunk — kept in step with the `index/` listing: new files
are loaded, rows of vanished files are dropped. Entries of the current run live in memory (a
dict over the entries the store keeps anyway until their index file is written: at most
`index_every` packs of them) until that index file is written, so another client never relies
on a pack that is not yet indexed.
"""

from __future__ import annotations

import json
import sqlite3
import struct
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from .errors import RepositoryCorrupted, UnsupportedFormat
from .pack import TYPES, VERSIONS, PackEntry, decode_entries, encode_entries

PREFIX = "index/"
MAGIC = b"EGIX"
VERSION = 2
_PACK_HEAD = struct.Struct("<32sI")
_CACHE_VERSION = 2  # of the cache's schema (start and group columns: version 2 entries)


class BlobLocation(NamedTuple):
    """A blob's pack and position (a named tuple: one is made per chunk located)."""

    pack_id: str
    entry: PackEntry


def encode_index(packs: Iterable[tuple[str, list[PackEntry]]], version: int = VERSION) -> bytes:
    """Plaintext of an index file listing `packs` (in format `version`: 1 for the packs of a
    version 1 repository)."""
    parts = [MAGIC, bytes([version])]
    for pack_id, entries in packs:
        table, count = encode_entries(entries, version)
        parts.append(_PACK_HEAD.pack(bytes.fromhex(pack_id), count))
        parts.append(table)
    return b"".join(parts)


def decode_index(data: bytes, name: str = "") -> Iterator[tuple[str, list[PackEntry]]]:
    """The packs and entries of an index file's plaintext."""
    if data[:4] != MAGIC:
        raise RepositoryCorrupted(f"{name}: not an index", name)
    if len(data) < 5 or data[4] not in VERSIONS:  # index versions follow the pack's
        raise UnsupportedFormat(f"{name}: index format version is unknown")
    version = data[4]
    position = 5
    try:
        while position < len(data):
            pack_id, count = _PACK_HEAD.unpack_from(data, position)
            position += _PACK_HEAD.size
            entries, position = decode_entries(data, position, count, version)
            yield pack_id.hex(), entries
    except (struct.error, ValueError, KeyError):
        raise RepositoryCorrupted(f"{name}: index truncated or malformed", name) from None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS packs(pid INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS files(fid INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS blobs(
  id BLOB NOT NULL, fid INTEGER NOT NULL, pid INTEGER NOT NULL, type INTEGER NOT NULL,
  offset INTEGER NOT NULL, length INTEGER NOT NULL, raw INTEGER NOT NULL,
  start INTEGER NOT NULL, grp INTEGER NOT NULL,
  PRIMARY KEY (id, fid)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blobs_by_pack ON blobs(pid, offset);
"""
_COLUMNS = "b.type, b.offset, b.length, b.raw, b.start, b.grp"


class IndexCache:
    """Blob lookups for one repository, backed by SQLite. Thread-safe."""

    def __init__(self, path: Path | None) -> None:
        target = ":memory:" if path is None else str(path)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(target, timeout=120, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            if path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=OFF")  # a cache: rebuilt from the repository
            self._db.execute("PRAGMA cache_size=-8000")
            (schema,) = self._db.execute("PRAGMA user_version").fetchone()
            if schema != _CACHE_VERSION:  # a cache of an older client: rebuilt from index/
                self._db.executescript(
                    "DROP TABLE IF EXISTS blobs; DROP TABLE IF EXISTS files;"
                    " DROP TABLE IF EXISTS packs;"
                    f" PRAGMA user_version={_CACHE_VERSION};"
                )
            self._db.executescript(_SCHEMA)
            self._db.commit()
        # Blobs of packs this client uploaded whose index file is not written yet.
        self._pending: dict[bytes, BlobLocation] = {}
        self._pending_packs: dict[str, list[bytes]] = {}

    def close(self) -> None:
        """Release the database."""
        with self._lock:
            self._db.close()

    def loaded_files(self) -> set[str]:
        """Names of index files the cache holds."""
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT name FROM files")}

    def drop_files(self, names: Iterable[str]) -> None:
        """Forget the rows of index files that no longer exist."""
        with self._lock:
            for name in names:
                row = self._db.execute("SELECT fid FROM files WHERE name=?", (name,)).fetchone()
                if row:
                    self._db.execute("DELETE FROM blobs WHERE fid=?", row)
                    self._db.execute("DELETE FROM files WHERE fid=?", row)
            self._db.commit()

    def _pid(self, pack_id: str) -> int:
        self._db.execute("INSERT OR IGNORE INTO packs(name) VALUES (?)", (pack_id,))
        row = self._db.execute("SELECT pid FROM packs WHERE name=?", (pack_id,)).fetchone()
        return int(row[0])

    def add_file(self, name: str, packs: Iterable[tuple[str, list[PackEntry]]]) -> None:
        """Record the contents of index file `name`."""
        with self._lock:
            if self._db.execute("SELECT 1 FROM files WHERE name=?", (name,)).fetchone():
                return
            cursor = self._db.execute("INSERT INTO files(name) VALUES (?)", (name,))
            fid = cursor.lastrowid
            names = []
            for pack_id, entries in packs:
                pid = self._pid(pack_id)
                names.append(pack_id)
                self._db.executemany(
                    "INSERT OR IGNORE INTO blobs VALUES (?,?,?,?,?,?,?,?,?)",
                    [(e.blob_id, fid, pid, *e[:1], *e[2:]) for e in entries],
                )
            self._db.commit()
            for pack_id in names:
                for blob_id in self._pending_packs.pop(pack_id, ()):
                    self._pending.pop(blob_id, None)

    def add_pending(self, pack_id: str, entries: list[PackEntry]) -> None:
        """Record blobs of a pack uploaded by this client, before its index file exists."""
        with self._lock:
            pending = self._pending
            for entry in entries:
                if entry.blob_id not in pending:
                    pending[entry.blob_id] = BlobLocation(pack_id, entry)
            self._pending_packs.setdefault(pack_id, []).extend(e.blob_id for e in entries)

    def has(self, blob_id: bytes) -> bool:
        """Whether the blob is stored (indexed or uploaded by this client)."""
        return self.locate(blob_id) is not None

    def known(self, blob_ids: list[bytes]) -> set[bytes]:
        """Which of the given blobs are stored (one query per 500 ids).

        Each query first counts the ids it finds, in one row: when it finds all of them (an
        unchanged file, a database re-read) or none (new data), no row is stepped per id — Python's
        sqlite3 gives the GIL away at every row (see `locate_many`).
        """
        with self._lock:
            found = {i for i in blob_ids if i in self._pending}
            rest = [i for i in blob_ids if i not in found] if found else blob_ids
            for start in range(0, len(rest), 500):
                part = rest[start : start + 500]
                marks = ",".join("?" * len(part))
                (count,) = self._db.execute(
                    f"SELECT COUNT(DISTINCT id) FROM blobs WHERE id IN ({marks})",  # noqa: S608 (only ?s)
                    part,
                ).fetchone()
                if count == len(part):
                    found.update(part)
                elif count:
                    found.update(
                        row[0]
                        for row in self._db.execute(
                            f"SELECT id FROM blobs WHERE id IN ({marks})",  # noqa: S608 (only ?s)
                            part,
                        )
                    )
        return found

    def has_all(self, blob_ids: list[bytes]) -> bool:
        """Whether every blob is indexed (one query per 500 ids: unchanged files are cheap)."""
        wanted = set(blob_ids)
        return self.known(list(wanted)) >= wanted

    def locate_many(self, blob_ids: list[bytes]) -> dict[bytes, BlobLocation]:
        """Locations of the given blobs that are stored: one query per 500 ids, each query's
        rows in one JSON row.

        Python's sqlite3 releases the GIL for every row it steps through; a thread that must
        take the GIL back while busy threads hold it waits up to the switch interval each time.
        One row per query keeps restore's planner from waiting on its own workers.
        """
        found: dict[bytes, BlobLocation] = {}
        ordered = list(dict.fromkeys(blob_ids))
        with self._lock:
            for start in range(0, len(ordered), 500):
                part = ordered[start : start + 500]
                marks = ",".join("?" * len(part))
                (rows,) = self._db.execute(
                    f"SELECT json_group_array(json_array(hex(b.id), p.name, {_COLUMNS}))"  # noqa: S608 (only ?s)
                    f" FROM blobs b JOIN packs p ON p.pid=b.pid WHERE b.id IN ({marks})",
                    part,
                ).fetchone()
                for blob, pack, kind, *place in json.loads(rows):
                    blob_id = bytes.fromhex(blob)
                    if blob_id not in found:
                        entry = PackEntry(TYPES[kind], blob_id, *place)
                        found[blob_id] = BlobLocation(pack, entry)
            for blob_id in ordered:
                if blob_id not in found and blob_id in self._pending:
                    found[blob_id] = self._pending[blob_id]
        return found

    def locate(self, blob_id: bytes) -> BlobLocation | None:
        """Where the blob lives, if it is stored."""
        with self._lock:
            row = self._db.execute(
                f"SELECT p.name, {_COLUMNS} FROM blobs b"  # noqa: S608 (no input)
                " JOIN packs p ON p.pid=b.pid WHERE b.id=? LIMIT 1",
                (blob_id,),
            ).fetchone()
            if row is None:
                return self._pending.get(blob_id)
        return BlobLocation(row[0], PackEntry(TYPES[row[1]], blob_id, *row[2:]))

    def indexed_packs(self) -> set[str]:
        """Packs that at least one loaded index file lists."""
        with self._lock:
            return {
                row[0]
                for row in self._db.execute(
                    "SELECT name FROM packs WHERE pid IN (SELECT DISTINCT pid FROM blobs)"
                )
            }

    def pack_entries(self, pack_id: str) -> list[PackEntry]:
        """Every distinct blob that the index files place in `pack_id`, in pack order."""
        return self._entries_of(pack_id, None)

    def frame_members(self, pack_id: str, offsets: Iterable[int]) -> dict[int, list[PackEntry]]:
        """Every chunk of the group frames at `offsets` in `pack_id`, by offset, in order (to
        authenticate a group, a reader needs its whole list). One query per 500 offsets."""
        wanted = sorted(set(offsets))
        found: dict[int, list[PackEntry]] = {}
        for start in range(0, len(wanted), 500):
            for entry in self._entries_of(pack_id, wanted[start : start + 500]):
                found.setdefault(entry.offset, []).append(entry)
        return found

    def _entries_of(self, pack_id: str, offsets: list[int] | None) -> list[PackEntry]:
        where = "" if offsets is None else f" AND b.offset IN ({','.join('?' * len(offsets))})"
        with self._lock:
            (rows,) = self._db.execute(  # one JSON row: see `locate_many`
                "SELECT json_group_array(json_array(hex(id), type, offset, length, raw, start,"  # noqa: S608 (only ?s)
                " grp)) FROM (SELECT DISTINCT b.id AS id, b.type AS type, b.offset AS offset,"
                " b.length AS length, b.raw AS raw, b.start AS start, b.grp AS grp FROM blobs b"
                f" JOIN packs p ON p.pid=b.pid WHERE p.name=?{where} ORDER BY b.offset, b.start)",
                (pack_id, *(offsets or ())),
            ).fetchone()
        return [PackEntry(TYPES[t], bytes.fromhex(i), *place) for i, t, *place in json.loads(rows)]

    def blob_count(self) -> int:
        """Number of distinct indexed blobs."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(DISTINCT id) FROM blobs").fetchone()[0])

    def raw_bytes(self) -> int:
        """Plaintext bytes of all distinct indexed blobs."""
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(SUM(raw), 0) FROM"
                " (SELECT id, MAX(raw) AS raw FROM blobs GROUP BY id)"
            ).fetchone()
        return int(row[0])
