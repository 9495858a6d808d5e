"""The walk begun ahead, while the repository is unlocked (ADR 0040)."""

from __future__ import annotations

from pathlib import Path

import pytest

from egide.backup import walker
from egide.backup.archiver import BackupOptions, run_backup, walk_ahead
from egide.backup.repository import Repository
from egide.backup.snapshot import read_tree
from egide.backup.tree import Node
from egide.backup.walker import WalkAhead, node_for, walk

from .corpus import make_tree


def test_walking_ahead_gives_the_entries_of_the_plain_walk_in_order(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    plain = list(walk([str(source)]))

    # A limit below the number of entries: the rest is walked on the caller's thread.
    with WalkAhead([str(source)], limit=3) as ahead:
        ahead._thread.join(10)  # it stops by itself at the limit
        found = list(ahead.entries())

    assert [e.path for e, _ in found] == [e.path for e in plain]
    made = [(entry, node) for entry, node in found if node is not None]
    assert len(made) == 3
    for entry, node in made:
        assert entry.stat is not None
        assert node == node_for(entry.path, entry.stat)
    assert all(node is None for _, node in found[3:])


def test_an_error_met_ahead_is_raised_where_the_entries_are_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_tree(tmp_path / "src")

    def broken(path: str, info: object) -> Node:
        raise RuntimeError("cassé")

    monkeypatch.setattr(walker, "node_for", broken)
    with WalkAhead([str(source)]) as ahead, pytest.raises(RuntimeError, match="cassé"):
        list(ahead.entries())


def test_leaving_the_context_stops_the_walk_ahead(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    with WalkAhead([str(source)], limit=1_000_000) as ahead:
        pass
    assert not ahead._thread.is_alive()


def test_a_backup_walked_ahead_stores_the_same_tree(repo: Repository, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    options = BackupOptions(paths=(str(source),))
    plain = run_backup(repo, options).snapshot
    (source / "ajout.txt").write_text("nouveau")
    options = BackupOptions(paths=(str(source),), parent=plain.snapshot_id)

    with walk_ahead(options) as ahead:
        result = run_backup(repo, options, ahead=ahead)

    nodes = {n.path: n for n in read_tree(repo, result.snapshot)}
    before = {n.path: n for n in read_tree(repo, plain)}
    added = next(p for p in nodes if p.endswith("ajout.txt"))
    assert nodes.keys() - before.keys() == {added}
    for path, node in before.items():
        if node.type == "file":
            assert nodes[path].chunks == node.chunks
    assert result.snapshot.stats["files_unchanged"] == plain.stats["files"]
