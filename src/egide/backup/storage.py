"""The storage protocol every backend implements, and retries with backoff around it.

Objects are named by slash-separated keys (`data/ab/abcd…`, `index/…`, `snapshots/…`, `keys/…`,
`locks/…`). Content-addressed objects are written once and never overwritten, so a backend that
forbids overwrites and deletes (an append-only gateway, S3 Object Lock) fits the protocol: only
`prune`, `forget`, lock release and key removal call `delete`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from .errors import TransientStorageError

T = TypeVar("T")


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its key, size in bytes and last modification (Unix seconds)."""

    name: str
    size: int
    modified: float


class Storage(Protocol):
    """A flat key/value object store. `put` is atomic and durable when it returns."""

    def put(self, name: str, data: bytes | bytearray | memoryview) -> None:
        """Store `data` under `name`, atomically (all or nothing) and durably."""

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Read `length` bytes of `name` from `offset` (everything when None)."""

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose name starts with `prefix`."""

    def delete(self, name: str) -> None:
        """Remove `name`; removing a missing object is not an error."""

    def describe(self) -> str:
        """A human-readable location, for messages."""


class RetryingStorage:
    """Wraps a backend; retries TransientStorageError with jittered exponential backoff."""

    def __init__(
        self,
        inner: Storage,
        attempts: int = 6,
        base_delay: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.inner = inner
        self._attempts = attempts
        self._base_delay = base_delay
        self._sleep = sleep

    def _retry(self, call: Callable[[], T]) -> T:
        for attempt in range(self._attempts):
            try:
                return call()
            except TransientStorageError:
                if attempt == self._attempts - 1:
                    raise
                # Full jitter: concurrent clients hitting the same throttled bucket spread out.
                self._sleep(random.uniform(0, self._base_delay * 2**attempt))  # noqa: S311
        raise AssertionError("unreachable")

    def put(self, name: str, data: bytes | bytearray | memoryview) -> None:
        """See `Storage.put`."""
        self._retry(lambda: self.inner.put(name, data))

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """See `Storage.get`."""
        return self._retry(lambda: self.inner.get(name, offset, length))

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """See `Storage.list` (materialised so that a retry restarts cleanly)."""
        return iter(self._retry(lambda: list(self.inner.list(prefix))))

    def delete(self, name: str) -> None:
        """See `Storage.delete`."""
        self._retry(lambda: self.inner.delete(name))

    def describe(self) -> str:
        """See `Storage.describe`."""
        return self.inner.describe()
