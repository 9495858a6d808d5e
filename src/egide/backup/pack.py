"""Pack files: many encrypted frames in one object (format versions 1 and 2).

    pack    := "EGPK" || version u8 (1, 2) || salt[32] || blob… || trailer || trailer_length u32
    blob    := AES-256-GCM(pack key, nonce = blob offset in the pack, frame, AAD)
    frame   := encoding u8 (0 stored, 1 zstd) || payload_length u32 LE || payload || zero padding
    trailer := AES-256-GCM(pack key, nonce = 2**96 - 1, entries, AAD = pack header)

Version 1: one chunk per frame, AAD = type || blob id, and
    entry   := type u8 || blob id[32] || offset u32 || length u32 || raw_length u32   (45 bytes)
Version 2 adds group frames (ADR 0028): one frame holds the plaintexts of several small chunks
one after the other, compressed and sealed once. The trailer lists frames:
    record  := type u8 || offset u32 || length u32 || count u16 || count × (blob id[32] || raw u32)
A record of one chunk is a single frame (AAD = type || blob id, as in version 1); a record of
several is a group frame, whose chunks start at the sum of the raw lengths before them and whose
AAD is type || every (blob id || raw u32) in order — each chunk stays bound to its id, its type
and its place in the group.

The pack key is HKDF-SHA256(master, salt, "egide-backup v1 pack"), fresh for each pack from its
random salt; nonces are blob offsets, distinct within a pack, and the trailer's nonce is above
every offset: no (key, nonce) pair can repeat, by construction. The AAD binds each ciphertext to
its blob id (or its group's list), so swapping blobs is detected. Frames are padded to a multiple
of `PAD` bytes so stored sizes do not reveal exact chunk or compressed sizes. The trailer lets a
client rebuild the index of a pack whose index file was never written (a crash between upload
and index).
Packs are named by the BLAKE3 hash of their bytes (`data/<first 2 hex>/<hash>`).
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from collections.abc import Sequence
from enum import IntEnum
from typing import NamedTuple

import zstandard

from egide.crypto.aead import CounterCipher, derive_key
from egide.crypto.errors import DecryptionFailed

from .errors import RepositoryCorrupted, UnsupportedFormat

MAGIC = b"EGPK"
VERSION = 2
VERSIONS = (1, 2)
SALT_SIZE = 32
HEADER_SIZE = len(MAGIC) + 1 + SALT_SIZE
PAD = 64
TAG_SIZE = 16
_INFO = b"egide-backup v1 pack"
_TRAILER_NONCE = 2**96 - 1
_TRAILER_ROOM = 64 << 10  # kept free for the trailer by `PackWriter.fits`
_ENTRY = struct.Struct("<B32sIII")
_RECORD = struct.Struct("<BIIH")
_MEMBER = struct.Struct("<32sI")
GROUP_MAX = 4096  # chunks in one group frame (the record's count is a u16)
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
    offset: int  # of the sealed frame in the pack
    length: int  # of the sealed frame
    raw_length: int  # of this chunk's plaintext
    start: int = 0  # where the chunk begins in its group frame's plaintext
    group: int = 0  # plaintext length of the group frame; 0: the frame holds this chunk alone


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


def group_aad(blob_type: int, members: Sequence[tuple[bytes, int]]) -> bytes:
    """AAD of a group frame: its type and every chunk's id and raw length, in order."""
    return bytes([blob_type]) + b"".join(_MEMBER.pack(i, n) for i, n in members)


def encode_entries(entries: Sequence[PackEntry], version: int) -> tuple[bytes, int]:
    """The table of `entries` in format `version` and its item count (entries or records)."""
    if version == 1:
        table = b"".join(
            _ENTRY.pack(e.blob_type, e.blob_id, e.offset, e.length, e.raw_length) for e in entries
        )
        return table, len(entries)
    parts: list[bytes] = []
    records = 0
    position = 0
    while position < len(entries):
        first = entries[position]
        end = position + 1
        if first.group:
            while end < len(entries) and entries[end].offset == first.offset:
                end += 1
        parts.append(_RECORD.pack(first.blob_type, first.offset, first.length, end - position))
        parts.extend(_MEMBER.pack(e.blob_id, e.raw_length) for e in entries[position:end])
        records += 1
        position = end
    return b"".join(parts), records


