"""Restore in batches of pack-ordered reads, and the nightly rotating share of check --read-data."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from egide.backup import restorer
from egide.backup.archiver import BackupOptions, run_backup
from egide.backup.checker import check_repository, in_share
from egide.backup.events import Event, Progress
from egide.backup.index import BlobLocation, IndexCache
from egide.backup.pack import BlobType, PackEntry, pack_name
from egide.backup.repository import Repository
from egide.backup.restorer import restore_snapshot
from egide.backup.snapshot import read_tree

from .corpus import digest_tree, make_tree
from .lost_pack import back_up_and_lose_a_pack


def test_files_cut_across_small_batches_and_ranges_restore_identical(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_tree(tmp_path / "src")
    # The same content twice in one file and in two files: one read, several places.
    block = (source / "scans" / "scan-1.jpg").read_bytes()
    (source / "double.bin").write_bytes(block + block)
    (source / "copie.jpg").write_bytes(block)
    snapshot = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot
    # Tiny batches and ranges: the database's chunks straddle many batches and runs.
    monkeypatch.setattr(restorer, "_BATCH_PIECES", 3)
    monkeypatch.setattr(restorer, "_BATCH_FILES", 2)
    monkeypatch.setattr(restorer, "_MAX_RANGE", 40_000)

    result = restore_snapshot(repo, snapshot, tmp_path / "out", workers=3)

    assert result.problems == ()
    assert digest_tree(tmp_path / "out" / str(source).lstrip("/")) == digest_tree(source)
    assert not list((tmp_path / "out").rglob(".*.egide-restore"))


@pytest.mark.parametrize("unnamed", [True, False], ids=["O_TMPFILE", "temporary-name"])
def test_a_restore_over_earlier_files_replaces_them_whole_with_or_without_unnamed_files(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unnamed: bool
) -> None:
    source = make_tree(tmp_path / "src")
    # Mode and times are set through the descriptor before the file is named: a read-only
    # file is still named, and keeps its mode and times.
    read_only = source / "lecture-seule.txt"
    read_only.write_bytes(b"ne pas modifier")
    read_only.chmod(0o444)
    os.utime(read_only, ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
    snapshot = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot
    out = tmp_path / "out"
    restored = out / str(source).lstrip("/")
    if not unnamed:  # a file system without O_TMPFILE: a temporary name, then a rename
        monkeypatch.setattr(restorer, "_unnamed_file", lambda directory: -1)
    assert restore_snapshot(repo, snapshot, out).problems == ()
    assert digest_tree(restored) == digest_tree(source)
    # Earlier files in the way: changed, and a temporary file an interrupted restore left.
    letters = sorted(restored.rglob("*.txt"))
    letters[0].write_bytes(b"autre contenu")
    letters[1].with_name(f".{letters[1].name}.egide-restore").write_bytes(b"reste")

    assert restore_snapshot(repo, snapshot, out).problems == ()

    assert digest_tree(restored) == digest_tree(source)
    assert not list(out.rglob(".*.egide-restore"))


def test_a_missing_pack_fails_only_the_files_it_holds(repo: Repository, tmp_path: Path) -> None:
    source, snapshot, letter, lost = back_up_and_lose_a_pack(repo, tmp_path)
    in_lost_pack = {
        node.path
        for node in read_tree(repo, snapshot)
        if any(
            (found := repo.index.locate(bytes.fromhex(chunk))) is not None and found.pack_id == lost
            for chunk in node.chunks
        )
    }
    assert letter.path in in_lost_pack

    result = restore_snapshot(repo, snapshot, tmp_path / "out")

    assert {problem.path for problem in result.problems} == in_lost_pack
    restored = digest_tree(tmp_path / "out" / str(source).lstrip("/"))
    original = digest_tree(source)
    for path in in_lost_pack:
        del original[str(Path("/" + path).relative_to(source))]
    assert {k: v for k, v in restored.items() if v[0] != "dir"} == {
        k: v for k, v in original.items() if v[0] != "dir"
    }
    assert not list((tmp_path / "out").rglob(".*.egide-restore"))


def test_the_share_of_each_night_follows_the_last_one_and_wraps_around() -> None:
    sizes = {f"{i:02x}" + "0" * 62: 10 for i in range(10)}
    first = in_share(sizes, 0.3, "")
    second = in_share(sizes, 0.3, first[-1])
    third = in_share(sizes, 0.3, second[-1])
    fourth = in_share(sizes, 0.3, third[-1])

    assert [len(part) for part in (first, second, third)] == [3, 3, 3]
    assert sorted(first + second + third + fourth[:1]) == sorted(sizes)
    assert fourth[1:] == first[:2]  # the rotation starts again
    assert in_share(sizes, 0.01, "") == [min(sizes)]  # never nothing


def test_rotating_shares_read_every_pack_and_find_damage_when_its_turn_comes(
    repo: Repository, tmp_path: Path
) -> None:
    sources = [str(make_tree(tmp_path / f"src{seed}", seed)) for seed in (1, 2, 3)]
    snapshot = run_backup(repo, BackupOptions(paths=tuple(sources))).snapshot
    packs = repo.index.indexed_packs()
    assert len(packs) >= 4
    victim = next(n for n in read_tree(repo, snapshot) if n.path.endswith("scan-3.jpg"))
    location = repo.index.locate(bytes.fromhex(victim.chunks[0]))
    assert location is not None
    name = pack_name(location.pack_id)
    data = bytearray(repo.storage.get(name))
    data[location.entry.offset + 10] ^= 0x40
    repo.storage.put(name, bytes(data))
    cursor = tmp_path / "cache" / "check-cursor"

    reports = []
    for _night in range(len(packs)):
        reports.append(check_repository(repo, share=1 / 4, cursor=cursor))
        if sum(report.packs_read for report in reports) >= len(packs):
            break

    assert cursor.exists()
    assert 3 <= len(reports) <= 5
    assert all(report.packs_read < len(packs) for report in reports)
    damaged = [report for report in reports if not report.ok]
    assert damaged
    assert (snapshot.short_id, "/" + victim.path) in damaged[0].damaged_files


def _kinds_tree(root: Path) -> Path:
    """The practice tree, plus a sparse file, a file of zeros, a FIFO and a read-only directory."""
    source = make_tree(root)
    with (source / "disque.img").open("wb") as handle:
        handle.truncate(32 << 20)
        handle.seek(13 << 20)
        handle.write(b"au milieu du vide")
    with (source / "zeros.bin").open("wb") as handle:
        handle.truncate(9 << 20)
    os.mkfifo(source / "tube", 0o640)
    (source / "archives").mkdir()
    (source / "archives" / "2025.txt").write_text("clos")
    (source / "archives").chmod(0o555)
    os.utime(source / "tube", ns=(1_500_000_000_000_000_001, 1_500_000_000_000_000_002))
    os.utime(source / "archives", ns=(1_400_000_000_000_000_001, 1_400_000_000_000_000_002))
    return source


def test_every_kind_of_entry_comes_back_and_a_second_restore_over_it_repairs_it(
    repo: Repository, tmp_path: Path
) -> None:
    source = _kinds_tree(tmp_path / "src")
    letter = source / "courriers" / "2026" / "lettre-3.txt"
    os.utime(letter, ns=(1_700_000_000_000_000_007, 1_700_000_000_000_000_009))
    snapshot = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot
    original = digest_tree(source)
    out = tmp_path / "out"
    restored = out / str(source).lstrip("/")

    assert restore_snapshot(repo, snapshot, out).problems == ()

    # The access time recorded by the backup (reading a file may move it: looked at first).
    recorded = next(n for n in read_tree(repo, snapshot) if n.path.endswith("lettre-3.txt"))
    assert recorded.mtime_ns == 1_700_000_000_000_000_009
    assert (restored / "courriers" / "2026" / "lettre-3.txt").stat().st_atime_ns == (
        recorded.atime_ns
    )
    assert digest_tree(restored) == original
    assert stat.S_ISFIFO(os.lstat(restored / "tube").st_mode)
    assert os.listxattr(restored / "vide.txt") == os.listxattr(source / "vide.txt")
    for name in ("disque.img", "zeros.bin"):  # sparse again: holes are not written
        info = (restored / name).stat()
        assert info.st_size == (source / name).stat().st_size
        assert info.st_blocks * 512 <= info.st_size // 4
    assert (restored / "vide.txt").stat().st_size == 0

    # The restored tree is changed, then restored over: the snapshot's entries come back, a
    # link in place of a directory is removed (not followed out), other entries stay.
    outside = tmp_path / "ailleurs"
    outside.mkdir()
    (restored / "courriers" / "2026" / "lettre-3.txt").write_text("modifié, et plus long " * 900)
    (restored / "scans" / "scan-1.jpg").unlink()
    (restored / "patients.sqlite").unlink()
    (restored / "patients.sqlite").symlink_to(outside / "volé")  # dangling, in a file's place
    shutil.rmtree(restored / "scans")
    (restored / "scans").symlink_to(outside, target_is_directory=True)
    (restored / "lien").unlink()
    (restored / "lien").write_text("un fichier à la place du lien")
    (restored / "tube").unlink()
    (restored / "tube").write_text("un fichier à la place du tube")
    (restored / "ajout.txt").write_text("resté")

    assert restore_snapshot(repo, snapshot, out).problems == ()

    assert list(outside.iterdir()) == []
    after = digest_tree(restored)
    assert after.pop("ajout.txt")[0] == "file"
    assert after == original
    assert not list(out.rglob(".*.egide-restore"))


def test_a_single_file_is_restored_alone_with_its_parent_directories(
    repo: Repository, tmp_path: Path
) -> None:
    source = _kinds_tree(tmp_path / "src")
    snapshot = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot
    wanted = source / "courriers" / "2026" / "lettre-7.txt"

    result = restore_snapshot(repo, snapshot, tmp_path / "out", includes=[str(wanted) + "/"])

    assert result.problems == () and result.files == 1
    restored = tmp_path / "out" / str(source).lstrip("/")
    assert (restored / "courriers" / "2026" / "lettre-7.txt").read_bytes() == wanted.read_bytes()
    found = {str(path.relative_to(restored)) for path in restored.rglob("*")}
    assert found == {"courriers", "courriers/2026", "courriers/2026/lettre-7.txt"}


def test_the_one_row_lookup_of_many_blobs_agrees_with_one_lookup_each(tmp_path: Path) -> None:
    cache = IndexCache(tmp_path / "index.sqlite")
    indexed = [PackEntry(BlobType.DATA, bytes([i]) * 32, 37 + 100 * i, 100, 250) for i in range(7)]
    pending = [
        PackEntry(BlobType.TREE, bytes([200 + i]) * 32, 37 + 90 * i, 90, 400) for i in range(3)
    ]
    cache.add_file("index/" + "ab" * 32, [("cd" * 32, indexed)])
    cache.add_pending("ef" * 32, pending)
    wanted = [e.blob_id for e in indexed + pending] + [b"\x99" * 32, indexed[2].blob_id]

    found = cache.locate_many(wanted)

    assert found == {b: loc for b in wanted if (loc := cache.locate(b)) is not None}
    assert len(found) == 10 and b"\x99" * 32 not in found
    assert found[pending[1].blob_id] == BlobLocation("ef" * 32, pending[1])
    assert found[indexed[4].blob_id] == BlobLocation("cd" * 32, indexed[4])


@pytest.mark.parametrize("stored", [0, 1, 40, 499, 500, 1200])
def test_which_blobs_are_known_whether_most_few_all_or_none_are_stored(
    tmp_path: Path, stored: int
) -> None:
    # 1,200 ids asked (three queries of up to 500): the first `stored` indexed, one of them
    # pending instead, the others unknown; each query's branch depends on its share found.
    ids = [i.to_bytes(32, "big") for i in range(1, 1201)]
    cache = IndexCache(tmp_path / "index.sqlite")
    entries = [PackEntry(BlobType.DATA, b, 37 + 100 * n, 100, 250) for n, b in enumerate(ids)]
    if stored:
        cache.add_file("index/" + "ab" * 32, [("cd" * 32, entries[: stored - 1])])
        cache.add_pending("ef" * 32, entries[stored - 1 : stored])

    assert cache.known(ids) == set(ids[:stored])
    assert cache.known(list(reversed(ids))) == set(ids[:stored])


class _Interrupted(Exception):
    """Stands for a reboot in the middle of the night's share."""


