"""Reading files into shared buffers cuts exactly the chunks of the stream chunker."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

import pytest

from egide.backup.batch import Batch, BatchReader, BufferPool, read_whole
from egide.backup.chunker import HEAD_SIZE, SQLITE_MAGIC, Chunker, choose_policy
from egide.backup.repository import ChunkerSettings
from egide.backup.store import frame_for, frames_for

SETTINGS = ChunkerSettings(large_avg=16 << 10, small_avg=1 << 10, db_block=4096)


def _files(root: Path) -> list[Path]:
    rng = random.Random(7)
    files = []
    sizes = [0, 1, 99, 100, 4095, 4096, 5000, 16 << 10, 65 << 10, 200 << 10, 300 << 10]
    for number, size in enumerate(sizes * 3):
        kind = number % 3
        name = root / (f"f{number}" + (".sql" if kind == 1 else ".bin"))
        body = bytearray(rng.randbytes(size))
        if kind == 2 and size >= len(SQLITE_MAGIC):
            body[: len(SQLITE_MAGIC)] = SQLITE_MAGIC
        if kind == 1:  # compressible text with repeats, as a dump
            body = bytearray((b"INSERT INTO t VALUES (%d);\n" % number) * (size // 26 + 1))[:size]
        name.write_bytes(body)
        files.append(name)
    return files


@pytest.mark.parametrize("buffers", [1, 2, 3])
def test_buffered_reading_cuts_like_the_stream_chunker(tmp_path: Path, buffers: int) -> None:
    chunker = Chunker(SETTINGS, seed=0x5EED)
    stored: list[list[bytes]] = []
    pool = BufferPool(chunker.max_chunk * 3 // 2, buffers + 1)

    def submit(batch: Batch) -> Future[list[bytes]]:
        stored.append([bytes(chunk) for chunk in batch.chunks])
        done: Future[list[bytes]] = Future()
        done.set_result([bytes([len(stored) - 1])] * len(batch.chunks))
        batch.chunks = []
        pool.give(batch.buffer)
        return done

    reader = BatchReader(chunker, pool, submit, sample_size=64)
    reads = []
    files = _files(tmp_path)
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            reads.append(reader.read(fd, str(path), os.fstat(fd).st_size))
        finally:
            os.close(fd)
    reader.flush()
    for path, found in zip(files, reads, strict=True):
        content = path.read_bytes()
        chunks = []
        for batch, first, count in found.segments:
            assert batch.future is not None
            number = batch.future.result()[0][0]
            chunks += stored[number][first : first + count]
        with path.open("rb") as stream:
            head = content[:HEAD_SIZE]
            policy = choose_policy(str(path), head)
            expected = [bytes(view) for view in chunker.chunks(stream, policy, head)]
        assert chunks == expected, path.name
        assert b"".join(chunks) == content
        assert found.size == len(content)
        assert found.sample == content[:64]


def test_a_batch_of_chunks_gets_the_frames_of_its_chunks_one_by_one() -> None:
    rng = random.Random(3)
    text = " ".join(rng.choice(["patient", "ordonnance", "suivi", "bilan"]) for _ in range(30000))
    chunks: list[bytes | memoryview] = [
        b"court",
        text[:300].encode(),
        memoryview(text.encode())[1000 : 1000 + (16 << 10)],
        rng.randbytes(16 << 10),  # does not compress: stored
        text[5000 : 5000 + (32 << 10)].encode(),
        text[:40000].encode(),  # above 32 KiB: probed, compressed alone
        rng.randbytes(200 << 10),
        text[:4096].encode(),
    ]

    batched = [bytes(frame) for frame in frames_for(chunks)]

    assert batched == [bytes(frame_for(chunk)) for chunk in chunks]
    assert [frame[0] for frame in batched] == [0, 1, 1, 0, 1, 1, 0, 1]


@pytest.mark.parametrize("buffer_size", [96 << 10, 1 << 20])
def test_a_file_read_whole_by_a_worker_cuts_like_the_stream_chunker(
    tmp_path: Path, buffer_size: int
) -> None:
    # 96 KiB: 1.5 maximal chunks, so the larger files go through the buffer a piece at a time.
    chunker = Chunker(SETTINGS, seed=0x5EED)
    buffer = bytearray(buffer_size)
    stored: list[bytes] = []

    def store(chunks: Sequence[memoryview]) -> list[bytes]:
        stored.extend(bytes(chunk) for chunk in chunks)
        return [bytes([len(stored) % 256])] * len(chunks)

    for path in _files(tmp_path):
        stored.clear()

        fd = os.open(path, os.O_RDONLY)
        try:
            ids, size, sample = read_whole(fd, str(path), buffer, chunker, 64, store)
        finally:
            os.close(fd)
        content = path.read_bytes()
        with path.open("rb") as stream:
            head = content[:HEAD_SIZE]
            expected = [
                bytes(v) for v in chunker.chunks(stream, choose_policy(str(path), head), head)
            ]
        assert stored == expected, path.name
        assert len(ids) == len(expected)
        assert size == len(content)
        assert sample == content[:64]