def decode_entries(
    data: bytes | memoryview, position: int, count: int | None, version: int
) -> tuple[list[PackEntry], int]:
    """`count` items (all up to the end when None) of a table in format `version`, from
    `position`; returns the entries and the position after them. Raises struct.error,
    KeyError or ValueError on malformed input."""
    entries: list[PackEntry] = []
    end = len(data)
    if version == 1:
        items = (end - position) // _ENTRY.size if count is None else count
        for _ in range(items):
            t, i, o, n, r = _ENTRY.unpack_from(data, position)
            entries.append(PackEntry(TYPES[t], i, o, n, r))
            position += _ENTRY.size
        if count is None and position != end:
            raise ValueError("table length")
        return entries, position
    done = 0
    while (position < end) if count is None else (done < count):
        t, offset, length, members = _RECORD.unpack_from(data, position)
        position += _RECORD.size
        kind = TYPES[t]
        if members == 1:
            blob_id, raw = _MEMBER.unpack_from(data, position)
            entries.append(PackEntry(kind, blob_id, offset, length, raw))
            position += _MEMBER.size
        elif members > 1:
            group = [_MEMBER.unpack_from(data, position + k * _MEMBER.size) for k in range(members)]
            position += members * _MEMBER.size
            total = sum(n for _, n in group)
            start = 0
            for blob_id, raw in group:
                entries.append(PackEntry(kind, blob_id, offset, length, raw, start, total))
                start += raw
        else:
            raise ValueError("empty frame record")
        done += 1
    return entries, position


def frame_members(entries: Sequence[PackEntry]) -> dict[int, list[PackEntry]]:
    """The chunks of each group frame among `entries` (all of a pack's), by frame offset."""
    groups: dict[int, list[PackEntry]] = {}
    for entry in entries:
        if entry.group:
            groups.setdefault(entry.offset, []).append(entry)
    for members in groups.values():
        members.sort(key=lambda e: e.start)
    return groups


