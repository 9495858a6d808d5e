"""Where message bytes live: encrypted blobs on disk, keys from the operator's key file.

Two kinds of blob names: `<mailbox>-<random>` is a file of its own; `seg-<random>@<offset>` is
one record of an append-only segment file, where the SMTP group commit (ADR 0015) appends a
whole batch of inbound messages with one fdatasync. A record is an 8-byte big-endian length,
then the sealed bytes. Each process appends to its own segment, up to `SEGMENT_BYTES`, and
holds an exclusive `flock` on it while it is open. Segments written since the single-fsync
ingest start with `SEGMENT_MAGIC` and end each batch with a trailer naming its records and
what the recovery pass needs to rebuild their rows (`docs/formats/mail-segment.md`).

The master key file is read once per process. In the embedded default it is generated in
`EGIDE_KEY_DIR` (not in the data directory), so that a copy of the data directory alone is useless.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import struct
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from egide.crypto import envelope

_lock = threading.Lock()


@cache
def master_key() -> envelope.MasterKey:
    path = Path(settings.EGIDE_MASTER_KEY_FILE)
    with _lock:
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            with os.fdopen(fd, "wb") as handle:
                handle.write(envelope.export_master_key(envelope.generate_master_key()))
    return envelope.load_master_key(path.read_bytes())


def new_wrapped_mailbox_key(mailbox_id: str) -> bytes:
    return envelope.wrap_mailbox_key(
        master_key(), envelope.generate_mailbox_key(), mailbox_id=mailbox_id
    )


def mailbox_key(wrapped: bytes, mailbox_id: str) -> envelope.MailboxKey:
    return envelope.unwrap_mailbox_key(master_key(), bytes(wrapped), mailbox_id=mailbox_id)


def _blob_path(name: str) -> Path:
    root = Path(settings.EGIDE_MAIL_DIR)
    return root / name[:2] / name


def write_blob(name: str, data: bytes) -> None:
    """Write durably: temporary file, fsync, atomic rename, fsync of the directory."""
    path = _blob_path(name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
    _fsync_directory(path.parent)


def _fsync_directory(path: Path) -> None:
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


_RECORD_LENGTH = struct.Struct(">Q")
_CRC = struct.Struct(">I")
# First 8 bytes of a segment with batch trailers; an older segment starts with a record length.
SEGMENT_MAGIC = b"EGSEG2\r\n"
# A length word with this bit set starts a batch trailer, not a record.
_TRAILER = 1 << 63


def _segment_path(segment: str) -> Path:
    return Path(settings.EGIDE_MAIL_DIR) / "seg" / segment[4:6] / segment


# A segment grows until this size, then the next batch starts a new one.
SEGMENT_BYTES = 64 * 1024 * 1024
# Beside a segment whose every record has its row: the recovery pass no longer reads it.
SETTLED_SUFFIX = ".settled"


class _Segment:
    """This process's open segment: appended to by one batch at a time, never rewritten."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.name = ""
        self.root = ""
        self.handle: BinaryIO | None = None
        self.size = 0

    def open_new(self) -> None:
        self.close()
        self.name = f"seg-{secrets.token_hex(12)}"
        self.root = settings.EGIDE_MAIL_DIR
        path = _segment_path(self.name)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)  # a live writer: the recovery pass leaves it alone
        self.handle = os.fdopen(fd, "wb")
        os.write(fd, SEGMENT_MAGIC)
        self.size = len(SEGMENT_MAGIC)
        os.fsync(fd)
        _fsync_directory(path.parent)  # once per segment: its name is durable from now on

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
        self.handle = None


_segment = _Segment()


_syncer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segment-sync")


@dataclass(frozen=True)
class Appended:
    """Records written to the segment; `wait_durable` returns once they are on disk."""

    names: list[str]
    _synced: Future[None]

    def wait_durable(self) -> None:
        try:
            self._synced.result()
        except BaseException:
            close_segment()  # never append after a failed sync
            raise


def append_segment(
    sealers: Sequence[Callable[[str], bytes]],
    recovery: Sequence[Mapping[str, str]] | None = None,
) -> Appended:
    """Append records to this process's segment; their blob names, and a way to wait for disk.

    Each sealer receives its record's blob name (the encryption binds the bytes to it) and
    returns the sealed bytes. The records are written at once and fdatasync'ed in the
    background, so that the caller can prepare its database rows meanwhile; it must call
    `wait_durable` before committing anything that names them. After a failure, or in a new
    process, records go to a new segment: a torn tail is never extended.

    `recovery`: one mapping per record (plain strings: mailbox, reverse-path, actor); the
    batch then ends with a trailer, and `recover_segments` will offer these records once the
    writer is gone. Without it, the records are never recovered (the caller commits durably).
    """
    with _segment.lock:
        try:
            if (
                _segment.handle is None
                or _segment.size >= SEGMENT_BYTES
                or _segment.root != settings.EGIDE_MAIL_DIR
            ):
                _segment.open_new()
            handle = _segment.handle
            assert handle is not None
            names = []
            offset = _segment.size
            sealed_records = []
            for seal in sealers:  # every record sealed before anything is written
                name = f"{_segment.name}@{offset}"
                sealed = seal(name)
                sealed_records.append(sealed)
                names.append(name)
                offset += _RECORD_LENGTH.size + len(sealed)
            for sealed in sealed_records:
                handle.write(_RECORD_LENGTH.pack(len(sealed)))
                handle.write(sealed)
            if recovery is not None:
                entries = [
                    {"at": int(name.rpartition("@")[2]), **meta}
                    for name, meta in zip(names, recovery, strict=True)
                ]
                body = json.dumps({"records": entries}, separators=(",", ":")).encode()
                payload = _CRC.pack(zlib.crc32(body)) + body
                handle.write(_RECORD_LENGTH.pack(_TRAILER | len(payload)))
                handle.write(payload)
                offset += _RECORD_LENGTH.size + len(payload)
            handle.flush()
            _segment.size = offset
            return Appended(names, _syncer.submit(os.fdatasync, handle.fileno()))
        except BaseException:
            _segment.close()
            raise


