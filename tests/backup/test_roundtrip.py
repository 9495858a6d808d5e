"""Back up, restore byte-identical with metadata, skip unchanged files, deduplicate page edits."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from egide.backup.archiver import BackupOptions, run_backup
from egide.backup.events import Event, Progress
from egide.backup.inventory import diff_snapshots, repository_stats
from egide.backup.repository import Repository
from egide.backup.restorer import restore_snapshot
from egide.backup.snapshot import Snapshot, find_snapshot, list_snapshots, read_tree

from .corpus import digest_tree, make_tree
from .lost_pack import back_up_and_lose_a_pack


def test_it_restores_a_tree_byte_identical_with_its_metadata(
    repo: Repository, tmp_path: Path
) -> None:
    source = make_tree(tmp_path / "src")
    events: list[Event] = []
    result = run_backup(repo, BackupOptions(paths=(str(source),), tags=("nuit",)), events.append)
    assert result.problems == ()
    assert any(isinstance(e, Progress) and e.files_total for e in events)
    assert result.snapshot.tags == ["nuit"]

    restored = restore_snapshot(repo, find_snapshot(repo, "latest"), tmp_path / "out")

    assert restored.problems == ()
    assert digest_tree(tmp_path / "out" / str(source).lstrip("/")) == digest_tree(source)
    xattr_source = os.listxattr(source / "vide.txt")
    target = tmp_path / "out" / str(source).lstrip("/") / "vide.txt"
    assert os.listxattr(target) == xattr_source


def test_it_skips_unchanged_files_and_stores_nothing_new(repo: Repository, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    first = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot
    second = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot

    assert second.parent == first.snapshot_id
    assert second.stats["bytes_read"] == 0
    assert second.stats["files_unchanged"] == first.stats["files"]
    assert second.stats["bytes_added"] < 20_000  # at most a new tree piece and an index


def test_unchanged_files_keep_their_attributes_and_a_changed_attribute_is_seen(
    repo: Repository, tmp_path: Path
) -> None:
    source = make_tree(tmp_path / "src")
    letter = source / "courriers" / "2026" / "lettre-2.txt"
    try:
        os.setxattr(letter, "user.egide.statut", b"urgent")
    except OSError:
        pytest.skip("no user extended attributes on this file system")
    first = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot

    def attributes(snapshot: Snapshot) -> dict[str, dict[str, str]]:
        return {n.path.rsplit("/", 1)[-1]: n.xattrs for n in read_tree(repo, snapshot)}

    # Not read again for an unchanged file: taken from the parent snapshot.
    second = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot
    assert second.stats["files_unchanged"] == first.stats["files"]
    assert attributes(second) == attributes(first)
    assert attributes(second)["lettre-2.txt"] == {"user.egide.statut": "dXJnZW50"}
    # Setting an attribute changes the ctime: the file is looked at again.
    os.setxattr(letter, "user.egide.statut", b"vu")
    os.removexattr(source / "vide.txt", "user.egide")

    third = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot

    assert attributes(third)["lettre-2.txt"] == {"user.egide.statut": "dnU="}
    assert attributes(third)["vide.txt"] == {}


def test_it_reads_again_unchanged_files_whose_chunks_are_no_longer_stored(
    repo: Repository, tmp_path: Path
) -> None:
    source, first, letter, _ = back_up_and_lose_a_pack(repo, tmp_path)
    for info in repo.storage.list("index/"):  # the next run rebuilds it from the packs left
        repo.storage.delete(info.name)

    second = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot

    assert second.parent == first.snapshot_id
    assert 1 <= second.stats["files_changed"] < first.stats["files"]
    assert second.stats["files_unchanged"] == first.stats["files"] - second.stats["files_changed"]
    restore_snapshot(repo, second, tmp_path / "out")
    assert digest_tree(tmp_path / "out" / str(source).lstrip("/")) == digest_tree(source)
    assert (tmp_path / "out" / letter.path).read_bytes() == (Path("/") / letter.path).read_bytes()


def test_it_stores_only_the_blocks_of_database_pages_edited_in_place(
    repo: Repository, tmp_path: Path
) -> None:
    source = make_tree(tmp_path / "src")
    run_backup(repo, BackupOptions(paths=(str(source),)))
    with sqlite3.connect(source / "patients.sqlite") as db:
        db.execute("UPDATE patient SET nom = 'Modifié' WHERE id IN (5, 1500, 3900)")
    size = (source / "patients.sqlite").stat().st_size

    second = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot

    assert second.stats["files_changed"] == 1
    assert second.stats["bytes_new"] < size / 8


def test_it_restores_only_the_requested_paths(repo: Repository, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    snapshot = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot

    restore_snapshot(repo, snapshot, tmp_path / "out", includes=[str(source / "scans")])

    out = tmp_path / "out" / str(source).lstrip("/")
    assert sorted(p.name for p in (out / "scans").iterdir()) == [f"scan-{i}.jpg" for i in range(5)]
    assert not (out / "courriers").exists()


def test_it_lists_differences_and_statistics(repo: Repository, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    first = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot
    (source / "nouveau.txt").write_text("nouveau")
    (source / "courriers" / "2026" / "lettre-3.txt").write_text("changé")
    (source / "scans" / "scan-4.jpg").unlink()
    second = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot

    changes = {(c.kind, c.path) for c in diff_snapshots(repo, first, second)}

    assert ("+", f"{source}/nouveau.txt") in changes
    assert ("M", f"{source}/courriers/2026/lettre-3.txt") in changes
    assert ("-", f"{source}/scans/scan-4.jpg") in changes
    stats = repository_stats(repo)
    assert stats.snapshots == 2 == len(list_snapshots(repo))
    assert stats.stored_bytes < stats.raw_bytes
    assert any(n.type == "symlink" for n in read_tree(repo, second))
