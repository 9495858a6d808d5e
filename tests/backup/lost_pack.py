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
    """Back up a small tree, then delete the pack holding its first letter.

    Returns the source, the snapshot, the letter's node and the lost pack's id.
    """
    source = make_tree(tmp_path / "src")
    snapshot = run_backup(repo, BackupOptions(paths=(str(source),))).snapshot
    # The first letter is stored first, far from the tree blobs (stored last).
    letter = next(n for n in read_tree(repo, snapshot) if n.path.endswith("lettre-0.txt"))
    location = repo.index.locate(bytes.fromhex(letter.chunks[0]))
    assert location is not None
    repo.storage.delete(pack_name(location.pack_id))
    return source, snapshot, letter, location.pack_id
