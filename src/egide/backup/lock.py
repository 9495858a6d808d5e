"""Leases instead of locks: a crashed client blocks nobody for more than `LEASE_SECONDS`.

`locks/<random id>` is a JSON document {"exclusive", "host", "pid", "created", "expires"}.
Backups take a shared lease, prune takes an exclusive one. A holder renews its lease every third
of its life from a background thread; a lease whose `expires` is past is ignored (and removed by
the next exclusive taker), so a PC that crashed or was switched off releases the repository on
its own after at most 15 minutes — at once when the dead holder ran on this same host (its pid
no longer exists). Taking a lease is optimistic: write ours, then list; on conflict remove ours
and report who holds the repository.

A holder that was paused longer than its lease (a laptop put to sleep) may have lost it; the
archiver then re-checks that every pack it relies on still exists before writing its snapshot.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass

from .errors import RepositoryLocked, StorageError
from .storage import Storage

PREFIX = "locks/"
LEASE_SECONDS = 900.0


@dataclass(frozen=True)
class LeaseInfo:
    """A lease found in the repository."""

    name: str
    exclusive: bool
    host: str
    pid: int
    expires: float

    def live(self, now: float) -> bool:
        """Not expired, and not held by a process of this host that no longer exists."""
        if self.expires < now:
            return False
        if self.host == socket.gethostname() and self.pid > 0:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
        return True


def read_leases(storage: Storage) -> list[LeaseInfo]:
    """Every lease present (live or expired)."""
    found = []
    for info in storage.list(PREFIX):
        try:
            document = json.loads(storage.get(info.name))
            found.append(
                LeaseInfo(
                    info.name,
                    bool(document["exclusive"]),
                    str(document["host"]),
                    int(document["pid"]),
                    float(document["expires"]),
                )
            )
        except (StorageError, ValueError, KeyError, TypeError):
            # Unreadable or vanished: treat as a shared lease that ends with its own life.
            found.append(LeaseInfo(info.name, False, "?", 0, info.modified + LEASE_SECONDS))
    return found


class Lease:
    """A lease held by this process; use as a context manager."""

    def __init__(self, storage: Storage, exclusive: bool, lease_seconds: float = LEASE_SECONDS):
        self.storage = storage
        self.exclusive = exclusive
        self.lease_seconds = lease_seconds
        self.name = PREFIX + secrets.token_hex(16)
        self.expires = 0.0
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _write(self) -> None:
        expires = time.time() + self.lease_seconds
        document = {
            "exclusive": self.exclusive,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "created": time.time(),
            "expires": expires,
        }
        self.storage.put(self.name, json.dumps(document).encode())
        self.expires = expires

    def acquire(self) -> Lease:
        """Take the lease or raise RepositoryLocked naming the holder."""
        self._write()
        now = time.time()
        for other in read_leases(self.storage):
            if other.name == self.name or not other.live(now):
                continue
            if self.exclusive or other.exclusive:
                self.storage.delete(self.name)
                raise RepositoryLocked(
                    f"repository in use by {other.host} (pid {other.pid},"
                    f" {'exclusive' if other.exclusive else 'shared'}) until"
                    f" {time.strftime('%H:%M:%S', time.localtime(other.expires))}"
                )
        if self.exclusive:
            for other in read_leases(self.storage):
                if not other.live(now) and other.name != self.name:
                    self.storage.delete(other.name)
        self._renewer = threading.Thread(target=self._renew, name="lease-renewer", daemon=True)
        self._renewer.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                self._write()
            except StorageError:
                continue  # retried at the next tick; `valid` tells the holder if it ran out

    def valid(self) -> bool:
        """Whether the lease is certainly still ours (not expired)."""
        return time.time() < self.expires

    def release(self) -> None:
        """Stop renewing and remove the lease."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        with contextlib.suppress(StorageError):  # it expires on its own
            self.storage.delete(self.name)

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, *_: object) -> None:
        self.release()
