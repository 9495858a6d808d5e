"""Group frames (format version 2, ADR 0028): several small chunks in one sealed frame."""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest

from egide.backup import sealed
from egide.backup.archiver import BackupOptions, run_backup
from egide.backup.checker import check_repository
from egide.backup.index import IndexCache
from egide.backup.pack import BlobType, PackEntry, PackReader, pack_name
from egide.backup.pruner import forget_snapshots, prune_repository
from egide.backup.repository import Repository, init_repository, open_repository
from egide.backup.restorer import restore_snapshot
from egide.backup.retention import RetentionPolicy
from egide.backup.snapshot import list_snapshots, read_tree
from egide.backup.storage import Storage
from egide.backup.store import BlobStore

from .conftest import FAST_KDF, PASSPHRASE
from .corpus import digest_tree, make_tree


def _entries(repo: Repository) -> list[tuple[str, PackEntry]]:
    return [
        (pack_id, entry)
        for pack_id in sorted(repo.index.indexed_packs())
        for entry in repo.index.pack_entries(pack_id)
    ]


def test_small_chunks_share_group_frames_and_restore_opens_each_group_once(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_tree(tmp_path / "src")
    snapshot = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot
    groups = Counter((p, e.offset) for p, e in _entries(repo) if e.group)
    assert groups and max(groups.values()) > 10  # database pages and letters, grouped
    opened: Counter[tuple[str, int]] = Counter()
    real = PackReader.open_group

    def counting(
        self: PackReader, members: Sequence[PackEntry], data: bytes | memoryview
    ) -> bytes | memoryview:
        opened[(self.name, members[0].offset)] += 1
        return real(self, members, data)

    monkeypatch.setattr(PackReader, "open_group", counting)

    result = restore_snapshot(repo, snapshot, tmp_path / "out")

    assert result.problems == ()
    assert digest_tree(tmp_path / "out" / str(source).lstrip("/")) == digest_tree(source)
    assert set(opened) == {(pack_name(p), offset) for p, offset in groups}
    assert set(opened.values()) == {1}  # one decompression per group, not one per chunk


def test_a_damaged_group_names_every_file_that_has_a_chunk_in_it(
    repo: Repository, tmp_path: Path
) -> None:
    source = make_tree(tmp_path / "src")
    snapshot = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot
    # The group frame holding chunks of the most files.
    chunk_files: dict[str, set[str]] = {}
    for node in read_tree(repo, snapshot):
        for chunk in node.chunks:
            chunk_files.setdefault(chunk, set()).add(node.path)
    files: dict[tuple[str, int], set[str]] = {}
    for p, e in _entries(repo):
        if e.group:
            files.setdefault((p, e.offset), set()).update(chunk_files[e.blob_id.hex()])
    pack_id, offset = max(files, key=lambda key: len(files[key]))
    members = {e.blob_id.hex() for e in repo.index.frame_members(pack_id, [offset])[offset]}
    expected = {
        (snapshot.short_id, "/" + node.path)
        for node in read_tree(repo, snapshot)
        if members.intersection(node.chunks)
    }
    assert len(expected) > 1
    data = bytearray(repo.storage.get(pack_name(pack_id)))
    data[offset + 40] ^= 0x01
    repo.storage.put(pack_name(pack_id), bytes(data))

    report = check_repository(repo, read_data=True)

    assert not report.ok
    assert set(report.damaged_files) == expected
    result = restore_snapshot(repo, snapshot, tmp_path / "out")
    assert {"/" + p.path for p in result.problems} == {path for _, path in expected}


def test_prune_frames_anew_the_used_chunks_of_a_partly_used_group(
    repo: Repository, tmp_path: Path
) -> None:
    source = make_tree(tmp_path / "src")
    run_backup(repo, BackupOptions(paths=(str(source),)))
    for number in (0, 10, 20):
        letter = source / "courriers" / "2026" / f"lettre-{number}.txt"
        letter.write_text(f"Remplacé {number}\n" + "Nouvelle consultation. " * 40)
    run_backup(repo, BackupOptions(paths=(str(source),)))
    forget_snapshots(repo, RetentionPolicy(last=1))

    result = prune_repository(repo, repack_threshold=0.0)

    assert result.packs_repacked > 0
    [kept] = list_snapshots(repo)
    used = {bytes.fromhex(c) for node in read_tree(repo, kept) for c in node.chunks}
    used |= {bytes.fromhex(t) for t in kept.tree}
    indexed = {e.blob_id for _, e in _entries(repo)}
    assert indexed == used  # no unused chunk left inside a kept group
    assert any(e.group for _, e in _entries(repo))
    assert check_repository(repo, read_data=True).ok
    restore_snapshot(repo, kept, tmp_path / "out")
    assert digest_tree(tmp_path / "out" / str(source).lstrip("/")) == digest_tree(source)


def test_a_version_1_repository_is_still_written_in_version_1(
    storage: Storage, tmp_path: Path
) -> None:
    repo = init_repository(storage, PASSPHRASE, FAST_KDF, tmp_path / "cache", version=1)
    source = make_tree(tmp_path / "src")
    run_backup(repo, BackupOptions(paths=(str(source),)))
    repo.close()
    repo = open_repository(storage, PASSPHRASE, tmp_path / "cache2")
    repo.sync_index()

    assert repo.version == 1
    assert not any(e.group for _, e in _entries(repo))
    for info in repo.storage.list("data/"):
        assert repo.storage.get(info.name, 0, 5) == b"EGPK\x01"
    for info in repo.storage.list("index/"):
        plain = sealed.open_object(repo.master, sealed.Kind.INDEX, repo.storage.get(info.name))
        assert plain[:5] == b"EGIX\x01"
    assert check_repository(repo, read_data=True).ok
    [snapshot] = list_snapshots(repo)
    restore_snapshot(repo, snapshot, tmp_path / "out")
    assert digest_tree(tmp_path / "out" / str(source).lstrip("/")) == digest_tree(source)
    repo.close()


def test_an_index_cache_of_the_older_schema_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE packs(pid INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);"
            "CREATE TABLE files(fid INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);"
            "CREATE TABLE blobs(id BLOB NOT NULL, fid INTEGER NOT NULL, pid INTEGER NOT NULL,"
            " type INTEGER NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL,"
            " raw INTEGER NOT NULL, PRIMARY KEY (id, fid)) WITHOUT ROWID;"
            "INSERT INTO files(name) VALUES ('index/old');"
        )
    cache = IndexCache(path)
    entry = PackEntry(BlobType.DATA, bytes(32), 37, 80, 5, 0, 9)

    assert cache.loaded_files() == set()  # rebuilt: every index file is read again
    cache.add_file("index/new", [("ab" * 32, [entry])])
    assert cache.frame_members("ab" * 32, [37]) == {37: [entry]}
    cache.close()


def test_a_frame_that_would_not_fit_ships_the_pack_short_instead_of_growing_it(
    repo: Repository,
) -> None:
    # Pack buffers are maps of pack_size + 1 MiB (ADR 0039): a 1.2 MiB frame after 0.9 MiB
    # goes to the next pack, and both chunks read back.
    store = BlobStore(repo)
    first, second = os.urandom(900 << 10), os.urandom(1200 << 10)
    try:
        ids = store.store_many(BlobType.DATA, [first, second])
        store.flush()
    finally:
        store.close()
    packs = {pack_id: [e.blob_id for e in entries] for pack_id, entries in _entries_by_pack(repo)}
    assert sorted(packs.values()) == sorted([[ids[0]], [ids[1]]])
    assert [repo.read_blob(i) for i in ids] == [first, second]


def _entries_by_pack(repo: Repository) -> list[tuple[str, list[PackEntry]]]:
    return [(p, repo.index.pack_entries(p)) for p in sorted(repo.index.indexed_packs())]
