"""Importing one ANS extraction into an index: read, merge duplicates, diff, replace.

The files have no stable ids and no dates (messaging-facts §3.1), so what changed is found by
comparing each entry's fingerprint with the one stored by the previous import of the same
source. Every import stores its dated diff next to the index, even the first one (where every
entry is new), so that a later question «since when is this address here?» has an answer.
"""

from __future__ import annotations

import gc
import zlib
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ..errors import DirectoryFileRefused
from .document import alphabetical, row_name
from .entry import ROW_FIELDS, Entry, Row, Source, merge_rows, row_text
from .extraction import ExtractionReader
from .index import Change, ChangeKind, DirectoryIndex, ImportRecord

# A file with less than this share of the previous import's entries is probably truncated
# (an interrupted download): publishing it would silently remove thousands of mailboxes.
SHRINK_GUARD = 0.5


def import_file(
    index: DirectoryIndex,
    path: Path,
    kind: Source | None = None,
    *,
    red_list: Collection[str] = (),
    imported_at: datetime | None = None,
    allow_shrink: bool = False,
) -> ImportRecord:
    """Import an extraction file (kind recognised from its header when None).

    `red_list`: addresses or keys never published, whatever the file says (mailboxes whose
    holder chose the «liste rouge»). Raises DirectoryFileRefused for a wrong header or a file
    much smaller than the previous one (unless `allow_shrink`); malformed lines are reported in
    the returned record, never fatal.
    """
    with path.open("rb") as stream:
        return import_lines(
            index,
            stream,
            kind,
            file_name=path.name,
            red_list=red_list,
            imported_at=imported_at,
            allow_shrink=allow_shrink,
        )


def import_lines(
    index: DirectoryIndex,
    lines: Iterable[bytes],
    kind: Source | None = None,
    *,
    file_name: str = "",
    red_list: Collection[str] = (),
    imported_at: datetime | None = None,
    allow_shrink: bool = False,
) -> ImportRecord:
    """Import from raw lines (see `import_file`)."""
    with without_cycle_collection():
        return _import_lines(
            index,
            lines,
            kind,
            file_name=file_name,
            red_list=red_list,
            imported_at=imported_at,
            allow_shrink=allow_shrink,
        )


@contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused for the duration of an import.

    An import allocates millions of objects that live until it ends (the rows, their fields,
    the documents), none of them in a reference cycle; the collector would run every 700
    allocations and sweep ever more of them in its older generations: 0.8-0.9 s of the
    national file's 8-9 s of Python (measured, decision 0035). Memory is freed by reference
    counting as before; the collector resumes (if it was on) when the import ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _import_lines(
    index: DirectoryIndex,
    lines: Iterable[bytes],
    kind: Source | None,
    *,
    file_name: str,
    red_list: Collection[str],
    imported_at: datetime | None,
    allow_shrink: bool,
) -> ImportRecord:
    reader = ExtractionReader(lines, kind)
    source = reader.kind
    withheld_keys = {key.lower() for key in red_list}
    merged: dict[str, Row] = {}
    fingerprints: dict[str, int] = {}
    duplicates = withheld = 0
    for row, digest in reader.records():
        key = row[0]
        if key in withheld_keys:
            withheld += 1
            continue
        known = merged.get(key)
        if known is None:
            merged[key] = row
            fingerprints[key] = digest
        else:
            duplicates += 1
            merged[key] = merge_rows(known, row)
            fingerprints[key] = zlib.crc32(row_text(row).encode(), fingerprints[key])

    previous = index.fingerprints(source)
    if previous and not allow_shrink and len(merged) < SHRINK_GUARD * len(previous):
        raise DirectoryFileRefused(
            f"Import refusé : le fichier ne contient que {len(merged)} entrée(s) contre "
            f"{len(previous)} dans l'annuaire actuel ; il est sans doute tronqué "
            "(relancez le téléchargement, ou forcez avec --allow-shrink)."
        )
    rows = alphabetical(merged.values())
    counts = dict.fromkeys(ChangeKind, 0)
    changes: list[Change] | None = None
    if previous:
        changes = diff(index, source, previous, merged, fingerprints)
        for change in changes:
            counts[change.kind] += 1
    else:
        counts[ChangeKind.ADDED] = len(rows)
    record = ImportRecord(
        id=0,
        source=source,
        imported_at=imported_at or datetime.now(UTC),
        file_name=file_name,
        lines=reader.line_count,
        entries=len(rows),
        merged=duplicates,
        malformed=reader.problems.count,
        withheld=withheld,
        added=counts[ChangeKind.ADDED],
        removed=counts[ChangeKind.REMOVED],
        changed=counts[ChangeKind.CHANGED],
        problems=tuple(reader.problems.lines),
    )
    return index.replace_source(source, rows, fingerprints, record, changes)


def diff(
    index: DirectoryIndex,
    source: Source,
    previous: dict[str, int],
    current: dict[str, Row],
    fingerprints: dict[str, int],
) -> list[Change]:
    """Added, removed and changed entries between the stored fingerprints and `current`."""
    changes: list[Change] = []
    changed_keys: list[str] = []
    for key, row in current.items():
        before = previous.get(key)
        if before is None:
            changes.append(Change(ChangeKind.ADDED, key, row[1], row_name(row)))
        elif before != fingerprints[key]:
            changed_keys.append(key)
    removed = [key for key in previous if key not in current]
    old = index.entries(changed_keys + removed)
    for key in changed_keys:
        row = current[key]
        fields = _changed_fields(old.get(key), Entry.from_row(source, row))
        changes.append(Change(ChangeKind.CHANGED, key, row[1], row_name(row), fields))
    for key in removed:
        gone = old.get(key)
        address = gone.address if gone else ""
        changes.append(Change(ChangeKind.REMOVED, key, address, gone.display_name if gone else ""))
    return changes


def _changed_fields(before: Entry | None, after: Entry) -> tuple[str, ...]:
    if before is None:
        return ROW_FIELDS
    return tuple(name for name in ROW_FIELDS if getattr(before, name) != getattr(after, name))
