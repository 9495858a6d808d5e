"""Errors of the backup engine. Every error that leaves `egide.backup` is one of these.

BackupError
 ├── RepositoryNotFound     no repository at the given location
 ├── RepositoryExists       `init` on a location that already holds one
 ├── UnsupportedFormat      a repository or object written by an unknown format version
 ├── WrongPassphrase        the passphrase opens none of the key slots
 ├── KeySlotError           unknown slot, or removing the last slot
 ├── RepositoryCorrupted    an object fails authentication, its hash, or parsing (names it)
 ├── SnapshotNotFound       no snapshot matches the given id, prefix or `latest`
 ├── RepositoryLocked       a live lease of another client conflicts with this operation
 ├── PlanInvalid            the agent's TOML configuration is malformed (names the field)
 ├── DeliveryFailed         a report could not be handed to the console (`rejected`: refused)
 └── StorageError           the storage backend failed
      ├── DeletionRefused        an append-only or locked storage refused a delete or overwrite
      ├── TransientStorageError  worth retrying (network, throttling, 5xx); retried with backoff
      ├── StorageFull            no space left (never retried)
      └── ObjectMissing          the named object does not exist
"""

from __future__ import annotations


class BackupError(Exception):
    """Base of every error raised by `egide.backup`."""


class RepositoryNotFound(BackupError):
    """There is no repository at this location."""


class RepositoryExists(BackupError):
    """A repository already exists at this location."""


class UnsupportedFormat(BackupError):
    """The repository or one of its objects uses a format version this code does not know."""


class WrongPassphrase(BackupError):
    """The passphrase opens none of the repository's key slots."""


class KeySlotError(BackupError):
    """A key slot operation is impossible (unknown slot, last slot)."""


class RepositoryCorrupted(BackupError):
    """An object of the repository is damaged or was tampered with."""

    def __init__(self, message: str, object_name: str = "") -> None:
        super().__init__(message)
        self.object_name = object_name


class SnapshotNotFound(BackupError):
    """No snapshot matches."""


class RepositoryLocked(BackupError):
    """Another client holds a conflicting lease on the repository."""


class PlanInvalid(BackupError):
    """The agent's configuration is malformed."""


class DeliveryFailed(BackupError):
    """The deliverer could not hand the report over; `rejected` when the console refused it."""

    def __init__(self, message: str, rejected: bool = False) -> None:
        super().__init__(message)
        self.rejected = rejected


class StorageError(BackupError):
    """The storage backend failed."""


class DeletionRefused(StorageError):
    """An append-only or Object Lock storage refused to delete, overwrite or shorten retention."""


class TransientStorageError(StorageError):
    """A storage failure that may succeed when retried."""


class StorageFull(StorageError):
    """The storage has no space left."""


class ObjectMissing(StorageError):
    """The object does not exist in the storage."""