def test_an_interrupted_share_resumes_and_only_a_complete_one_moves_the_cursor(
    repo: Repository, tmp_path: Path
) -> None:
    sources = [str(make_tree(tmp_path / f"src{seed}", seed)) for seed in (1, 2, 3)]
    run_backup(repo, BackupOptions(paths=tuple(sources)))
    cursor = tmp_path / "cache" / "check-cursor"
    journal = tmp_path / "cache" / "check-journal"

    def stop_after_the_first_pack(event: Event) -> None:
        if isinstance(event, Progress) and event.files >= 1:
            raise _Interrupted

    with pytest.raises(_Interrupted):
        check_repository(
            repo, share=0.5, cursor=cursor, journal=journal, sink=stop_after_the_first_pack
        )
    assert not cursor.exists()
    verified = set(journal.read_text().split())
    assert verified

    resumed = check_repository(repo, share=0.5, cursor=cursor, journal=journal)

    assert resumed.ok and resumed.packs_skipped == len(verified)
    assert resumed.packs_read >= 1 and not journal.exists()
    first_half_end = cursor.read_text().strip()
    following = check_repository(repo, share=0.5, cursor=cursor, journal=journal)
    assert following.ok and following.packs_read >= 1
    assert cursor.read_text().strip() != first_half_end
