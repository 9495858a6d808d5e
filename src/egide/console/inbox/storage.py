"""Where message bytes live: encrypted blobs on disk, keys from the operator's key file.

Two kinds of blob names: `<mailbox>-<random>` is a file of its own; `seg-<random>@<offset>` is
one record of an append-only segment file, where the SMTP group commit (ADR 0015) appends a
whole batch of inbound messages with one fdatasync. A record is an 8-byte big-endian length,
then the sealed bytes. Each process appends to its own segment, up to `SEGMENT_BYTES`.

The master key file is read once per process. In the embedded default it is generated in
`EGIDE_KEY_DIR` (not in the data directory), so that a copy of the data directory alone is useless.
"""

from __future__ import annotations

import os
import secrets
import struct
import threading
from collections.abc import Callable, Sequence
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


def _segment_path(segment: str) -> Path:
    return Path(settings.EGIDE_MAIL_DIR) / "seg" / segment[4:6] / segment


# A segment grows until this size, then the next batch starts a new one.
SEGMENT_BYTES = 64 * 1024 * 1024


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
        self.handle = os.fdopen(fd, "wb")
        self.size = 0
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


def append_segment(sealers: Sequence[Callable[[str], bytes]]) -> Appended:
    """Append records to this process's segment; their blob names, and a way to wait for disk.

    Each sealer receives its record's blob name (the encryption binds the bytes to it) and
    returns the sealed bytes. The records are written at once and fdatasync'ed in the
    background, so that the caller can prepare its database rows meanwhile; it must call
    `wait_durable` before committing anything that names them. After a failure, or in a new
    process, records go to a new segment: a torn tail is never extended.
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
            for seal in sealers:
                name = f"{_segment.name}@{offset}"
                sealed = seal(name)
                handle.write(_RECORD_LENGTH.pack(len(sealed)))
                handle.write(sealed)
                names.append(name)
                offset += _RECORD_LENGTH.size + len(sealed)
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
