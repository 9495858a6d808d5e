"""Reading files into batches of chunks: a few reused buffers, several small files per buffer.

The archiver's main thread reads each changed file once, straight into the free end of the open
buffer (`readinto`: no bytes object per read, no fresh pages), cuts the complete chunks there
(`Chunker.cut`) and moves on. A full buffer becomes a `Batch` of chunk views handed to a worker;
the buffer comes back to the pool when the worker is done, so the bytes in flight never exceed
`count × size`. A file larger than what is left of a buffer continues in the next one: only the
incomplete chunk at the end (at most one maximal chunk) is copied over. A small file that does not
fit in what is left starts a fresh buffer instead, so it is never split.

Files of a few hundred KiB and more that fit in one buffer (scans, PDFs, photos) are not read
there but by a worker, whole (`read_whole`, ADR 0033): it reads, cuts and stores the file in one
buffer of the same pool, so two such files are read and cut at once while the main thread walks
on. Their tree nodes are still written in walk order.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from .chunker import Chunker, Policy


class BufferPool:
    """`count` buffers of `size` bytes, created on first use and reused; `take` waits for one."""

    def __init__(self, size: int, count: int) -> None:
        self.size = size
        self._free: list[bytearray] = []
        self._left = count
        self._cond = threading.Condition()

    def take(self) -> bytearray:
        """A buffer, once one is free (the back-pressure that bounds memory)."""
        with self._cond:
            while not self._free and not self._left:
                self._cond.wait()
            if self._free:
                return self._free.pop()
            self._left -= 1
        return bytearray(self.size)

    def give(self, buffer: bytearray) -> None:
        """Return a buffer whose chunks are all stored."""
        with self._cond:
            self._free.append(buffer)
            self._cond.notify()


@dataclass(eq=False)
class Batch:
    """Chunks cut in one buffer; `future` yields their ids, in order, once stored."""

    buffer: bytearray
    used: int = 0
    chunks: list[memoryview] = field(default_factory=list)
    future: Future[list[bytes]] | None = None


@dataclass
class FileRead:
    """What reading one file gave: where its chunks are, its size, its first bytes."""

    segments: list[tuple[Batch, int, int]]
    size: int
    sample: bytes


class BatchReader:
    """Fills batches from files (main thread only); `submit` hands a full batch to a worker."""

    def __init__(
        self,
        chunker: Chunker,
        pool: BufferPool,
        submit: Callable[[Batch], Future[list[bytes]]],
        sample_size: int,
    ) -> None:
        self.chunker = chunker
        self.pool = pool
        self._submit = submit
        self._sample_size = sample_size
        self._batch: Batch | None = None

    def flush(self) -> None:
        """Hand over the open batch, if it holds anything."""
        batch, self._batch = self._batch, None
        if batch is None:
            return
        if batch.chunks or batch.used:
            batch.future = self._submit(batch)
        else:
            self.pool.give(batch.buffer)

    def ensure_submitted(self, batch: Batch) -> None:
        """Make sure `batch` is on its way (before waiting for its ids)."""
        if batch.future is None and batch is self._batch:
            self.flush()

    def _open(self, expected: int) -> Batch:
        batch = self._batch
        left = 0 if batch is None else len(batch.buffer) - batch.used
        if batch is not None and batch.used and left <= expected < len(batch.buffer):
            self.flush()  # a small file that does not fit: start a fresh buffer
            batch = None
        if batch is None:
            batch = self._batch = Batch(self.pool.take())
        return batch

    def read(self, fd: int, name: str, expected: int) -> FileRead:
        """Read the open file `fd` to its end and cut it; `expected` is its size from stat."""
        batch = self._open(expected)
        segments: list[tuple[Batch, int, int]] = []
        start = batch.used  # where the not yet cut bytes of this file begin in the buffer
        total = 0
        policy: Policy | None = None
        block = 0
        sample = b""
        while True:
            buffer = batch.buffer
            with memoryview(buffer) as view:
                count = os.readv(fd, [view[batch.used :]]) if batch.used < len(buffer) else 0
            batch.used += count
            total += count
            eof = count == 0 and batch.used < len(buffer)
            if not eof and batch.used < len(buffer):
                continue  # room left: read more before cutting
            with memoryview(buffer) as view:
                data = view[start : batch.used]
                if policy is None:
                    policy, block = self.chunker.plan(name, data)
                    sample = bytes(data[: self._sample_size])
                chunks = self.chunker.cut(data, policy, block, final=eof)
                if chunks:
                    segments.append((batch, len(batch.chunks), len(chunks)))
                    batch.chunks.extend(chunks)
                    start += sum(len(chunk) for chunk in chunks)
                if eof:
                    return FileRead(segments, total, sample)
            # The buffer is full: the incomplete last chunk moves to a fresh buffer (taken
            # before this one is handed over, so the two are distinct), this one goes to work.
            fresh = Batch(self.pool.take())
            with memoryview(buffer) as view:
                fresh.used = batch.used - start
                fresh.buffer[: fresh.used] = view[start : batch.used]
            self.flush()
            batch = self._batch = fresh
            start = 0


def read_whole(
    fd: int,
    name: str,
    buffer: bytearray,
    chunker: Chunker,
    sample_size: int,
    store: Callable[[Sequence[memoryview]], list[bytes]],
) -> tuple[list[bytes], int, bytes]:
    """Read the open file `fd` to its end in `buffer`, cut it and `store` its chunks (a worker's
    whole job for one file); returns the chunk ids in order, the size read and the first bytes.

    A file that does not fit (it grew since its `stat`) is stored a buffer at a time: the
    complete chunks of a full buffer are stored, the incomplete last one moves to its start."""
    ids: list[bytes] = []
    used = total = block = 0
    policy: Policy | None = None
    sample = b""
    size = len(buffer)
    with memoryview(buffer) as view:
        while True:
            count = os.readv(fd, [view[used:]]) if used < size else 0
            used += count
            total += count
            eof = count == 0 and used < size
            if not eof and used < size:
                continue  # room left: read more before cutting
            data = view[:used]
            if policy is None:
                policy, block = chunker.plan(name, data)
                sample = bytes(data[:sample_size])
            chunks = chunker.cut(data, policy, block, final=eof)
            ids += store(chunks)
            if eof:
                return ids, total, sample
            done = sum(len(chunk) for chunk in chunks)
            del chunks, data
            view[: used - done] = view[done:used]  # memoryview assignment: an overlap-safe move
            used -= done
