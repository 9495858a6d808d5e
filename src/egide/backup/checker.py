"""`check`: prove the repository is whole, and name what is damaged.

Without `read_data`: every snapshot opens, every tree blob and every chunk it references is
indexed in a pack that exists. With `read_data`: every pack (or the `subset` of packs whose id
falls in slice n of m, to verify a rotating part each night) is downloaded, its BLAKE3 hash
compared with its name (any altered byte is found), and each blob authenticated and re-hashed.
Damaged blobs are then traced to the snapshots and files that contain them.

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
from .index import BlobLocation
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


def in_subset(pack_id: str, subset: tuple[int, int] | None) -> bool:
    """Whether a pack belongs to slice n (1-based) of m."""
    if subset is None:
        return True
    n, m = subset
    return int(pack_id[:8], 16) % m == n - 1


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
        repo.pack_reader(pack_id, data[:64])
    except BackupError as error:
        return {e.blob_id for e in entries}, [*errors, f"pack {pack_id[:12]} : {error}"], len(data)
    for entry in entries:
        try:
            sealed = view[entry.offset : entry.offset + entry.length]
            repo.read_located(BlobLocation(pack_id, entry), sealed)
        except BackupError:
            damaged.add(entry.blob_id)
    if damaged:
        errors.append(f"pack {pack_id[:12]} : {len(damaged)} morceau(x) endommagé(s)")
    return damaged, errors, len(data)


def check_repository(
    repo: Repository,
    read_data: bool = False,
    subset: tuple[int, int] | None = None,
    sink: EventSink = ignore,
    workers: int = 2,
    journal: Path | None = None,
) -> CheckReport:
    """Verify the repository; see the module docstring."""
    report = CheckReport()
    repo.sync_index()
    present = {info.name.rsplit("/", 1)[-1]: info.size for info in repo.storage.list("data/")}
    indexed = repo.index.indexed_packs()
    missing = indexed - present.keys()
    report.errors.extend(f"pack {p[:12]} absent du stockage" for p in sorted(missing))
    damaged: set[bytes] = set()
    for pack_id in missing:
        damaged.update(e.blob_id for e in repo.index.pack_entries(pack_id))
    if read_data:
        done = _journaled(journal)
        chosen = sorted(
            p for p in indexed & present.keys() if in_subset(p, subset) and p not in done
        )
        total = sum(present[p] for p in chosen)
        report.packs_skipped = len(done & indexed)
        last = 0.0
        with ThreadPoolExecutor(workers, thread_name_prefix="check") as pool:
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
        sink(Progress("check", report.packs_read, report.bytes_read, len(chosen), total))
        if journal is not None:
            journal.unlink(missing_ok=True)  # the pass is complete
    for snapshot in list_snapshots(repo):
        report.snapshots += 1
        try:
            for blob in snapshot.tree:
                if bytes.fromhex(blob) in damaged or not repo.index.has(bytes.fromhex(blob)):
                    raise RepositoryCorrupted(f"arbre {blob[:12]} endommagé ou absent")
            for node in read_tree(repo, snapshot):
                ids = [bytes.fromhex(chunk) for chunk in node.chunks]
                if ids and (not damaged.isdisjoint(ids) or not repo.index.has_all(ids)):
                    report.damaged_files.append((snapshot.short_id, "/" + node.path))
        except BackupError as error:
            report.errors.append(f"instantané {snapshot.short_id} : {error}")
    return report
