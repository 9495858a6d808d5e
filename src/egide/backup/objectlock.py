"""Immutable copies: a repository in an S3 bucket with Object Lock, and append-only storage.

`ObjectLockStorage` writes every repository object (all but `locks/`, the short-lived leases) with
an Object Lock retention — COMPLIANCE (nobody, not even the bucket's root account, can shorten it)
or GOVERNANCE (a privileged identity may bypass it) — for a configurable period. The bucket must
have been created with Object Lock enabled (hence versioned). Rules enforced here, not left to the
provider (moto, for one, accepts shortening a COMPLIANCE retention and answers 500 when retention
is read with GetObjectRetention — so it is read from HeadObject's headers):

* retention is only ever extended, never shortened, and COMPLIANCE is never downgraded;
* `delete` refuses an object whose retention has not run out; once it has (the operator's prune),
  every version of the object is removed, so that the space is really freed.

`AppendOnlyStorage` wraps any storage and refuses deletion and overwrite of repository objects
(leases under `locks/` excepted, as restic's rest-server `--append-only` does): the local
repository's append-only mode, and what the gateway (`gateway.py`) puts in front of the bucket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from botocore.exceptions import ClientError

from .errors import DeletionRefused, ObjectMissing
from .s3store import S3Location, S3Storage, _Translated, body
from .storage import ObjectInfo, Storage

UNLOCKED_PREFIX = "locks/"


class LockMode(Enum):
    """S3 Object Lock retention modes."""

    COMPLIANCE = "COMPLIANCE"
    GOVERNANCE = "GOVERNANCE"


@dataclass(frozen=True)
class Retention:
    """An object's retention: its mode and the moment it ends (None: not locked)."""

    mode: LockMode | None
    until: datetime | None


def _now() -> datetime:
    return datetime.now(UTC)


class ObjectLockStorage(S3Storage):
    """The `Storage` protocol over an Object Lock bucket: every object written locked."""

    def __init__(
        self,
        location: S3Location,
        mode: LockMode = LockMode.COMPLIANCE,
        period: timedelta = timedelta(days=30),
        clock: Callable[[], datetime] = _now,
    ) -> None:
        super().__init__(location)
        self.mode = mode
        self.period = period
        self._clock = clock

    def put(self, name: str, data: bytes | bytearray | memoryview) -> None:
        """Store `data` locked until now + the period (leases under `locks/` stay unlocked)."""
        if name.startswith(UNLOCKED_PREFIX):
            super().put(name, data)
            return
        with _Translated(name):
            self._client.put_object(
                Bucket=self.location.bucket,
                Key=self._key(name),
                Body=body(data),  # type: ignore[arg-type]
                ObjectLockMode=self.mode.value,
                ObjectLockRetainUntilDate=self._clock() + self.period,
            )

    def retention(self, name: str) -> Retention:
        """The current retention of `name` (from HeadObject: GetObjectRetention is unreliable)."""
        with _Translated(name):
            head = self._client.head_object(Bucket=self.location.bucket, Key=self._key(name))
        mode = head.get("ObjectLockMode")
        return Retention(LockMode(mode) if mode else None, head.get("ObjectLockRetainUntilDate"))

    def extend(self, name: str, until: datetime) -> Retention:
        """Extend the retention of `name` to `until`; shortening or downgrading is refused."""
        current = self.retention(name)
        if current.until is not None and until < current.until:
            raise DeletionRefused(
                f"{name} : la rétention ne peut pas être raccourcie"
                f" ({current.until.isoformat()} → {until.isoformat()})"
            )
        mode = self.mode
        if current.mode is LockMode.COMPLIANCE:
            mode = LockMode.COMPLIANCE
        with _Translated(name):
            self._client.put_object_retention(
                Bucket=self.location.bucket,
                Key=self._key(name),
                Retention={"Mode": mode.value, "RetainUntilDate": until},
            )
        return Retention(mode, until)

    def delete(self, name: str) -> None:
        """Remove every version of `name`, only once its retention has run out."""
        if not name.startswith(UNLOCKED_PREFIX):
            try:
                current = self.retention(name)
            except ObjectMissing:
                return
            if current.until is not None and current.until > self._clock():
                raise DeletionRefused(
                    f"{name} est verrouillé jusqu'au {current.until:%Y-%m-%d %H:%M} UTC"
                )
        with _Translated(name):
            listing = self._client.list_object_versions(
                Bucket=self.location.bucket, Prefix=self._key(name)
            )
            versions = [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]
            for version in versions:
                if version["Key"] != self._key(name):
                    continue
                try:
                    self._client.delete_object(
                        Bucket=self.location.bucket,
                        Key=version["Key"],
                        VersionId=version["VersionId"],
                    )
                except ClientError as error:
                    raise DeletionRefused(
                        f"{name} : suppression refusée par le stockage"
                    ) from error


class AppendOnlyStorage:
    """Wraps a storage: objects may be added and read, never deleted or overwritten."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner

    def put(self, name: str, data: bytes | bytearray | memoryview) -> None:
        """See `Storage.put`; an existing repository object is never replaced by other bytes."""
        if not name.startswith(UNLOCKED_PREFIX):
            try:
                existing = self.inner.get(name)
            except ObjectMissing:
                pass
            else:
                # Same bytes: a retried upload whose first attempt did land. Anything else is
                # an attempt to replace data, which append-only forbids.
                if existing == bytes(data):
                    return
                raise DeletionRefused(f"{name} existe déjà : dépôt en ajout seul")
        self.inner.put(name, data)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """See `Storage.get`."""
        return self.inner.get(name, offset, length)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """See `Storage.list`."""
        return self.inner.list(prefix)

    def delete(self, name: str) -> None:
        """Refused, except for leases (`locks/`)."""
        if not name.startswith(UNLOCKED_PREFIX):
            raise DeletionRefused(f"suppression de {name} refusée : dépôt en ajout seul")
        self.inner.delete(name)

    def describe(self) -> str:
        """See `Storage.describe`."""
        return self.inner.describe() + " (ajout seul)"
