"""A repository in an S3-compatible bucket (the HDS host's object storage), through boto3.

`put` of one object is atomic on S3. Network errors, throttling and 5xx answers become
`TransientStorageError` so that `RetryingStorage` retries them; botocore's own retries stay on too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .errors import ObjectMissing, StorageError, TransientStorageError
from .storage import ObjectInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_TRANSIENT_CODES = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "503"}


@dataclass(frozen=True)
class S3Location:
    """Where and how to reach the bucket. Credentials come from the caller, never the engine."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None


def body(data: bytes | bytearray | memoryview) -> bytes | bytearray:
    """`data` as botocore takes a body: a view (a pack in its writer's map) is copied once."""
    return data if isinstance(data, bytes | bytearray) else bytes(data)


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` → ("bucket", "some/prefix")."""
    if not url.startswith("s3://"):
        raise StorageError(f"not an s3:// URL: {url}")
    bucket, _, prefix = url[5:].partition("/")
    if not bucket:
        raise StorageError(f"no bucket in {url}")
    return bucket, prefix.strip("/")


class S3Storage:
    """The `Storage` protocol over one bucket and key prefix."""

    def __init__(self, location: S3Location) -> None:
        self.location = location
        self._prefix = location.prefix.strip("/") + "/" if location.prefix.strip("/") else ""
        self._client: S3Client = boto3.client(
            "s3",
            endpoint_url=location.endpoint_url,
            region_name=location.region or "us-east-1",
            aws_access_key_id=location.access_key_id,
            aws_secret_access_key=location.secret_access_key,
            aws_session_token=location.session_token,
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"},
                max_pool_connections=16,
                connect_timeout=10,
                read_timeout=60,
            ),
        )

    def _key(self, name: str) -> str:
        return self._prefix + name

    def put(self, name: str, data: bytes | bytearray | memoryview) -> None:
        """See `Storage.put`."""
        with _Translated(name):
            # botocore sends bytes or a bytearray as they are; a view is copied once (`body`).
            self._client.put_object(
                Bucket=self.location.bucket,
                Key=self._key(name),
                Body=body(data),  # type: ignore[arg-type]
            )

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """See `Storage.get`."""
        extra: dict[str, Any] = {}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            if length == 0:
                return b""
            extra["Range"] = f"bytes={offset}-{end}"
        with _Translated(name):
            answer = self._client.get_object(
                Bucket=self.location.bucket, Key=self._key(name), **extra
            )
            return answer["Body"].read()

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """See `Storage.list`."""
        paginator = self._client.get_paginator("list_objects_v2")
        with _Translated(prefix):
            for page in paginator.paginate(Bucket=self.location.bucket, Prefix=self._key(prefix)):
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        item["Key"][len(self._prefix) :],
                        item["Size"],
                        item["LastModified"].timestamp(),
                    )

    def delete(self, name: str) -> None:
        """See `Storage.delete`."""
        with _Translated(name):
            self._client.delete_object(Bucket=self.location.bucket, Key=self._key(name))

    def describe(self) -> str:
        """See `Storage.describe`."""
        return f"s3://{self.location.bucket}/{self.location.prefix}".rstrip("/")


class _Translated:
    """Maps botocore failures onto the engine's storage errors."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: Any
    ) -> None:
        if error is None:
            return
        if isinstance(error, ClientError):
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if code in ("NoSuchKey", "404", "NoSuchBucket") or status == 404:
                if code == "NoSuchBucket":
                    raise StorageError(f"bucket missing for {self.name}") from error
                raise ObjectMissing(f"{self.name} is missing") from error
            if code in _TRANSIENT_CODES or status >= 500 or status == 429:
                raise TransientStorageError(f"{self.name}: {code or status}") from error
            raise StorageError(f"{self.name}: {code or status}") from error
        if isinstance(error, BotoCoreError):
            raise TransientStorageError(f"{self.name}: {error}") from error
