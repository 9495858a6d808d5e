"""Pack files: many encrypted blobs in one object (format version 1).

    pack    := "EGPK" || version u8 (=1) || salt[32] || blob… || trailer || trailer_length u32 LE
    blob    := AES-256-GCM(pack key, nonce = blob offset in the pack, frame, AAD = type || blob id)
    frame   := encoding u8 (0 stored, 1 zstd) || payload_length u32 LE || payload || zero padding
    trailer := AES-256-GCM(pack key, nonce = 2**96 - 1, entries, AAD = pack header)
    entry   := type u8 || blob id[32] || offset u32 || length u32 || raw_length u32   (45 bytes)

The pack key is HKDF-SHA256(master, salt, "egide-backup v1 pack"), fresh for each pack from its
random salt; nonces are blob offsets, distinct within a pack, and the trailer's nonce is above
every offset: no (key, nonce) pair can repeat, by construction. The AAD binds each ciphertext to
its blob id, so swapping blobs is detected. Frames are padded to a multiple of `PAD` bytes so
stored sizes do not reveal exact chunk or compressed sizes. The trailer lets a client rebuild the
index of a pack whose index file was never written (a crash between upload and index).
Packs are named by the BLAKE3 hash of their bytes (`data/<first 2 hex>/<hash>`).
"""

from __future__ import annotations

import os
import struct
import threading
from enum import IntEnum
from typing import NamedTuple

import zstandard

from egide.crypto.aead import CounterCipher, derive_key
from egide.crypto.errors import DecryptionFailed

from .errors import RepositoryCorrupted, UnsupportedFormat

MAGIC = b"EGPK"
VERSION = 1
SALT_SIZE = 32
HEADER_SIZE = len(MAGIC) + 1 + SALT_SIZE
PAD = 64
TAG_SIZE = 16
_INFO = b"egide-backup v1 pack"
_TRAILER_NONCE = 2**96 - 1
_ENTRY = struct.Struct("<B32sIII")
_FRAME = struct.Struct("<BI")
STORED, ZSTD = 0, 1


class BlobType(IntEnum):
    """What a blob holds: file content, or a piece of a snapshot's tree stream."""

    DATA = 0
    TREE = 1


# Number → `BlobType`, without the enum's call machinery (once per blob read from an index).
TYPES = {int(kind): kind for kind in BlobType}


class PackEntry(NamedTuple):
    """Where one blob lives inside its pack.

    A named tuple, not a frozen dataclass: one is made per chunk stored, located or checked
    (tens of thousands per run), and a tuple is made in a third of the time."""

    blob_type: BlobType
    blob_id: bytes
    offset: int
    length: int
    raw_length: int


def pack_name(pack_id: str) -> str:
    """Storage key of a pack."""
    return f"data/{pack_id[:2]}/{pack_id}"


def encode_frame(payload: bytes | memoryview, compressed: bool) -> bytes:
    """Frame a (possibly compressed) chunk, zero-padded to a multiple of PAD bytes."""
    head = _FRAME.pack(ZSTD if compressed else STORED, len(payload))
    return b"".join((head, payload, bytes(-(len(head) + len(payload)) % PAD)))


def frame_length(payload_length: int) -> int:
    """Bytes of the frame of a payload of `payload_length` bytes (header and padding included)."""
    body = _FRAME.size + payload_length
    return body + (-body % PAD)


def encode_frame_into(payload: bytes | memoryview, compressed: bool, out: bytearray) -> memoryview:
    """`encode_frame`, written at the start of `out` (at least `frame_length` bytes): a worker
    reuses one buffer for its frames instead of fresh memory (and page faults) for each chunk."""
    body = _FRAME.size + len(payload)
    end = frame_length(len(payload))
    _FRAME.pack_into(out, 0, ZSTD if compressed else STORED, len(payload))
    out[_FRAME.size : body] = payload
    out[body:end] = bytes(end - body)
    return memoryview(out)[:end]


_local = threading.local()


def _decompressor() -> zstandard.ZstdDecompressor:
    # One per thread (not thread-safe), reused: creating one costs more than a 16 KiB chunk.
    found: zstandard.ZstdDecompressor | None = getattr(_local, "zstd", None)
    if found is None:
        found = _local.zstd = zstandard.ZstdDecompressor()
    return found


def frame_content(frame: bytes, raw_length: int) -> bytes | memoryview:
    """The plaintext chunk held in a frame; a view into `frame` when it is stored, not a copy."""
    if len(frame) < _FRAME.size:
        raise RepositoryCorrupted("blob frame too short")
    encoding, size = _FRAME.unpack_from(frame)
    payload = memoryview(frame)[_FRAME.size : _FRAME.size + size]
    if len(payload) != size:
        raise RepositoryCorrupted("blob frame truncated")
    if encoding == STORED:
        return payload
    if encoding == ZSTD:
        try:
            return _decompressor().decompress(payload, max_output_size=raw_length)
        except zstandard.ZstdError as error:
            raise RepositoryCorrupted(f"blob does not decompress: {error}") from None
    raise UnsupportedFormat(f"blob encoding {encoding} is unknown")


def decode_frame(frame: bytes, raw_length: int) -> bytes:
    """The plaintext chunk held in a frame."""
    content = frame_content(frame, raw_length)
    return content if isinstance(content, bytes) else bytes(content)


