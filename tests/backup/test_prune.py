"""forget and prune reclaim space safely; leases let backups run together and block prune."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from egide.backup.archiver import BackupOptions, run_backup
from egide.backup.checker import check_repository
from egide.backup.errors import RepositoryLocked
from egide.backup.lock import Lease, read_leases
from egide.backup.pruner import forget_snapshots, prune_repository
from egide.backup.repository import Repository
from egide.backup.restorer import restore_snapshot
from egide.backup.retention import RetentionPolicy, apply_policy
from egide.backup.snapshot import Snapshot, list_snapshots

from .corpus import digest_tree, make_tree


def _size(repo: Repository) -> int:
    return sum(info.size for info in repo.storage.list("data/"))


def test_it_reclaims_the_space_of_forgotten_snapshots_and_keeps_the_rest(
    repo: Repository, tmp_path: Path
) -> None:
    source = make_tree(tmp_path / "src")
    run_backup(repo, BackupOptions(paths=(str(source),)))
    for scan in (source / "scans").iterdir():
        scan.write_bytes(scan.read_bytes()[::-1])
    run_backup(repo, BackupOptions(paths=(str(source),)))
    before = _size(repo)

    _kept, removed = forget_snapshots(repo, RetentionPolicy(last=1))
    result = prune_repository(repo)

    assert len(removed) == 1
    assert result.packs_deleted + result.packs_repacked > 0
    assert _size(repo) < before
    assert check_repository(repo, read_data=True).ok
    restore_snapshot(repo, list_snapshots(repo)[-1], tmp_path / "out")
    assert digest_tree(tmp_path / "out" / str(source).lstrip("/")) == digest_tree(source)


def test_two_backups_run_at_once_and_both_snapshots_are_complete(
    repo: Repository, tmp_path: Path
) -> None:
    first, second = make_tree(tmp_path / "a", seed=1), make_tree(tmp_path / "b", seed=2)
    errors: list[BaseException] = []

    def back_up(path: Path) -> None:
        try:
            run_backup(repo, BackupOptions(paths=(str(path),)))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=back_up, args=(p,)) for p in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(list_snapshots(repo)) == 2
    assert check_repository(repo, read_data=True).ok


def test_prune_waits_for_a_live_backup_lease_but_not_for_an_expired_one(
    repo: Repository,
) -> None:
    with Lease(repo.storage, exclusive=False), pytest.raises(RepositoryLocked):
        prune_repository(repo)
    crashed = Lease(repo.storage, exclusive=False, lease_seconds=0.05)
    crashed._write()  # a client that died right after taking its lease
    time.sleep(0.1)

    prune_repository(repo)

    assert read_leases(repo.storage) == []


def test_the_retention_policy_keeps_the_newest_of_each_period() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    snapshots = [
        Snapshot(
            (start + timedelta(hours=6 * i)).isoformat(), "pc", ["/d"], [], snapshot_id=f"{i:064x}"
        )
        for i in range(40)
    ]

    kept, removed = apply_policy(snapshots, RetentionPolicy(last=2, daily=3, monthly=2))

    assert len(kept) + len(removed) == 40
    days = {s.moment.date() for s in kept}
    assert len(days) == 3  # the last two are on the last day
    assert snapshots[-1] in kept and snapshots[0] not in kept