def close_segment() -> None:
    """Close this process's segment (a listener stops); the next batch starts a new one."""
    with _segment.lock:
        _segment.close()


def _batches(handle: BinaryIO) -> Iterator[list[dict[str, object]]]:
    """The trailers' record lists of a segment, first batch first; stops at a torn tail."""
    if handle.read(len(SEGMENT_MAGIC)) != SEGMENT_MAGIC:
        return  # written before batch trailers: every record there was committed durably
    size = os.fstat(handle.fileno()).st_size
    position = len(SEGMENT_MAGIC)
    while position + _RECORD_LENGTH.size <= size:
        handle.seek(position)
        (word,) = _RECORD_LENGTH.unpack(handle.read(_RECORD_LENGTH.size))
        length = word & ~_TRAILER
        end = position + _RECORD_LENGTH.size + length
        if end > size:
            return  # a batch cut short by a crash: never acknowledged
        if word & _TRAILER:
            payload = handle.read(length)
            crc, body = payload[: _CRC.size], payload[_CRC.size :]
            if len(crc) != _CRC.size or _CRC.unpack(crc)[0] != zlib.crc32(body):
                return
            try:
                entries = json.loads(body)["records"]
            except (ValueError, KeyError, TypeError):
                return
            if isinstance(entries, list):
                yield [entry for entry in entries if isinstance(entry, dict)]
        position = end


def recover_segments(recover: Callable[[list[tuple[str, dict[str, object]]]], bool]) -> int:
    """Offer the trailer-listed records of every segment no live process writes to.

    `recover` receives (blob name, recovery mapping) for each record of a segment whose
    batch trailer is complete, while this process holds the segment's lock (two recovery
    passes never handle the same segment at once; a writer's own segment is skipped).
    When it answers True (every record has its row, or never will), the segment is marked
    settled: no writer appends to it again, so later start-ups skip it instead of reading
    the whole mail store each time. Returns how many segments were offered.
    """
    root = Path(settings.EGIDE_MAIL_DIR) / "seg"
    if not root.is_dir():
        return 0
    offered = 0
    for path in sorted(root.glob("*/seg-*")):
        settled = path.with_name(path.name + SETTLED_SUFFIX)
        if path.name.endswith(SETTLED_SUFFIX) or settled.exists():
            continue
        with _segment.lock:
            if _segment.handle is not None and path.name == _segment.name:
                continue  # this process's own open segment
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        with os.fdopen(fd, "rb") as handle:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its writer is alive and commits its own rows
            # A writer killed between its write and its sync left pages in the cache only:
            # synced now, what is read below (and may be acknowledged, ADR 0038) is on disk.
            os.fdatasync(fd)
            records = [
                (f"{path.name}@{entry.get('at')}", entry)
                for batch in _batches(handle)
                for entry in batch
            ]
            if not records or recover(records):
                settled.touch(mode=0o600)  # not synced: a lost mark only costs a re-read
            offered += 1
    return offered


def _read_record(name: str) -> bytes:
    segment, _, offset = name.partition("@")
    with _segment_path(segment).open("rb") as handle:
        handle.seek(int(offset))
        header = handle.read(_RECORD_LENGTH.size)
        if len(header) != _RECORD_LENGTH.size:
            raise OSError(f"segment record {name} is missing")
        (length,) = _RECORD_LENGTH.unpack(header)
        data = handle.read(length)
    if len(data) != length:
        raise OSError(f"segment record {name} is truncated")
    return data


def read_blob(name: str) -> bytes:
    if "@" in name:
        return _read_record(name)
    return _blob_path(name).read_bytes()


def delete_blob(name: str) -> None:
    """Remove a blob; a segment record is overwritten with zeros (its wrapped data key too)."""
    if "@" not in name:
        _blob_path(name).unlink(missing_ok=True)
        return
    segment, _, offset = name.partition("@")
    path = _segment_path(segment)
    if not path.exists():
        return
    with path.open("r+b") as handle:
        handle.seek(int(offset))
        (length,) = _RECORD_LENGTH.unpack(handle.read(_RECORD_LENGTH.size))
        handle.write(bytes(length))
        handle.flush()
        os.fsync(handle.fileno())
