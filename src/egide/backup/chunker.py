"""Cutting file contents into chunks: content-defined, with database-aware small chunks.

Three policies, chosen per file from its name and first bytes:

* SQLite databases (magic "SQLite format 3\\0") are cut in fixed blocks of `db_block` bytes (or the
  page size if larger), aligned on pages: a page rewritten in place changes exactly one block, and
  fixed sizes reveal nothing about the content.
* Other databases and dumps (by extension) use FastCDC with a small average (`small_avg`): inserts
  shift the content, and small chunks keep the changed region small.
* Everything else uses FastCDC with a large average (`large_avg`): fewer chunks, a smaller index.

FastCDC comes from `pyfastcdc` (Cython; it releases the GIL while scanning). Its gear table is
XOR-ed with a 63-bit per-repository secret seed derived from the master key, so cut points — and
the chunk sizes visible in stored objects — cannot be predicted from known file contents.

Two ways in, with the same cut points: `chunks` over a stream (tree streams), and `cut` over a
buffer the caller fills (the archiver reads files into a few reused buffers, several small files
per buffer, and hands out views: no copy and no fresh memory per file). A cut point depends only
on the bytes from the chunk's start up to it, so a chunk that ends before the data available is
final; one that reaches the end of the data is final only at the end of the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from typing import BinaryIO

from pyfastcdc import FastCDC

from .repository import ChunkerSettings

SQLITE_MAGIC = b"SQLite format 3\x00"
DATABASE_SUFFIXES = frozenset(
    {
        ".db", ".sqlite", ".sqlite3", ".db3", ".sql", ".dump", ".pgdump", ".bak", ".mdb",
        ".accdb", ".fdb", ".gdb", ".ib", ".ibd", ".mdf", ".ndf", ".ldf", ".dbf", ".4dd",
        ".4dindx", ".hfsql", ".ndx", ".fic", ".mmb",
    }
)  # fmt: skip
HEAD_SIZE = 100


class Policy(Enum):
    """How a file is cut."""

    LARGE = "large"
    SMALL = "small"
    PAGES = "pages"


def choose_policy(name: str, head: bytes) -> Policy:
    """The policy for a file, from its name and its first `HEAD_SIZE` bytes."""
    if head.startswith(SQLITE_MAGIC):
        return Policy.PAGES
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    return Policy.SMALL if suffix in DATABASE_SUFFIXES else Policy.LARGE


def sqlite_page_size(head: bytes) -> int:
    """Page size from an SQLite header (1 means 65536); 4096 when unreadable."""
    if len(head) < 18:
        return 4096
    value = int.from_bytes(head[16:18], "big")
    return 65536 if value == 1 else (value if value >= 512 else 4096)


class Chunker:
    """Yields chunks of a stream; each view is valid only until the next one is requested."""

    def __init__(self, settings: ChunkerSettings, seed: int) -> None:
        self.settings = settings
        self._large = FastCDC(
            settings.large_avg,
            min_size=settings.large_avg // 4,
            max_size=settings.large_avg * 4,
            seed=seed,
        )
        self._small = FastCDC(
            settings.small_avg,
            min_size=settings.small_avg // 4,
            max_size=settings.small_avg * 4,
            seed=seed,
        )

    @property
    def max_chunk(self) -> int:
        """The largest chunk any policy yields."""
        return max(self.settings.large_avg * 4, 65536, self.settings.db_block)

    def block_size(self, policy: Policy, head: bytes) -> int:
        """The fixed block size of `Policy.PAGES` for a file starting with `head`; 0 otherwise."""
        if policy is not Policy.PAGES:
            return 0
        return max(self.settings.db_block, sqlite_page_size(head))

    def plan(self, name: str, start: memoryview) -> tuple[Policy, int]:
        """The policy and block size (`block_size`) of the file `name` whose data begins
        with `start`."""
        head = bytes(start[:HEAD_SIZE])
        policy = choose_policy(name, head)
        return policy, self.block_size(policy, head)

    def cut(self, data: memoryview, policy: Policy, block: int, final: bool) -> list[memoryview]:
        """The complete chunks at the start of `data` (all of it when `final`: the file ends).

        The bytes after the last chunk returned must be offered again, followed by what comes
        next in the file. `block` is `block_size(policy, head)` for `Policy.PAGES`.
        """
        size = len(data)
        if policy is Policy.PAGES:
            end = size if final else size - size % block
            return [data[start : min(start + block, end)] for start in range(0, end, block)]
        cdc = self._small if policy is Policy.SMALL else self._large
        found = []
        for chunk in cdc.cut_buf(data):
            if not final and chunk.offset + chunk.length >= size:
                break  # reaches the end of what was read: the cut point may lie further
            found.append(chunk.data)
        return found

    def chunks(self, stream: BinaryIO, policy: Policy, head: bytes = b"") -> Iterator[memoryview]:
        """Cut `stream` according to `policy`."""
        if policy is Policy.PAGES:
            yield from _blocks(stream, max(self.settings.db_block, sqlite_page_size(head)))
            return
        cdc = self._small if policy is Policy.SMALL else self._large
        for chunk in cdc.cut_stream(stream):
            yield chunk.data


def _blocks(stream: BinaryIO, size: int) -> Iterator[memoryview]:
    # Read several blocks per system call, hand them out one by one.
    batch = bytearray(size * 64)
    view = memoryview(batch)
    while True:
        filled = stream.readinto(view)  # type: ignore[attr-defined]
        if not filled:
            return
        for start in range(0, filled, size):
            yield view[start : min(start + size, filled)]
