"""A repository in a local directory (a USB disk, a NAS mount).

Writes go to a temporary file in the same directory, are fsynced, renamed over the final name and
the directory is fsynced, so a crash leaves either the whole object or nothing.

Large objects (packs) are written with O_DIRECT where the file system takes it (ADR 0033): a pack
lies in its writer's page-aligned map and goes from there to the disk in one call (ADR 0039);
other data goes through a small aligned buffer per thread. Either way, no page-cache copy.
A backup writes hundreds of MiB of packs that nobody reads back soon; buffered, each of their pages
is a fresh page of the page cache to fill (and, on a virtual machine that hands freed memory back
to its host, to fault in again), and they push the practice's own working set out of the cache.
The few bytes past the last aligned block are written buffered; the fsync that follows is the same.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

from .errors import ObjectMissing, StorageError, StorageFull
from .storage import ObjectInfo

_TEMP_SUFFIX = ".tmp"
# O_DIRECT wants the buffer, the file offset and the length aligned on the device's logical block
# (512 or 4096 bytes): a page covers both.
_ALIGN = mmap.PAGESIZE
_DIRECT_MIN = 256 << 10  # smaller objects (index files, snapshots, locks) are written buffered
_STAGE_SIZE = 1 << 20
_O_DIRECT = getattr(os, "O_DIRECT", 0)
_local = threading.local()


def _stage() -> mmap.mmap:
    # Anonymous mmap: page-aligned. One per thread (uploads run on two threads), reused.
    found: mmap.mmap | None = getattr(_local, "stage", None)
    if found is None:
        found = _local.stage = mmap.mmap(-1, _STAGE_SIZE)
    return found


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _aligned(data: memoryview) -> bool:
    """Whether `data` starts on a page boundary (a pack in its writer's map: ADR 0039), so it
    can go to the disk without being staged."""
    if data.readonly or not data.c_contiguous or not data:
        return False
    probe = ctypes.c_char.from_buffer(data)
    try:
        return ctypes.addressof(probe) % _ALIGN == 0
    finally:
        del probe  # the export ends here: `data` can be released


def _write_direct(fd: int, data: memoryview) -> bool:
    """Write `data` into the empty file `fd`, its aligned part with O_DIRECT and the rest
    buffered; False, with nothing written, when the file system refuses O_DIRECT.

    Page-aligned data is written as it lies, in one call; other data through this thread's
    aligned staging buffer, a MiB at a time."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | _O_DIRECT)
    except OSError as error:
        if error.errno == errno.EINVAL:
            return False
        raise
    body = len(data) - len(data) % _ALIGN
    position = 0
    try:
        if _aligned(data):
            while position < body:
                written = os.write(fd, data[position:body])
                position += written
                if written % _ALIGN:
                    break  # a short direct write off the alignment: the rest goes buffered
        else:
            with memoryview(_stage()) as staged:
                while position < body:
                    size = min(_STAGE_SIZE, body - position)
                    staged[:size] = data[position : position + size]
                    written = os.write(fd, staged[:size])
                    position += written
                    if written < size:
                        break  # a short direct write: the rest goes buffered
    except OSError as error:
        if error.errno != errno.EINVAL:
            raise
        # This device wants another alignment: what is written stays (the file offset is
        # after it), the rest goes buffered.
    finally:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)
    if not position:
        return False
    _write_all(fd, data[position:])
    return True


class LocalStorage:
    """The `Storage` protocol over a directory."""

    def __init__(self, root: Path, direct: bool = True) -> None:
        self.root = root
        self._direct = direct  # large objects with O_DIRECT (where the file system takes it)

    def _path(self, name: str) -> Path:
        if name.startswith("/") or ".." in name.split("/"):
            raise StorageError(f"invalid object name {name!r}")
        return self.root / name

    def put(self, name: str, data: bytes | bytearray | memoryview) -> None:
        """See `Storage.put`."""
        path = self._path(name)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{_TEMP_SUFFIX}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with memoryview(data) as view:
                    direct = _O_DIRECT and len(view) >= _DIRECT_MIN and self._direct
                    if not direct or not _write_direct(fd, view):
                        if direct:
                            self._direct = False  # this file system refuses O_DIRECT
                        _write_all(fd, view)
                os.fsync(fd)
            finally:
                os.close(fd)
            temp.replace(path)
            _fsync_dir(path.parent)
        except OSError as error:
            temp.unlink(missing_ok=True)
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull(f"plus d'espace libre dans {self.root}") from error
            raise StorageError(f"cannot write {name}: {error.strerror}") from error

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """See `Storage.get`."""
        try:
            with self._path(name).open("rb") as file:
                if offset:
                    file.seek(offset)
                return file.read() if length is None else file.read(length)
        except FileNotFoundError:
            raise ObjectMissing(f"{name} is missing") from None
        except OSError as error:
            raise StorageError(f"cannot read {name}: {error.strerror}") from error

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """See `Storage.list`."""
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base.is_dir():
            return
        for directory, _dirs, files in os.walk(base):
            for file_name in files:
                if file_name.endswith(_TEMP_SUFFIX):
                    continue
                full = Path(directory) / file_name
                name = full.relative_to(self.root).as_posix()
                if not name.startswith(prefix):
                    continue
                try:
                    stat = full.stat()
                except FileNotFoundError:
                    continue
                yield ObjectInfo(name, stat.st_size, stat.st_mtime)

    def delete(self, name: str) -> None:
        """See `Storage.delete`."""
        try:
            self._path(name).unlink(missing_ok=True)
        except OSError as error:
            raise StorageError(f"cannot delete {name}: {error.strerror}") from error

    def describe(self) -> str:
        """See `Storage.describe`."""
        return str(self.root)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
