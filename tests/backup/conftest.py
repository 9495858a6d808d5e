"""Fixtures: every engine test runs on a local directory and on S3 (moto's server over HTTP)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from egide.backup.localstore import LocalStorage
from egide.backup.repository import Repository, init_repository
from egide.backup.s3store import S3Location, S3Storage
from egide.backup.storage import RetryingStorage, Storage
from egide.crypto.kdf import Argon2Params

FAST_KDF = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)
PASSPHRASE = b"correct horse battery staple"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def make_s3_location(endpoint: str) -> S3Location:
    bucket = "egide-test-" + secrets.token_hex(6)
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=bucket)
    return S3Location(
        bucket=bucket,
        prefix="cabinet/repo",
        endpoint_url=endpoint,
        access_key_id="testing",
        secret_access_key="testing",
    )


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """A fresh, empty storage on each backend."""
    if request.param == "local":
        return RetryingStorage(LocalStorage(tmp_path / "repo"), base_delay=0.01)
    endpoint = request.getfixturevalue("s3_endpoint")
    return RetryingStorage(S3Storage(make_s3_location(endpoint)), base_delay=0.01)


@pytest.fixture
def repo(storage: Storage, tmp_path: Path) -> Iterator[Repository]:
    """An initialised repository on each backend, with a small pack size to get several packs."""
    from egide.backup.repository import RepositorySettings

    repository = init_repository(
        storage,
        PASSPHRASE,
        FAST_KDF,
        tmp_path / "cache",
        RepositorySettings(pack_size=1 << 20),
    )
    yield repository
    repository.close()
