"""`forget` and `prune`: drop snapshots, then reclaim the space only they used.

Prune holds the exclusive lease (see `lock.py`), so no backup runs meanwhile; a crashed prune
leaves a lease that expires by itself. Its steps are ordered so that at every instant each index
file names only packs that exist and every snapshot's blobs are indexed:

1. mark the blobs referenced by the remaining snapshots (in a temporary SQLite table);
2. copy the still-used blobs of mostly-unused packs into new packs (frames are re-sealed, never
   decompressed; a group frame with an unused chunk is decompressed and its used chunks are
   framed anew — ADR 0028), and upload them with their index file;
3. write index files for the packs that stay;
4. delete every index file that existed before step 1;
5. delete unused and repacked packs, and unindexed packs older than `grace` (leftovers of
   crashed runs; younger ones may belong to a backup that is about to index them).

Killed at any step, the repository stays valid; running prune again finishes the job.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

from .events import EventSink, Notice, Progress, ignore
from .lock import LEASE_SECONDS, Lease
from .pack import PackEntry, frame_members, pack_name
from .repository import Repository
from .retention import RetentionPolicy, apply_policy
from .snapshot import PREFIX as SNAPSHOT_PREFIX
from .snapshot import Snapshot, list_snapshots, read_tree
from .store import BlobStore

_INDEX_PACKS = 256


def stored_share(entry: PackEntry) -> int:
    """Stored bytes of a blob: its frame's, or its share of its group frame's."""
    return entry.length * entry.raw_length // entry.group if entry.group else entry.length


@dataclass(frozen=True)
class PruneResult:
    """What prune removed."""

    packs_deleted: int
    packs_repacked: int
    orphans_deleted: int
    bytes_freed: int


def forget_snapshots(
    repo: Repository, policy: RetentionPolicy, dry_run: bool = False
) -> tuple[list[Snapshot], list[Snapshot]]:
    """Apply `policy`; delete the forgotten snapshots unless `dry_run`. Returns (kept, removed)."""
    with Lease(repo.storage, exclusive=False):
        kept, removed = apply_policy(list_snapshots(repo), policy)
        if not dry_run:
            for snapshot in removed:
                repo.storage.delete(SNAPSHOT_PREFIX + snapshot.snapshot_id)
    return kept, removed


def remove_snapshots(repo: Repository, snapshots: Iterable[Snapshot]) -> None:
    """Delete the given snapshots (their data goes at the next prune)."""
    with Lease(repo.storage, exclusive=False):
        for snapshot in snapshots:
            repo.storage.delete(SNAPSHOT_PREFIX + snapshot.snapshot_id)


def _mark_used(repo: Repository, used: sqlite3.Connection, sink: EventSink) -> None:
    used.execute("CREATE TABLE used(id BLOB PRIMARY KEY) WITHOUT ROWID")
    snapshots = list_snapshots(repo)
    for number, snapshot in enumerate(snapshots, 1):
        sink(Progress("mark", number, 0, len(snapshots), None))
        used.executemany(
            "INSERT OR IGNORE INTO used VALUES (?)", ((bytes.fromhex(t),) for t in snapshot.tree)
        )
        for node in read_tree(repo, snapshot):
            used.executemany(
                "INSERT OR IGNORE INTO used VALUES (?)", ((bytes.fromhex(c),) for c in node.chunks)
            )
    used.commit()


def _repack(
    repo: Repository,
    store: BlobStore,
    pack_id: str,
    needed: list[PackEntry],
    entries: list[PackEntry],
) -> None:
    """Copy the `needed` blobs of a pack (whose blobs are `entries`) into `store`.

    A frame is copied as it is (re-sealed, not decompressed) when every chunk of it is used;
    a group frame with an unused chunk is opened and its used chunks are framed anew.
    """
    data = memoryview(repo.storage.get(pack_name(pack_id)))
    reader = repo.pack_reader(pack_id, bytes(data[:64]))
    groups = frame_members(entries)
    used = {e.blob_id for e in needed}
    done: set[int] = set()
    for entry in needed:
        sealed = data[entry.offset : entry.offset + entry.length]
        if not entry.group:
            frame = reader.open_frame(entry, sealed)
            store.add_frame(entry.blob_type, entry.blob_id, frame, entry.raw_length)
            continue
        if entry.offset in done:
            continue
        done.add(entry.offset)
        members = groups[entry.offset]
        if all(e.blob_id in used for e in members):
            frame = reader.open_group_frame(members, sealed)
            store.add_group_frame(entry.blob_type, members, frame)
            continue
        content = reader.open_group(members, sealed)
        chunks = []
        for member in members:
            if member.blob_id in used:
                chunk = bytes(content[member.start : member.start + member.raw_length])
                repo.verify(reader.name, member, chunk)
                chunks.append((member.blob_id, chunk))
        store.put_chunks(entry.blob_type, chunks)


def prune_repository(
    repo: Repository,
    sink: EventSink = ignore,
    grace_seconds: float = 2 * LEASE_SECONDS,
    repack_threshold: float = 0.1,
) -> PruneResult:
    """Reclaim unused space; see the module docstring for the crash-safe order."""
    with Lease(repo.storage, exclusive=True):
        old_index_files = repo.sync_index()
        used = sqlite3.connect("")
        _mark_used(repo, used, sink)

        def is_used(entry: PackEntry) -> bool:
            row = used.execute("SELECT 1 FROM used WHERE id=?", (entry.blob_id,)).fetchone()
            return row is not None

        present = {i.name.rsplit("/", 1)[-1]: i for i in repo.storage.list("data/")}
        indexed = repo.index.indexed_packs()
        keep: list[tuple[str, list[PackEntry]]] = []
        drop: list[str] = []
        repack: list[tuple[str, list[PackEntry], list[PackEntry]]] = []
        for pack_id in sorted(indexed & present.keys()):
            entries = repo.index.pack_entries(pack_id)
            needed = [e for e in entries if is_used(e)]
            unused = sum(map(stored_share, entries)) - sum(map(stored_share, needed))
            if not needed:
                drop.append(pack_id)
            elif unused > repack_threshold * present[pack_id].size:
                repack.append((pack_id, needed, entries))
            else:
                keep.append((pack_id, entries))  # with every chunk of its groups, used or not
        store = BlobStore(repo)
        try:
            for number, (pack_id, needed, entries) in enumerate(repack, 1):
                _repack(repo, store, pack_id, needed, entries)
                sink(Progress("repack", number, 0, len(repack), None))
            store.flush()
        finally:
            store.close()
        for start in range(0, len(keep), _INDEX_PACKS):
            repo.write_index(keep[start : start + _INDEX_PACKS])
        for name in old_index_files:
            repo.storage.delete(name)
        repo.sync_index()
        freed = 0
        for pack_id in drop + [p for p, _, _ in repack]:
            repo.storage.delete(pack_name(pack_id))
            freed += present[pack_id].size
        orphans = 0
        now = time.time()
        for pack_id, info in present.items():
            if pack_id not in indexed and now - info.modified > grace_seconds:
                repo.storage.delete(info.name)
                freed += info.size
                orphans += 1
        used.close()
    result = PruneResult(len(drop), len(repack), orphans, freed)
    sink(
        Notice(f"{len(drop)} pack(s) supprimé(s), {len(repack)} réécrit(s), {freed} octets libérés")
    )
    return result
