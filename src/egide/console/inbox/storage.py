"""Where message bytes live: encrypted blobs on disk, keys from the operator's key file.

The master key file is read once per process. In the embedded default it is generated in
`EGIDE_KEY_DIR` (not in the data directory), so that a copy of the data directory alone is useless.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from pathlib import Path

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
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def read_blob(name: str) -> bytes:
    return _blob_path(name).read_bytes()


def delete_blob(name: str) -> None:
    _blob_path(name).unlink(missing_ok=True)
