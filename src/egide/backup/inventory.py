"""Read-only views of a repository: differences between snapshots, and storage statistics."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .repository import Repository
from .snapshot import Snapshot, list_snapshots, read_tree
from .tree import Node


@dataclass(frozen=True)
class Change:
    """One difference: "+" added, "-" removed, "M" content changed, "U" metadata only."""

    kind: str
    path: str


def _content(node: Node) -> tuple[object, ...]:
    return (node.type, node.size, tuple(node.chunks), node.target)


def _metadata(node: Node) -> tuple[object, ...]:
    return (node.mode, node.uid, node.gid, node.mtime_ns, tuple(sorted(node.xattrs.items())))


def diff_snapshots(repo: Repository, old: Snapshot, new: Snapshot) -> Iterator[Change]:
    """Changes from `old` to `new`, in walk order (a streaming merge of both trees)."""
    left, right = read_tree(repo, old), read_tree(repo, new)
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a.key() < b.key()):
            assert a is not None
            yield Change("-", "/" + a.path)
            a = next(left, None)
        elif a is None or b.key() < a.key():
            yield Change("+", "/" + b.path)
            b = next(right, None)
        else:
            if _content(a) != _content(b):
                yield Change("M", "/" + b.path)
            elif _metadata(a) != _metadata(b):
                yield Change("U", "/" + b.path)
            a, b = next(left, None), next(right, None)


@dataclass(frozen=True)
class RepositoryStats:
    """Sizes: what the snapshots hold, what is stored after dedup, compression and encryption."""

    snapshots: int
    packs: int
    blobs: int
    stored_bytes: int
    raw_bytes: int
    latest_files: int
    latest_bytes: int


def repository_stats(repo: Repository) -> RepositoryStats:
    """Counts and sizes of the whole repository."""
    repo.sync_index()
    snapshots = list_snapshots(repo)
    stored = packs = 0
    for info in repo.storage.list("data/"):
        stored += info.size
        packs += 1
    for prefix in ("index/", "snapshots/", "keys/"):
        stored += sum(info.size for info in repo.storage.list(prefix))
    raw = repo.index.raw_bytes()
    latest = snapshots[-1].stats if snapshots else {}
    return RepositoryStats(
        len(snapshots),
        packs,
        repo.index.blob_count(),
        stored,
        raw,
        int(latest.get("files", 0)),
        int(latest.get("bytes", 0)),
    )
