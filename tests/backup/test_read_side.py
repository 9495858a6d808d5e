"""Restore in batches of pack-ordered reads, and the nightly rotating share of check --read-data."""

from __future__ import annotations

from pathlib import Path

import pytest

from egide.backup import restorer
from egide.backup.archiver import BackupOptions, run_backup
from egide.backup.checker import check_repository, in_share
from egide.backup.pack import pack_name
from egide.backup.repository import Repository
from egide.backup.restorer import restore_snapshot
from egide.backup.snapshot import read_tree

from .corpus import digest_tree, make_tree


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


def test_a_missing_pack_fails_only_the_files_it_holds(repo: Repository, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    snapshot = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot
    # The first letter is stored first, far from the tree blobs (stored last).
    letter = next(n for n in read_tree(repo, snapshot) if n.path.endswith("lettre-0.txt"))
    location = repo.index.locate(bytes.fromhex(letter.chunks[0]))
    assert location is not None
    repo.storage.delete(pack_name(location.pack_id))
    in_lost_pack = {
        node.path
        for node in read_tree(repo, snapshot)
        if any(
            (found := repo.index.locate(bytes.fromhex(chunk))) is not None
            and found.pack_id == location.pack_id
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