class PackWriter:
    """Accumulates sealed blobs; not thread-safe (the archiver serialises calls).

    Blobs are sealed straight into one buffer, which a caller may pass in to reuse it from one
    pack to the next (`capacity` bytes are made available up front): no copy of the pack and no
    fresh memory per pack or per blob.
    """

    def __init__(
        self,
        master: bytes,
        salt: bytes | None = None,
        buffer: bytearray | None = None,
        capacity: int = 0,
    ) -> None:
        self.salt = os.urandom(SALT_SIZE) if salt is None else salt
        self._cipher = CounterCipher(derive_key(master, self.salt, _INFO))
        self._header = MAGIC + bytes([VERSION]) + self.salt
        if not buffer:
            self._buffer = bytearray(capacity)  # one pass over fresh memory, no copy
        else:
            self._buffer = buffer  # cut to its last pack's length; its memory is still there
            if len(buffer) < capacity:
                buffer += bytes(capacity - len(buffer))
        self._size = 0
        self._append(self._header)
        self.entries: list[PackEntry] = []

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._size

    def _room(self, length: int) -> memoryview:
        end = self._size + length
        if end > len(self._buffer):
            self._buffer += bytes(max(end - len(self._buffer), len(self._buffer) // 4))
        view = memoryview(self._buffer)[self._size : end]
        self._size = end
        return view

    def _append(self, data: bytes) -> None:
        with self._room(len(data)) as view:
            view[:] = data

    def add(
        self, blob_type: BlobType, blob_id: bytes, frame: bytes | memoryview, raw_length: int
    ) -> None:
        """Seal `frame` as blob `blob_id` at the current end of the pack."""
        offset = self._size
        length = len(frame) + TAG_SIZE
        with self._room(length) as view:
            self._cipher.seal_into(offset, frame, bytes([blob_type]) + blob_id, view)
        self.entries.append(PackEntry(blob_type, blob_id, offset, length, raw_length))

    def finish(self) -> bytearray:
        """The complete pack bytes (header, blobs, sealed trailer, trailer length).

        The buffer itself, cut to the pack's length (the capacity stays reserved for reuse).
        """
        table = b"".join(
            _ENTRY.pack(e.blob_type, e.blob_id, e.offset, e.length, e.raw_length)
            for e in self.entries
        )
        trailer = self._cipher.seal(_TRAILER_NONCE, table, self._header)
        self._append(trailer)
        self._append(struct.pack("<I", len(trailer)))
        del self._buffer[self._size :]
        return self._buffer


class PackReader:
    """Opens blobs of one pack, given its header (salt) bytes."""

    def __init__(self, master: bytes, header: bytes, name: str = "") -> None:
        if len(header) < HEADER_SIZE or header[:4] != MAGIC:
            raise RepositoryCorrupted(f"{name}: not a pack", name)
        if header[4] != VERSION:
            raise UnsupportedFormat(f"{name}: pack format version {header[4]} is unknown")
        self.name = name
        self._header = header[:HEADER_SIZE]
        self._cipher = CounterCipher(derive_key(master, header[5:HEADER_SIZE], _INFO))

    def open_frame(self, entry: PackEntry, sealed: bytes | memoryview) -> bytes:
        """The authenticated frame of `entry` (still compressed; prune re-packs it as is)."""
        try:
            return self._cipher.open(entry.offset, sealed, bytes([entry.blob_type]) + entry.blob_id)
        except DecryptionFailed:
            raise RepositoryCorrupted(
                f"{self.name}: blob {entry.blob_id.hex()[:16]} fails authentication", self.name
            ) from None

    def open_blob(self, entry: PackEntry, sealed: bytes | memoryview) -> bytes:
        """The plaintext chunk of `entry`, authenticated against its id and position."""
        return decode_frame(self.open_frame(entry, sealed), entry.raw_length)

    def open_content(self, entry: PackEntry, sealed: bytes | memoryview) -> bytes | memoryview:
        """Like `open_blob`, without copying a stored chunk out of its frame (restore, check)."""
        return frame_content(self.open_frame(entry, sealed), entry.raw_length)

    def read_trailer(self, tail: bytes) -> list[PackEntry]:
        """Entries of the pack from its last bytes (`tail` must hold the whole trailer)."""
        if len(tail) < 4:
            raise RepositoryCorrupted(f"{self.name}: pack truncated", self.name)
        (size,) = struct.unpack("<I", tail[-4:])
        if size + 4 > len(tail):
            raise RepositoryCorrupted(f"{self.name}: pack trailer truncated", self.name)
        try:
            table = self._cipher.open(_TRAILER_NONCE, tail[-4 - size : -4], self._header)
        except DecryptionFailed:
            raise RepositoryCorrupted(f"{self.name}: pack trailer altered", self.name) from None
        if len(table) % _ENTRY.size:
            raise RepositoryCorrupted(f"{self.name}: pack trailer malformed", self.name)
        try:
            return [PackEntry(TYPES[t], i, o, n, r) for t, i, o, n, r in _ENTRY.iter_unpack(table)]
        except KeyError:
            raise RepositoryCorrupted(f"{self.name}: unknown blob type", self.name) from None


def trailer_length(tail: bytes) -> int:
    """Length of the trailer announced by the last four bytes of a pack."""
    return int(struct.unpack("<I", tail[-4:])[0]) if len(tail) >= 4 else 0
