"""`check`: prove the repository is whole, and name what is damaged.

Without `read_data`: every snapshot opens, every tree blob and every chunk it references is
indexed in a pack that exists. With `read_data`: every pack is downloaded (whole, one request
each, by a few threads), its BLAKE3 hash compared with its name (any altered byte is found), and
each blob authenticated, decompressed and re-hashed against its id. Damaged blobs are then traced
to the snapshots and files that contain them.

Two ways to verify only part of the data each night, so that a large repository is read in full
over a week without a long nightly check: `subset=(n, m)` reads the packs whose id falls in
slice n of m; `share=p` (0 < p ≤ 1) reads the next packs in id order after the one recorded in the
`cursor` file, about a fraction p of the stored bytes, wrapping around at the end — run nightly
with p = 1/7 (or 15 %), it covers every pack in a week, packs written since included, without
anyone counting nights.

A check of a large repository can be interrupted and resumed: with a `journal` file, each pack
found intact is appended to it as soon as it is verified, packs already listed are skipped, and
the journal is removed when a pass completes. Damaged packs are never journaled, so a resumed
check reports them again.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from .errors import BackupError, RepositoryCorrupted
from .events import EventSink, Progress, ignore
from .pack import pack_name
from .repository import Repository
from .snapshot import list_snapshots, read_tree


@dataclass
class CheckReport:
    """What `check` found; `ok` when nothing."""

    errors: list[str] = field(default_factory=list)
    damaged_files: list[tuple[str, str]] = field(default_factory=list)  # (snapshot, path)
    snapshots: int = 0
    packs_read: int = 0
    packs_skipped: int = 0
    bytes_read: int = 0

    @property
    def ok(self) -> bool:
        """Whether the repository passed."""
        return not self.errors and not self.damaged_files


def _journaled(journal: Path | None) -> set[str]:
    if journal is None:
        return set()
    try:
        return {line.strip() for line in journal.read_text().splitlines() if line.strip()}
    except FileNotFoundError:
        journal.parent.mkdir(parents=True, exist_ok=True)
        return set()


def _cursor(cursor: Path | None) -> str:
    if cursor is None:
        return ""
    try:
        return cursor.read_text().strip()
    except FileNotFoundError:
        return ""


def in_subset(pack_id: str, subset: tuple[int, int] | None) -> bool:
    """Whether a pack belongs to slice n (1-based) of m."""
    if subset is None:
        return True
    n, m = subset
    return int(pack_id[:8], 16) % m == n - 1


def in_share(sizes: dict[str, int], share: float, after: str) -> list[str]:
    """The packs after `after` in id order (wrapping), about `share` of the bytes, one at least."""
    ordered = sorted(sizes)
    start = next((i for i, pack_id in enumerate(ordered) if pack_id > after), 0)
    budget = share * sum(sizes.values())
    chosen: list[str] = []
    taken = 0
    for pack_id in ordered[start:] + ordered[:start]:
        if chosen and taken + sizes[pack_id] / 2 > budget:
            break
        chosen.append(pack_id)
        taken += sizes[pack_id]
    return chosen


def _read_pack(repo: Repository, pack_id: str) -> tuple[set[bytes], list[str], int]:
    damaged: set[bytes] = set()
    errors: list[str] = []
    entries = repo.index.pack_entries(pack_id)
    try:
        data = repo.storage.get(pack_name(pack_id))
    except BackupError as error:
        return {e.blob_id for e in entries}, [f"pack {pack_id[:12]} illisible : {error}"], 0
    view = memoryview(data)
    if blake3.blake3(data, max_threads=blake3.blake3.AUTO).hexdigest() != pack_id:
        errors.append(f"pack {pack_id[:12]} altéré (son empreinte ne correspond plus)")
    try:
        reader = repo.pack_reader(pack_id, data[:64])
    except BackupError as error:
        return {e.blob_id for e in entries}, [*errors, f"pack {pack_id[:12]} : {error}"], len(data)
    opener = repo.opener(reader, entries, entries)  # every chunk of every group is verified
    for entry in entries:
        try:
            opener.open(entry, view[entry.offset : entry.offset + entry.length])
        except BackupError:
            damaged.add(entry.blob_id)
    if damaged:
        errors.append(f"pack {pack_id[:12]} : {len(damaged)} morceau(x) endommagé(s)")
    return damaged, errors, len(data)


_FILES_PER_LOOKUP = 256
# Chunk ids remembered as indexed during the walk (~110 bytes each): a chunk shared by many
# files or snapshots — most of them, from one snapshot to the next — is looked up once.
_REMEMBERED = 200_000


def _trace(
    repo: Repository,
    short_id: str,
    files: list[tuple[str, list[bytes]]],
    damaged: set[bytes],
    report: CheckReport,
    indexed: set[bytes],
) -> None:
    """Name the files (emptied from `files`) with a damaged or unindexed chunk: one lookup of
    the ids not already in `indexed`, which the ids found join (up to `_REMEMBERED`)."""
    asked = list({blob for _, ids in files for blob in ids if blob not in indexed})
    found = repo.index.known(asked) if asked else set()
    for path, ids in files:
        if not damaged.isdisjoint(ids) or any(
            blob not in indexed and blob not in found for blob in ids
        ):
            report.damaged_files.append((short_id, "/" + path))
    if len(indexed) < _REMEMBERED:
        indexed |= found
    files.clear()


def check_repository(
    repo: Repository,
    read_data: bool = False,
    subset: tuple[int, int] | None = None,
    sink: EventSink = ignore,
    workers: int = 2,
    journal: Path | None = None,
    share: float | None = None,
    cursor: Path | None = None,
) -> CheckReport:
    """Verify the repository; see the module docstring (`share` implies `read_data`)."""
    report = CheckReport()
    repo.sync_index()
    present = {info.name.rsplit("/", 1)[-1]: info.size for info in repo.storage.list("data/")}
    indexed = repo.index.indexed_packs()
    missing = indexed - present.keys()
    report.errors.extend(f"pack {p[:12]} absent du stockage" for p in sorted(missing))
    damaged: set[bytes] = set()
    for pack_id in missing:
        damaged.update(e.blob_id for e in repo.index.pack_entries(pack_id))
    known_before = set(damaged)
    structure: CheckReport | None = None
    if read_data or share is not None:
        done = _journaled(journal)
        readable = {p: present[p] for p in indexed & present.keys() if in_subset(p, subset)}
        if share is not None:
            after = _cursor(cursor)
            rotation = in_share(readable, share, after)
            readable = {p: readable[p] for p in rotation}
        chosen = sorted(p for p in readable if p not in done)
        total = sum(present[p] for p in chosen)
        report.packs_skipped = len(done & indexed)
        last = 0.0
        with ThreadPoolExecutor(workers + 1, thread_name_prefix="check") as pool:
            # Snapshots and trees are walked meanwhile, by one more thread; walked again after
            # the read only if it found damage (to name the files that hold it).
            walk = pool.submit(_snapshots_pass, repo, known_before)
            results = pool.map(lambda p: _read_pack(repo, p), chosen)
            for pack_id, (bad, errors, size) in zip(chosen, results, strict=True):
                damaged |= bad
                report.errors.extend(errors)
                report.packs_read += 1
                report.bytes_read += size
                if journal is not None and not errors:
                    with journal.open("a") as record:
                        record.write(pack_id + "\n")
                if time.monotonic() - last > 0.2:
                    last = time.monotonic()
                    sink(
                        Progress("check", report.packs_read, report.bytes_read, len(chosen), total)
                    )
            structure = walk.result()
        sink(Progress("check", report.packs_read, report.bytes_read, len(chosen), total))
        if journal is not None:
            journal.unlink(missing_ok=True)  # the pass is complete
        if share is not None and cursor is not None and rotation:
            # The next share starts after the last pack of this one (in id order, wrapping).
            last_read = rotation[-1]
            cursor.parent.mkdir(parents=True, exist_ok=True)
            cursor.write_text(last_read + "\n")
    if structure is None or damaged != known_before:
        structure = _snapshots_pass(repo, damaged)  # damage found by the read: traced to files
    report.snapshots = structure.snapshots
    report.damaged_files = structure.damaged_files
    report.errors.extend(structure.errors)
    return report


def _snapshots_pass(repo: Repository, damaged: set[bytes]) -> CheckReport:
    """Open every snapshot and tree; name the files with a damaged or unindexed chunk."""
    report = CheckReport()
    indexed: set[bytes] = set()  # chunk ids found indexed, across files and snapshots
    for snapshot in list_snapshots(repo):
        report.snapshots += 1
        try:
            for blob in snapshot.tree:
                if bytes.fromhex(blob) in damaged or not repo.index.has(bytes.fromhex(blob)):
                    raise RepositoryCorrupted(f"arbre {blob[:12]} endommagé ou absent")
            files: list[tuple[str, list[bytes]]] = []
            for node in read_tree(repo, snapshot):
                if node.chunks:
                    files.append((node.path, [bytes.fromhex(chunk) for chunk in node.chunks]))
                    if len(files) >= _FILES_PER_LOOKUP:
                        _trace(repo, snapshot.short_id, files, damaged, report, indexed)
            _trace(repo, snapshot.short_id, files, damaged, report, indexed)
        except BackupError as error:
            report.errors.append(f"instantané {snapshot.short_id} : {error}")
    return report
