"""The tree of a snapshot: one JSON document per line, in walk order (format version 1).

Each line is a node:

    {"path": "home/cabinet/db/patients.sqlite",   (absolute, without the leading "/")
     "type": "file" | "dir" | "symlink" | "fifo" | "char" | "block" | "socket",
     "mode": 420, "uid": 1000, "gid": 1000, "user": "cabinet", "group": "cabinet",
     "mtime_ns": …, "atime_ns": …, "ctime_ns": …, "size": 123, "inode": …, "dev": …,
     "target": "…" (symlinks), "chunks": ["<64 hex>", …] (files),
     "xattrs": {"user.x": "<base64>"} (when present), "error": "…" (when unreadable),
     "dense": true (files whose first 4 KiB do not compress; see `alarm.py`; absent when false)}

Walk order: depth first, children sorted by name; `order_key` gives the same order, so a tree
can be merged with its parent's in one streaming pass. The stream is cut with the small FastCDC
policy and stored as TREE blobs, so an unchanged part of the tree is stored once for all
snapshots. Names that are not valid UTF-8 survive through Python's surrogate escapes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import RepositoryCorrupted


@dataclass
class Node:
    """One entry of a snapshot's tree."""

    path: str
    type: str
    mode: int = 0
    uid: int = 0
    gid: int = 0
    user: str = ""
    group: str = ""
    mtime_ns: int = 0
    atime_ns: int = 0
    ctime_ns: int = 0
    size: int = 0
    inode: int = 0
    dev: int = 0
    target: str = ""
    chunks: list[str] = field(default_factory=list)
    xattrs: dict[str, str] = field(default_factory=dict)
    error: str = ""
    dense: bool = False

    def key(self) -> tuple[str, ...]:
        """Position in walk order."""
        return order_key(self.path)

    def encode(self) -> bytes:
        """One line of the tree stream (defaults omitted)."""
        # vars(), not asdict(): no deep copy of the chunk list for every node.
        document = {k: v for k, v in vars(self).items() if v or k in ("path", "type")}
        return _ENCODER.encode(document).encode() + b"\n"


# One encoder for every node: `json.dumps` with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def order_key(path: str) -> tuple[str, ...]:
    """Sort key that matches a depth-first walk with sorted children."""
    return tuple(path.split("/"))


_FIELDS = set(Node.__dataclass_fields__)


def decode_node(line: bytes) -> Node:
    """A node from one line of the tree stream."""
    try:
        document: Any = json.loads(line)
        if not isinstance(document, dict) or not _FIELDS.issuperset(document):
            raise ValueError("unknown fields")
        node = Node(**document)
        if not isinstance(node.path, str) or not isinstance(node.chunks, list):
            raise ValueError("bad field types")
        return node
    except (ValueError, TypeError) as error:
        raise RepositoryCorrupted(f"tree line is malformed: {error}") from None


def decode_stream(pieces: Iterable[bytes]) -> Iterator[Node]:
    """Nodes from the tree stream given piece by piece (lines may span pieces).

    A piece is searched for its last line end once: a long line (a large file's chunk list
    spans dozens of pieces) is gathered and joined once, never rescanned or copied per piece.
    """
    carry: list[bytes] = []
    for piece in pieces:
        end = piece.rfind(b"\n")
        if end < 0:
            carry.append(piece)
            continue
        head = piece[:end]
        if carry:
            head = b"".join((*carry, head))
        carry = [piece[end + 1 :]]
        yield from _decode_lines(head.split(b"\n"))
    rest = b"".join(carry)
    if rest.strip():
        yield decode_node(rest)


def _decode_lines(lines: list[bytes]) -> list[Node]:
    """The nodes of complete lines: one `json.loads` for all of them (a call per line costs more
    than decoding a short line), line by line only to name a malformed one."""
    lines = [line for line in lines if line]
    try:
        documents = json.loads(b"[" + b",".join(lines) + b"]")
    except ValueError:
        documents = None
    if not isinstance(documents, list) or len(documents) != len(lines):
        return [decode_node(line) for line in lines]  # raises on the first malformed line
    nodes = []
    for document, line in zip(documents, lines, strict=True):
        if not isinstance(document, dict) or not _FIELDS.issuperset(document):
            decode_node(line)  # raises, naming what is wrong
        try:
            node = Node(**document)
        except TypeError:
            node = decode_node(line)
        if not isinstance(node.path, str) or not isinstance(node.chunks, list):
            decode_node(line)
        nodes.append(node)
    return nodes


class MergeCursor:
    """Walks a sorted node stream alongside another: `find(key)` returns the matching node.

    `skipped`, when given, sees every node that no `find` returned: passed over, or left at the
    end (`finish`) — the entries that are gone since.
    """

    def __init__(
        self, nodes: Iterator[Node], skipped: Callable[[Node], None] | None = None
    ) -> None:
        self._nodes = nodes
        self._skipped = skipped
        self._current: Node | None = None
        self._key: tuple[str, ...] = ()  # the current node's (computed once, compared often)
        self._matched = False
        self._next()

    def _next(self) -> None:
        self._current = next(self._nodes, None)
        self._key = () if self._current is None else self._current.key()

    def _advance(self) -> None:
        if self._skipped is not None and not self._matched and self._current is not None:
            self._skipped(self._current)
        self._next()
        self._matched = False

    def find(self, key: tuple[str, ...]) -> Node | None:
        """The node at `key`, skipping those before it; keys must be asked in increasing order."""
        while self._current is not None and self._key < key:
            self._advance()
        if self._current is not None and self._key == key:
            self._matched = True
            return self._current
        return None

    def finish(self) -> None:
        """Pass over the rest of the stream (what `skipped` must still see)."""
        while self._current is not None:
            self._advance()
