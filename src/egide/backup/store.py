"""Storing blobs during a run: deduplicate, compress, seal, fill packs, upload, index.

Shared by the worker threads of the archiver (and used by prune to repack). Hashing (BLAKE3) and
compression (zstd) release the GIL, so two workers use two cores. A worker takes an open pack
for a whole batch of chunks and gives it back after (`_checkout`, `_checkin`): sealing (AES-GCM,
which holds the GIL) and the pack's bookkeeping run under no shared lock, so one worker never
waits for the other between two chunks; the shared lock is taken a few times per batch, not per
chunk. Two workers fill two packs at once; a run ends with at most that many partial packs.
Memory stays bounded: at most `max_uploads + packers` pack buffers (the packs being filled,
packs on their way to storage, `max_uploads` at a time: a slow disk or link does not stall the
workers on one fsync).
Small chunks (database blocks, dump chunks, small files) go into group frames of about
`GROUP_BYTES` (ADR 0028): compressed and sealed once per group, each chunk still its own blob.
Blobs of uploaded packs are findable at once (the index cache's pending entries); index files are
written every `index_every` packs and at the end, before any snapshot.
"""

from __future__ import annotations

import mmap
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import cast

import zstandard

from .pack import (
    GROUP_MAX,
    BlobType,
    PackEntry,
    PackWriter,
    encode_frame_into,
    frame_length,
    pack_name,
)
from .repository import Repository
from .sealed import object_name

_SAMPLE = 16 << 10
GROUP_BYTES = 1 << 20  # plaintext of a group frame: zstd gains little beyond (ADR 0028)
# Level 3 with matches of 6 bytes at least: on the benchmark's database and dump, 1 % smaller
# than plain level 3 in the same time (ADR 0028).
GROUP_PARAMETERS = zstandard.ZstdCompressionParameters.from_level(
    3, source_size=1 << 20, min_match=6
)
GROUP_CHUNK_MAX = 256 << 10  # larger chunks are framed alone
_local = threading.local()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    # ZstdCompressor objects are not thread-safe: one per thread and level.
    key = f"zstd{level}"
    found = getattr(_local, key, None)
    if found is None:
        found = zstandard.ZstdCompressor(level=level)
        setattr(_local, key, found)
    return found


def _framed(payload: bytes | memoryview, compressed: bool) -> memoryview:
    # The thread's scratch buffer, replaced (not resized: a caller may still hold a view of the
    # last frame) when a frame does not fit.
    scratch: bytearray | None = getattr(_local, "scratch", None)
    needed = frame_length(len(payload))
    if scratch is None or len(scratch) < needed:
        scratch = _local.scratch = bytearray(max(needed, 1 << 20))
    return encode_frame_into(payload, compressed, scratch)


def frame_for(data: bytes | memoryview) -> memoryview:
    """A frame holding `data`, zstd-compressed unless it does not pay (scans, archives).

    The frame lives in this thread's scratch buffer: valid until the thread's next frame.
    """
    if len(data) < 256:
        return _framed(data, compressed=False)
    if len(data) > 2 * _SAMPLE:
        # Probe a sample first: incompressible data (JPEG, PDF scans, zip) costs one fast pass.
        sample = data[:_SAMPLE]
        if len(_compressor(1).compress(sample)) > 0.92 * len(sample):
            return _framed(data, compressed=False)
    # Level 1 for small (database) chunks: as small as level 3 on them, and a third faster.
    packed = _compressor(1 if len(data) <= 65536 else 3).compress(data)
    if len(packed) >= 0.97 * len(data):
        return _framed(data, compressed=False)
    return _framed(packed, compressed=True)


