"""The index protocol shared by the embedded (SQLite) and operator (PostgreSQL) back-ends.

A back-end stores entries of each source in alphabetical order (the order `sort_key` gives)
and answers two cheap questions: the first N entries, in that order, whose `identity` or
`everything` document matches a query, and the first N whose address starts with a prefix.
Everything else, the query's meaning and the ranking, lives once in `query.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from .entry import Entry, Row, Source
from .extraction import MalformedLine
from .query import Query, clamp_limit, parse_query, rank


class Document(StrEnum):
    """Which search document a query runs against (see `document.py`)."""

    IDENTITY = "identity"
    EVERYTHING = "everything"


class ChangeKind(StrEnum):
    """What happened to an entry between two imports of the same source."""

    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True, slots=True)
class Change:
    """One line of a dated diff: the entry's key, address and name, and the fields that moved."""

    kind: ChangeKind
    key: str
    address: str
    name: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """The dated summary of one import, kept with the index next to its changes."""

    id: int
    source: Source
    imported_at: datetime
    file_name: str
    lines: int
    entries: int
    merged: int
    malformed: int
    withheld: int
    added: int
    removed: int
    changed: int
    problems: tuple[MalformedLine, ...] = ()


class DirectoryIndex(Protocol):
    """What the console, the CLI and the importer use; see `open_index` for the two back-ends."""

    def search(self, query: str, limit: int = 10) -> list[Entry]:
        """Ranked entries for what was typed so far (autocomplete semantics, `query.py`)."""
        ...

    def get(self, key: str) -> Entry | None:
        """The entry with this key (a lower-cased mailbox address for MSSanté entries)."""
        ...

    def count(self, source: Source | None = None) -> int:
        """How many entries are published, for one source or all."""
        ...

    def fingerprints(self, source: Source) -> dict[str, int]:
        """Key → fingerprint of every entry of `source`, to compute the next diff."""
        ...

    def entries(self, keys: Sequence[str]) -> dict[str, Entry]:
        """The stored entries for these keys (missing keys are absent from the result)."""
        ...

    def replace_source(
        self,
        source: Source,
        rows: Sequence[Row],
        fingerprints: Mapping[str, int],
        record: ImportRecord,
        changes: Sequence[Change] | None,
    ) -> ImportRecord:
        """Atomically replace every entry of `source` (rows in `alphabetical` order, with their
        fingerprints by key) and store the dated diff; returns the record with its id.
        `changes` is None for the first import of a source, where every row is new.
        Readers see either the old or the new directory, never a mix."""
        ...

    def imports(self, limit: int = 20) -> list[ImportRecord]:
        """The latest imports, newest first."""
        ...

    def changes(self, import_id: int, limit: int | None = None) -> list[Change]:
        """The diff of one import."""
        ...

    def close(self) -> None: ...


class CandidateSource(Protocol):
    """The two questions a back-end answers for `search_entries`."""

    def candidates(self, query: Query, document: Document, count: int) -> list[Entry]: ...

    def address_candidates(self, prefix: str, count: int) -> list[Entry]: ...


def candidate_count(limit: int) -> int:
    """How many alphabetical candidates to rank for `limit` results."""
    return max(4 * limit, 40)


def search_entries(source: CandidateSource, text: str, limit: int) -> list[Entry]:
    """Autocomplete search over any back-end (see `query.py` for the semantics)."""
    limit = clamp_limit(limit)
    query = parse_query(text)
    if query.is_empty:
        return []
    count = candidate_count(limit)
    found: list[Entry] = []
    if query.address:
        found += source.address_candidates(query.address, count)
    if query.patterns():
        attempts = (query, query.loosened()) if query.terms else (query,)
        for attempt in attempts:
            got = source.candidates(attempt, Document.IDENTITY, count)
            if len(got) < limit:
                got += source.candidates(attempt, Document.EVERYTHING, count)
            if got:
                found += got
                query = attempt
                break
    return rank(query, found, limit)
