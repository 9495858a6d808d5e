"""Bit rot and tampering: check --read-data finds them and names snapshots and files."""

from __future__ import annotations

from pathlib import Path

import pytest

from egide.backup import checker
from egide.backup.archiver import BackupOptions, run_backup
from egide.backup.checker import check_repository
from egide.backup.errors import RepositoryCorrupted
from egide.backup.events import Event, Progress
from egide.backup.pack import pack_name
from egide.backup.repository import Repository
from egide.backup.restorer import restore_snapshot
from egide.backup.snapshot import PREFIX, list_snapshots, read_tree
from egide.backup.storage import Storage

from .corpus import digest_tree, make_tree
from .lost_pack import back_up_and_lose_a_pack


def _flip(storage: Storage, name: str, offset: int) -> None:
    data = bytearray(storage.get(name))
    data[offset] ^= 0x01
    storage.put(name, bytes(data))


def test_it_finds_one_flipped_bit_and_names_the_damaged_file(
    repo: Repository, tmp_path: Path
) -> None:
    source = make_tree(tmp_path / "src")
    snapshot = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot
    assert check_repository(repo, read_data=True).ok
    victim = next(n for n in read_tree(repo, snapshot) if n.path.endswith("scan-2.jpg"))
    location = repo.index.locate(bytes.fromhex(victim.chunks[0]))
    assert location is not None
    _flip(repo.storage, pack_name(location.pack_id), location.entry.offset + 100)

    report = check_repository(repo, read_data=True)

    assert not report.ok
    assert any(location.pack_id[:12] in error for error in report.errors)
    assert (snapshot.short_id, f"{source}/scans/scan-2.jpg") in report.damaged_files
    # Everything else still restores, verified.
    result = restore_snapshot(repo, snapshot, tmp_path / "out")
    assert [p.path for p in result.problems] == [victim.path]
    restored = digest_tree(tmp_path / "out" / str(source).lstrip("/"))
    original = digest_tree(source)
    del original["scans/scan-2.jpg"]
    assert restored == original


def test_it_notices_a_missing_pack(repo: Repository, tmp_path: Path) -> None:
    _, snapshot, letter, _ = back_up_and_lose_a_pack(repo, tmp_path)

    report = check_repository(repo)

    assert any("absent" in error for error in report.errors)
    assert (snapshot.short_id, "/" + letter.path) in report.damaged_files


def test_it_rejects_a_tampered_snapshot(repo: Repository, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    snapshot = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot
    _flip(repo.storage, PREFIX + snapshot.snapshot_id, 60)

    with pytest.raises(RepositoryCorrupted):
        list_snapshots(repo)


class Interrupted(Exception):
    """Stands for the operator's Ctrl-C or a reboot in the middle of a long check."""


def test_an_interrupted_read_data_check_resumes_where_it_stopped(
    repo: Repository, tmp_path: Path
) -> None:
    source = make_tree(tmp_path / "src")
    run_backup(repo, BackupOptions(paths=(str(source),)))
    total = len(repo.index.indexed_packs())
    journal = tmp_path / "check-journal"

    def stop_after_the_first_pack(event: Event) -> None:
        if isinstance(event, Progress) and event.files >= 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        check_repository(repo, read_data=True, sink=stop_after_the_first_pack, journal=journal)
    assert 1 <= len(journal.read_text().split()) < total

    report = check_repository(repo, read_data=True, journal=journal)

    assert report.ok
    assert report.packs_skipped >= 1
    assert report.packs_read + report.packs_skipped == total
    assert not journal.exists()


@pytest.mark.parametrize("remembered", [0, 200_000])
def test_a_damaged_chunk_is_traced_to_every_snapshot_and_file_that_holds_it(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, remembered: int
) -> None:
    # The walk looks a chunk id up once and remembers it as indexed: a chunk shared by two
    # files and two snapshots must still name all four, whether ids are remembered or not.
    monkeypatch.setattr(checker, "_REMEMBERED", remembered)
    source = make_tree(tmp_path / "src")
    (source / "copie.jpg").write_bytes((source / "scans" / "scan-2.jpg").read_bytes())
    first = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot
    (source / "nouveau.txt").write_text("le lendemain")
    second = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot
    victim = next(n for n in read_tree(repo, first) if n.path.endswith("scan-2.jpg"))
    location = repo.index.locate(bytes.fromhex(victim.chunks[0]))
    assert location is not None
    _flip(repo.storage, pack_name(location.pack_id), location.entry.offset + 100)

    report = check_repository(repo, read_data=True)

    assert sorted(report.damaged_files) == sorted(
        (snapshot.short_id, f"{source}/{name}")
        for snapshot in (first, second)
        for name in ("scans/scan-2.jpg", "copie.jpg")
    )