def frames_for(chunks: Sequence[bytes | memoryview]) -> Iterator[memoryview]:
    """`frame_for` of each chunk, in order (each frame valid until the next is asked for).

    The chunks of database size (256 bytes to 32 KiB: SQLite blocks, dump chunks, small files),
    compressed at level 1 without a probe by `frame_for`, are compressed here in one call for
    the whole batch: one GIL release for hundreds of chunks instead of one each, so a worker
    does not queue for the GIL behind the other threads after every 16 KiB.
    """
    small: list[bytes | memoryview] = [c for c in chunks if 256 <= len(c) <= 2 * _SAMPLE]
    compressor = _compressor(1)
    # An API of zstandard's C backend only (the default on CPython): per chunk without it.
    if len(small) < 2 or not hasattr(compressor, "multi_compress_to_buffer"):
        for chunk in chunks:
            yield frame_for(chunk)
        return
    packed = compressor.multi_compress_to_buffer(small, threads=1)  # type: ignore[arg-type]
    position = 0
    for chunk in chunks:
        if 256 <= len(chunk) <= 2 * _SAMPLE:
            segment = packed[position]
            position += 1
            if len(segment) >= 0.97 * len(chunk):
                yield _framed(chunk, compressed=False)
            else:
                yield _framed(memoryview(cast(bytes, segment)), compressed=True)
        else:
            yield frame_for(chunk)


def _groupable(chunk: bytes | memoryview) -> bool:
    """Whether a chunk goes into a group frame: database blocks, dump chunks and small files
    (256 bytes to 32 KiB), and chunks up to `GROUP_CHUNK_MAX` whose sample compresses (scans
    and archives of that size are stored alone, uncompressed, as before)."""
    size = len(chunk)
    if size <= 2 * _SAMPLE:
        return size >= 256
    if size > GROUP_CHUNK_MAX:
        return False
    sample = chunk[:_SAMPLE]
    return len(_compressor(1).compress(sample)) <= 0.92 * len(sample)


def group_frame(chunks: Sequence[bytes | memoryview]) -> memoryview:
    """One frame holding `chunks` one after the other, zstd-compressed unless it does not pay
    (valid until the thread's next frame)."""
    data = b"".join(chunks)
    compressor: zstandard.ZstdCompressor | None = getattr(_local, "group", None)
    if compressor is None:
        compressor = _local.group = zstandard.ZstdCompressor(compression_params=GROUP_PARAMETERS)
    packed = compressor.compress(data)
    if len(packed) >= 0.97 * len(data):
        return _framed(data, compressed=False)
    return _framed(packed, compressed=True)


