"""A backed-up tree whose first pack is gone: what a storage loss leaves."""

from __future__ import annotations

from pathlib import Path

from egide.backup.archiver import BackupOptions, run_backup
from egide.backup.pack import pack_name
from egide.backup.repository import Repository
from egide.backup.snapshot import Snapshot, read_tree
from egide.backup.tree import Node

from .corpus import make_tree


def back_up_and_lose_a_pack(repo: Repository, tmp_path: Path) -> tuple[Path, Snapshot, Node, str]:
    """Back up a small tree, then delete the pack holding its first letter that shares no pack
    with a piece of the tree (a snapshot whose tree is lost names no file).

    Returns the source, the snapshot, the letter's node and the lost pack's id.
    """
    source = make_tree(tmp_path / "src")
    snapshot = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot
    tree_packs = set()
    for blob in snapshot.tree:
        found = repo.index.locate(bytes.fromhex(blob))
        assert found is not None
        tree_packs.add(found.pack_id)
    for letter in read_tree(repo, snapshot):
        if "/lettre-" not in letter.path:
            continue
        location = repo.index.locate(bytes.fromhex(letter.chunks[0]))
        assert location is not None
        if location.pack_id not in tree_packs:
            break
    else:
        raise AssertionError("every letter shares a pack with the tree")
    repo.storage.delete(pack_name(location.pack_id))
    return source, snapshot, letter, location.pack_id
