"""Snapshots: what one backup run saw (format version 1), written last.

Sealed as `Kind.SNAPSHOT` and stored as `snapshots/<hash>`; the plaintext is JSON:

    {"version": 1, "time": "<ISO 8601 UTC>", "host": "...", "user": "...", "tags": [...],
     "paths": ["/abs/path", ...], "parent": "<snapshot id or empty>",
     "tree": ["<64 hex TREE blob id>", ...], "stats": {"files": …, "bytes": …, …},
     "suspect": true, "suspect_reasons": ["…"]}

`suspect` and `suspect_reasons` (the ransomware alarm's verdict, `alarm.py`) are optional: a
snapshot written before the alarm existed reads as not suspect.

A snapshot is stored only after every pack and index file it depends on is durable, so any
snapshot present is complete. Its id is its object hash; people use the first 8 hex digits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime

from . import sealed
from .errors import ObjectMissing, RepositoryCorrupted, SnapshotNotFound, UnsupportedFormat
from .repository import Repository
from .tree import Node, decode_stream

PREFIX = "snapshots/"
VERSION = 1


@dataclass
class Snapshot:
    """A snapshot's description; `snapshot_id` is empty until it is stored."""

    time: str
    host: str
    paths: list[str]
    tree: list[str]
    tags: list[str] = field(default_factory=list)
    user: str = ""
    parent: str = ""
    stats: dict[str, float] = field(default_factory=dict)
    suspect: bool = False
    suspect_reasons: list[str] = field(default_factory=list)
    snapshot_id: str = ""

    @property
    def short_id(self) -> str:
        """The 8 hex digits shown to people."""
        return self.snapshot_id[:8]

    @property
    def moment(self) -> datetime:
        """`time` as an aware datetime."""
        return datetime.fromisoformat(self.time)


def save_snapshot(repo: Repository, snapshot: Snapshot) -> str:
    """Store the snapshot; returns its id."""
    document = {"version": VERSION, **asdict(snapshot)}
    del document["snapshot_id"]
    if not snapshot.suspect:
        # Not written when false, so that an unflagged snapshot stays byte-compatible with readers
        # that predate the alarm.
        del document["suspect"], document["suspect_reasons"]
    data = sealed.seal_object(repo.master, sealed.Kind.SNAPSHOT, json.dumps(document).encode())
    snapshot.snapshot_id = sealed.object_name(data)
    repo.storage.put(PREFIX + snapshot.snapshot_id, data)
    return snapshot.snapshot_id


def load_snapshot(repo: Repository, snapshot_id: str) -> Snapshot:
    """Read and authenticate one snapshot."""
    name = PREFIX + snapshot_id
    raw = repo.storage.get(name)
    if sealed.object_name(raw) != snapshot_id:
        raise RepositoryCorrupted(f"{name}: bytes do not match the name", name)
    document = json.loads(sealed.open_object(repo.master, sealed.Kind.SNAPSHOT, raw, name))
    if document.pop("version", None) != VERSION:
        raise UnsupportedFormat(f"{name}: snapshot version is unknown")
    try:
        return Snapshot(**document, snapshot_id=snapshot_id)
    except TypeError:
        raise RepositoryCorrupted(f"{name}: malformed snapshot", name) from None


def list_snapshots(repo: Repository) -> list[Snapshot]:
    """Every snapshot, oldest first."""
    found = []
    for info in repo.storage.list(PREFIX):
        try:
            found.append(load_snapshot(repo, info.name[len(PREFIX) :]))
        except ObjectMissing:
            continue  # forgotten since the listing
    return sorted(found, key=lambda s: (s.time, s.snapshot_id))


def find_snapshot(repo: Repository, reference: str, host: str | None = None) -> Snapshot:
    """`latest`, a full id or a unique prefix of at least 4 hex digits."""
    if reference == "latest":
        candidates = [s for s in list_snapshots(repo) if host is None or s.host == host]
        if not candidates:
            raise SnapshotNotFound("le dépôt ne contient aucun instantané")
        return candidates[-1]
    names = [
        info.name[len(PREFIX) :]
        for info in repo.storage.list(PREFIX)
        if info.name[len(PREFIX) :].startswith(reference.lower())
    ]
    if len(reference) < 4 or len(names) != 1:
        raise SnapshotNotFound(f"aucun instantané unique ne correspond à « {reference} »")
    return load_snapshot(repo, names[0])


def read_tree(repo: Repository, snapshot: Snapshot) -> Iterator[Node]:
    """The snapshot's nodes in walk order, each tree blob verified."""
    return decode_stream(repo.read_blob(bytes.fromhex(blob)) for blob in snapshot.tree)