class BlobStore:
    """Thread-safe blob sink for one run."""

    def __init__(
        self, repo: Repository, max_uploads: int = 2, index_every: int = 64, packers: int = 2
    ) -> None:
        self.repo = repo
        self._lock = threading.Lock()
        self._claimed: set[bytes] = set()
        # Open packs that no thread is filling right now.
        self._idle: list[PackWriter] = []
        self._uploader = ThreadPoolExecutor(max_uploads, thread_name_prefix="upload")
        self._uploads: deque[Future[None]] = deque()
        self._max_uploads = max_uploads
        self._index_every = index_every
        self._unindexed: list[tuple[str, list[PackEntry]]] = []
        self.new_blobs = 0
        self.new_raw_bytes = 0
        self.stored_bytes = 0
        self.packs_written: list[str] = []
        # Pack buffers: reused from one pack to the next (no fresh memory per pack), and at
        # most `max_uploads + packers` of them (being filled, uploading): memory stays bounded.
        self._spare: list[mmap.mmap] = []
        self._buffers_left = max_uploads + max(1, packers)
        self._capacity = repo.settings.pack_size + (1 << 20)
        self._returned = threading.Condition(self._lock)

    def store(self, blob_type: BlobType, data: bytes, blob_id: bytes | None = None) -> bytes:
        """Store `data` unless the repository already has it; returns its id."""
        blob_id = self.repo.blob_id(data) if blob_id is None else blob_id
        with self._lock:
            if blob_id in self._claimed or self.repo.index.has(blob_id):
                return blob_id
            self._claimed.add(blob_id)
        self._add(blob_type, blob_id, frame_for(data), len(data))
        return blob_id

    def store_many(self, blob_type: BlobType, chunks: Sequence[memoryview | bytes]) -> list[bytes]:
        """Store the chunks the repository lacks; returns every chunk's id, in order.

        One index query for the whole batch. A blob is claimed before the index is asked, and
        uploads index a pack before they drop its claims: a blob is always claimed or indexed
        once stored, so no blob is stored twice by this client.
        """
        blob_id = self.repo.blob_id
        ids = [blob_id(chunk) for chunk in chunks]
        wanted: dict[bytes, memoryview | bytes] = {}
        with self._lock:
            claimed = self._claimed
            for chunk_id, chunk in zip(ids, chunks, strict=True):
                if chunk_id not in claimed:
                    claimed.add(chunk_id)
                    wanted[chunk_id] = chunk
        if not wanted:
            return ids
        known = self.repo.index.known(list(wanted))
        if known:
            with self._lock:
                self._claimed.difference_update(known)
        todo = [(i, c) for i, c in wanted.items() if i not in known] if known else wanted.items()
        self._put(blob_type, list(todo))
        return ids

    def put_chunks(
        self, blob_type: BlobType, chunks: Sequence[tuple[bytes, bytes | memoryview]]
    ) -> None:
        """Store chunks (id, plaintext) without asking the index (prune re-frames with this)."""
        with self._lock:
            self._claimed.update(i for i, _ in chunks)
        self._put(blob_type, chunks)

    def _put(self, blob_type: BlobType, todo: Sequence[tuple[bytes, bytes | memoryview]]) -> None:
        # The caller has claimed every id of `todo`.
        if not todo:
            return
        if self.repo.version < 2:
            self._put_single(blob_type, todo)
            return
        pack: PackWriter | None = None
        pack_size = self.repo.settings.pack_size

        def emit(chunks: list[tuple[bytes, bytes | memoryview]], compressed: bool = True) -> None:
            nonlocal pack
            if len(chunks) == 1:
                frame = frame_for(chunks[0][1]) if compressed else _framed(chunks[0][1], False)
            else:
                frame = group_frame([c for _, c in chunks])
            if pack is None:
                pack = self._checkout()
            while pack.entries and not pack.fits(len(frame)):
                self._ship(pack)  # a little short of its size: its buffer is not grown
                pack = self._checkout()
            if len(chunks) == 1:
                pack.add(blob_type, chunks[0][0], frame, len(chunks[0][1]))
            else:
                pack.add_group(blob_type, [(i, len(c)) for i, c in chunks], frame)
            if pack.size >= pack_size:
                self._ship(pack)
                pack = None

        group: list[tuple[bytes, bytes | memoryview]] = []
        grouped = 0
        for item in todo:
            if not _groupable(item[1]):
                if 2 * _SAMPLE < len(item[1]) <= GROUP_CHUNK_MAX:  # its sample did not compress
                    emit([item], compressed=False)
                else:
                    emit([item])
                continue
            group.append(item)
            grouped += len(item[1])
            if grouped >= GROUP_BYTES or len(group) >= GROUP_MAX:
                emit(group)
                group, grouped = [], 0
        if group:
            emit(group)
        if pack is not None:
            self._checkin(pack)

    def _put_single(
        self, blob_type: BlobType, todo: Sequence[tuple[bytes, bytes | memoryview]]
    ) -> None:
        pack = None
        pack_size = self.repo.settings.pack_size
        frames = frames_for([chunk for _, chunk in todo])
        for (chunk_id, chunk), frame in zip(todo, frames, strict=True):
            if pack is None:
                pack = self._checkout()
            pack.add(blob_type, chunk_id, frame, len(chunk))
            if pack.size >= pack_size:
                self._ship(pack)
                pack = None
        if pack is not None:
            self._checkin(pack)

    def add_frame(
        self, blob_type: BlobType, blob_id: bytes, frame: bytes | memoryview, raw: int
    ) -> None:
        """Put an already framed blob into this thread's open pack (repacking uses this)."""
        with self._lock:
            self._claimed.add(blob_id)
        self._add(blob_type, blob_id, frame, raw)

    def add_group_frame(
        self, blob_type: BlobType, members: Sequence[PackEntry], frame: bytes | memoryview
    ) -> None:
        """Put an already made group frame into this thread's open pack (repacking)."""
        with self._lock:
            self._claimed.update(e.blob_id for e in members)
        pack = self._checkout()
        pack.add_group(blob_type, [(e.blob_id, e.raw_length) for e in members], frame)
        self._checkin(pack)

    def _add(
        self, blob_type: BlobType, blob_id: bytes, frame: bytes | memoryview, raw: int
    ) -> None:
        # The caller has claimed `blob_id`.
        pack = self._checkout()
        pack.add(blob_type, blob_id, frame, raw)
        self._checkin(pack)

    def _checkout(self) -> PackWriter:
        """An open pack for this thread alone until `_checkin` or `_ship`."""
        with self._lock:
            # Waiting for a buffer lets other threads in: one may give back an open pack.
            while not self._idle and not self._spare and not self._buffers_left:
                self._returned.wait()  # an upload gives its buffer back
            if self._idle:
                return self._idle.pop()
            if self._spare:
                spare: mmap.mmap | None = self._spare.pop()
            else:
                self._buffers_left -= 1
                spare = None
        return PackWriter(
            self.repo.master, buffer=spare, capacity=self._capacity, version=self.repo.version
        )

    def _checkin(self, pack: PackWriter) -> None:
        if pack.size >= self.repo.settings.pack_size:
            self._ship(pack)
        else:
            with self._lock:
                self._idle.append(pack)
                self._returned.notify_all()

    def _ship(self, writer: PackWriter) -> None:
        while True:
            with self._lock:
                if len(self._uploads) < self._max_uploads:
                    self._uploads.append(self._uploader.submit(self._upload, writer))
                    return
                head = self._uploads.popleft()
            head.result()  # back-pressure keeps memory bounded; waited outside the lock

    def _upload(self, writer: PackWriter) -> None:
        data = writer.finish()
        try:
            pack_id = object_name(data)
            self.repo.storage.put(pack_name(pack_id), data)
            stored = len(data)
        finally:
            data.release()  # no view of the buffer outlives the upload
            with self._lock:
                if len(writer.buffer) <= self._capacity:
                    self._spare.append(writer.buffer)
                else:  # grown past the capacity for one large blob: not kept at that size
                    self._buffers_left += 1
                self._returned.notify_all()
        self.repo.index.add_pending(pack_id, writer.entries)
        write_index = False
        with self._lock:
            self.new_blobs += len(writer.entries)
            self.new_raw_bytes += sum(e.raw_length for e in writer.entries)
            self.stored_bytes += stored
            self.packs_written.append(pack_id)
            self._claimed.difference_update(e.blob_id for e in writer.entries)
            self._unindexed.append((pack_id, writer.entries))
            if len(self._unindexed) >= self._index_every:
                batch, self._unindexed = self._unindexed, []
                write_index = True
        if write_index:
            self._write_index(batch)

    def _write_index(self, batch: list[tuple[str, list[PackEntry]]]) -> None:
        _name, size = self.repo.write_index(batch)
        with self._lock:
            self.stored_bytes += size

    def ship_open(self) -> None:
        """Send the open packs on their way: what is stored next starts a fresh pack.

        No thread may be storing meanwhile."""
        with self._lock:
            packs, self._idle = self._idle, []
        for pack in packs:
            if pack.entries:
                self._ship(pack)

    def flush(self) -> None:
        """Upload the open packs, wait for every upload, write the last index file.

        No thread may be storing meanwhile."""
        self.ship_open()
        while True:
            with self._lock:
                if not self._uploads:
                    break
                head = self._uploads.popleft()
            head.result()
        with self._lock:
            batch, self._unindexed = self._unindexed, []
        if batch:
            self._write_index(batch)

    def close(self) -> None:
        """Stop the uploader (after `flush`, or on failure)."""
        self._uploader.shutdown(wait=True, cancel_futures=True)