class PackWriter:
    """Accumulates sealed blobs; not thread-safe (the archiver serialises calls).

    Blobs are sealed straight into one buffer, which a caller may pass in to reuse it from one
    pack to the next (`capacity` bytes are made available up front): no copy of the pack and no
    fresh memory per pack or per blob. The buffer is an anonymous map, so page-aligned: a local
    repository writes the pack from it with O_DIRECT, without staging it (ADR 0039). `version` 1
    writes no group frames (repositories of format version 1 stay readable by the clients that
    made them).
    """

    def __init__(
        self,
        master: bytes,
        salt: bytes | None = None,
        buffer: mmap.mmap | None = None,
        capacity: int = 0,
        version: int = VERSION,
    ) -> None:
        if version not in VERSIONS:
            raise UnsupportedFormat(f"pack format version {version} is unknown")
        self.version = version
        self.salt = os.urandom(SALT_SIZE) if salt is None else salt
        self._cipher = CounterCipher(derive_key(master, self.salt, _INFO))
        self._header = MAGIC + bytes([version]) + self.salt
        if buffer is None or len(buffer) < capacity:
            buffer = mmap.mmap(-1, max(capacity, mmap.PAGESIZE))
        self.buffer = buffer  # its memory is reused as is: nothing to clear
        self._size = 0
        self._append(self._header)
        self.entries: list[PackEntry] = []

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._size

    def fits(self, frame_length: int) -> bool:
        """Whether a frame of `frame_length` bytes, sealed, still fits in the buffer with room
        for a trailer (past that the buffer is replaced by a larger one, a copy)."""
        return self._size + frame_length + TAG_SIZE + _TRAILER_ROOM <= len(self.buffer)

    def _room(self, length: int) -> memoryview:
        end = self._size + length
        if end > len(self.buffer):
            # Larger than the room left (a blob bigger than the slack): a larger map, once.
            grown = mmap.mmap(-1, max(end, len(self.buffer) * 5 // 4))
            grown[: self._size] = self.buffer[: self._size]
            self.buffer = grown
        view = memoryview(self.buffer)[self._size : end]
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

    def add_group(
        self, blob_type: BlobType, members: Sequence[tuple[bytes, int]], frame: bytes | memoryview
    ) -> None:
        """Seal a group frame holding the chunks `members` (id, raw length), in order."""
        if self.version < 2 or not 2 <= len(members) <= GROUP_MAX:
            raise ValueError("a group frame needs format version 2 and 2 to 4096 chunks")
        offset = self._size
        length = len(frame) + TAG_SIZE
        with self._room(length) as view:
            self._cipher.seal_into(offset, frame, group_aad(blob_type, members), view)
        total = sum(n for _, n in members)
        start = 0
        append = self.entries.append
        for blob_id, raw in members:
            append(PackEntry(blob_type, blob_id, offset, length, raw, start, total))
            start += raw

    def finish(self) -> memoryview:
        """The complete pack bytes (header, blobs, sealed trailer, trailer length): a view of
        the start of `buffer`, valid until the buffer is reused for another pack."""
        table, _count = encode_entries(self.entries, self.version)
        trailer = self._cipher.seal(_TRAILER_NONCE, table, self._header)
        self._append(trailer)
        self._append(struct.pack("<I", len(trailer)))
        return memoryview(self.buffer)[: self._size]


class PackReader:
    """Opens blobs of one pack, given its header (salt) bytes."""

    def __init__(self, master: bytes, header: bytes, name: str = "") -> None:
        if len(header) < HEADER_SIZE or header[:4] != MAGIC:
            raise RepositoryCorrupted(f"{name}: not a pack", name)
        if header[4] not in VERSIONS:
            raise UnsupportedFormat(f"{name}: pack format version {header[4]} is unknown")
        self.name = name
        self.version = header[4]
        self._header = header[:HEADER_SIZE]
        self._cipher = CounterCipher(derive_key(master, header[5:HEADER_SIZE], _INFO))

    def _open(self, offset: int, sealed: bytes | memoryview, aad: bytes, what: str) -> bytes:
        try:
            return self._cipher.open(offset, sealed, aad)
        except DecryptionFailed:
            message = f"{self.name}: {what} fails authentication"
            raise RepositoryCorrupted(message, self.name) from None

    def open_frame(self, entry: PackEntry, sealed: bytes | memoryview) -> bytes:
        """The authenticated frame of a single-chunk `entry` (still compressed; prune re-packs
        it as is)."""
        if entry.group:
            raise ValueError("a chunk of a group frame is opened with open_group")
        aad = bytes([entry.blob_type]) + entry.blob_id
        return self._open(entry.offset, sealed, aad, f"blob {entry.blob_id.hex()[:16]}")

    def open_group_frame(self, members: Sequence[PackEntry], sealed: bytes | memoryview) -> bytes:
        """The authenticated frame of a group, given all its chunks' entries in order."""
        if len(members) < 2:
            raise RepositoryCorrupted(f"{self.name}: group frame listed incompletely", self.name)
        first = members[0]
        start = 0
        for e in members:
            if e.offset != first.offset or e.blob_type != first.blob_type or e.start != start:
                start = -1
                break
            start += e.raw_length
        if start != first.group:
            raise RepositoryCorrupted(f"{self.name}: group frame listed inconsistently", self.name)
        aad = group_aad(first.blob_type, [(e.blob_id, e.raw_length) for e in members])
        return self._open(first.offset, sealed, aad, f"group at {first.offset}")

    def open_group(
        self, members: Sequence[PackEntry], sealed: bytes | memoryview
    ) -> bytes | memoryview:
        """The plaintext of a group frame (every chunk of it, one after the other)."""
        content = frame_content(self.open_group_frame(members, sealed), members[0].group)
        if len(content) != members[0].group:
            raise RepositoryCorrupted(f"{self.name}: group frame of a wrong length", self.name)
        return content

    def open_blob(self, entry: PackEntry, sealed: bytes | memoryview) -> bytes:
        """The plaintext chunk of a single-chunk `entry`, authenticated against its id and
        position."""
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
        try:
            return decode_entries(table, 0, None, self.version)[0]
        except KeyError:
            raise RepositoryCorrupted(f"{self.name}: unknown blob type", self.name) from None
        except (struct.error, ValueError):
            raise RepositoryCorrupted(f"{self.name}: pack trailer malformed", self.name) from None


def trailer_length(tail: bytes) -> int:
    """Length of the trailer announced by the last four bytes of a pack."""
    return int(struct.unpack("<I", tail[-4:])[0]) if len(tail) >= 4 else 0
