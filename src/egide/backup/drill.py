"""Restore drills: the proof that backups restore.

A drill picks a random sample of the files of a snapshot (reservoir sampling over the tree, so
memory stays bounded whatever the tree's size), restores them with the ordinary restore path into
a fresh temporary directory, then re-reads every restored file and compares it byte for byte with
the snapshot's chunks, read again from the repository (each chunk authenticated on the way).
The temporary directory is removed whatever happens. A file that cannot be restored, differs in
one byte or in size is a failure; the drill's result counts them and names them (for the agent's
log only: the console receives counts, never file names).
"""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .errors import BackupError
from .repository import Repository
from .restorer import restore_snapshot
from .snapshot import Snapshot, read_tree
from .tree import Node

DEFAULT_SAMPLE = 25


@dataclass(frozen=True)
class DrillResult:
    """What a drill checked, and what failed (paths of failures, for the local log)."""

    performed_at: str
    snapshot_id: str
    files_checked: int
    bytes_checked: int
    failures: int
    failed_paths: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """A drill passes when at least one file was checked and none failed."""
        return self.files_checked > 0 and self.failures == 0


def sample_files(
    repo: Repository, snapshot: Snapshot, count: int, rng: random.Random
) -> list[Node]:
    """Up to `count` readable regular files of the snapshot, chosen uniformly at random."""
    chosen: list[Node] = []
    seen = 0
    for node in read_tree(repo, snapshot):
        if node.type != "file" or node.error:
            continue
        seen += 1
        if len(chosen) < count:
            chosen.append(node)
        else:
            slot = rng.randrange(seen)
            if slot < count:
                chosen[slot] = node
    return chosen


def _same_bytes(repo: Repository, node: Node, path: Path) -> bool:
    try:
        with path.open("rb") as restored:
            for chunk in node.chunks:
                expected = repo.read_blob(bytes.fromhex(chunk))
                if restored.read(len(expected)) != expected:
                    return False
            return restored.read(1) == b"" and path.stat().st_size == node.size
    except (OSError, BackupError):
        return False


def run_drill(
    repo: Repository,
    snapshot: Snapshot,
    sample: int = DEFAULT_SAMPLE,
    rng: random.Random | None = None,
    workdir: Path | None = None,
) -> DrillResult:
    """Restore `sample` random files of `snapshot` into a temporary directory and verify them."""
    picker = rng or random.SystemRandom()
    try:
        nodes = sample_files(repo, snapshot, sample, picker)
    except BackupError as error:
        # The tree itself does not read back: nothing can be restored, the drill fails.
        return DrillResult(datetime.now(UTC).isoformat(), snapshot.snapshot_id, 0, 0, 1,
                           (f"arborescence illisible : {error}",))  # fmt: skip
    target = Path(tempfile.mkdtemp(prefix="egide-drill-", dir=workdir))
    failed: list[str] = []
    checked = 0
    try:
        if nodes:
            # A failed restore is not raised: each file then fails the comparison, which names it.
            with contextlib.suppress(BackupError):
                restore_snapshot(repo, snapshot, target, ["/" + node.path for node in nodes])
        for node in nodes:
            if _same_bytes(repo, node, target / node.path):
                checked += node.size
            else:
                failed.append("/" + node.path)
    finally:
        shutil.rmtree(target, ignore_errors=True)
    return DrillResult(
        performed_at=datetime.now(UTC).isoformat(),
        snapshot_id=snapshot.snapshot_id,
        files_checked=len(nodes),
        bytes_checked=checked,
        failures=len(failed),
        failed_paths=tuple(failed),
    )
