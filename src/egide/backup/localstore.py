"""A repository in a local directory (a USB disk, a NAS mount).

Writes go to a temporary file in the same directory, are fsynced, renamed over the final name and
the directory is fsynced, so a crash leaves either the whole object or nothing.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from .errors import ObjectMissing, StorageError, StorageFull
from .storage import ObjectInfo

_TEMP_SUFFIX = ".tmp"


class LocalStorage:
    """The `Storage` protocol over a directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        if name.startswith("/") or ".." in name.split("/"):
            raise StorageError(f"invalid object name {name!r}")
        return self.root / name

    def put(self, name: str, data: bytes | bytearray) -> None:
        """See `Storage.put`."""
        path = self._path(name)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{_TEMP_SUFFIX}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
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
