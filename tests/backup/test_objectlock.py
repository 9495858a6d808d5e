"""Immutable copies on moto's S3 with Object Lock, and append-only storage: rules at our layer."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from egide.backup.archiver import BackupOptions, run_backup
from egide.backup.errors import DeletionRefused
from egide.backup.localstore import LocalStorage
from egide.backup.objectlock import AppendOnlyStorage, LockMode, ObjectLockStorage
from egide.backup.pruner import forget_snapshots
from egide.backup.repository import init_repository
from egide.backup.retention import RetentionPolicy
from egide.backup.s3store import S3Location
from egide.backup.snapshot import list_snapshots

from .conftest import FAST_KDF, PASSPHRASE
from .corpus import make_tree


def locked_bucket(endpoint: str) -> S3Location:
    bucket = "verrou-" + secrets.token_hex(5)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    return S3Location(bucket, "cabinet", endpoint, "us-east-1", "testing", "testing")


@pytest.mark.parametrize("mode", [LockMode.COMPLIANCE, LockMode.GOVERNANCE])
def test_objects_are_written_locked_and_cannot_be_deleted_or_shortened(
    s3_endpoint: str, mode: LockMode
) -> None:
    storage = ObjectLockStorage(locked_bucket(s3_endpoint), mode, timedelta(days=30))
    storage.put("snapshots/abc", b"instantane")
    retention = storage.retention("snapshots/abc")
    assert retention.mode is mode and retention.until is not None
    assert retention.until > datetime.now(UTC) + timedelta(days=29)
    with pytest.raises(DeletionRefused, match="verrouillé"):
        storage.delete("snapshots/abc")
    with pytest.raises(DeletionRefused, match="raccourcie"):
        storage.extend("snapshots/abc", datetime.now(UTC) + timedelta(days=1))
    longer = storage.extend("snapshots/abc", retention.until + timedelta(days=10))
    assert storage.retention("snapshots/abc").until == longer.until
    assert storage.get("snapshots/abc") == b"instantane"
    storage.put("locks/bail", b"x")  # leases stay unlocked: released normally
    storage.delete("locks/bail")


def test_the_bucket_itself_refuses_deleting_a_locked_version_even_bypassing_our_layer(
    s3_endpoint: str,
) -> None:
    location = locked_bucket(s3_endpoint)
    ObjectLockStorage(location, LockMode.COMPLIANCE).put("data/ab/cd", b"pack")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    version = client.list_object_versions(Bucket=location.bucket)["Versions"][0]
    with pytest.raises(ClientError):
        client.delete_object(Bucket=location.bucket, Key=version["Key"],
                             VersionId=version["VersionId"])  # fmt: skip


def test_the_operator_prunes_only_once_retention_has_run_out(
    s3_endpoint: str, tmp_path: Path
) -> None:
    storage = ObjectLockStorage(
        locked_bucket(s3_endpoint), LockMode.GOVERNANCE, timedelta(seconds=2)
    )
    repo = init_repository(storage, PASSPHRASE, FAST_KDF, tmp_path / "cache")
    with repo:
        options = BackupOptions((str(make_tree(tmp_path / "src")),))
        run_backup(repo, options)
        run_backup(repo, options)
        with pytest.raises(DeletionRefused):
            forget_snapshots(repo, RetentionPolicy(last=1))
        time.sleep(2.5)  # let the short test retention run out (not a timing assertion)
        _kept, removed = forget_snapshots(repo, RetentionPolicy(last=1))
        assert len(removed) == 1 and len(list_snapshots(repo)) == 1


def test_an_append_only_repository_refuses_deletion_and_overwrite_but_not_backups(
    tmp_path: Path,
) -> None:
    storage = AppendOnlyStorage(LocalStorage(tmp_path / "repo"))
    repo = init_repository(storage, PASSPHRASE, FAST_KDF, tmp_path / "cache")
    with repo:
        options = BackupOptions((str(make_tree(tmp_path / "src")),))
        run_backup(repo, options)
        run_backup(repo, options)  # leases are still taken and released
        with pytest.raises(DeletionRefused):
            forget_snapshots(repo, RetentionPolicy(last=1))
        name = next(iter(storage.list("snapshots/"))).name
        with pytest.raises(DeletionRefused):
            storage.put(name, b"autre chose")
        storage.put(name, storage.get(name))  # a retried identical upload is fine
    assert len(list(storage.list("snapshots/"))) == 2


def test_egide_backup_append_only_refuses_forget_with_a_clear_message(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from egide.cli.main import cli

    env = {"EGIDE_BACKUP_PASSPHRASE": PASSPHRASE.decode(), "EGIDE_BACKUP_REPOSITORY": ""}
    base = ["backup", "-r", str(tmp_path / "repo"), "--cache-dir", str(tmp_path / "c")]
    runner = CliRunner()
    source = str(make_tree(tmp_path / "src"))
    assert runner.invoke(cli, [*base, "init", "--kdf-memory", "8", "--kdf-time", "1"],
                         env=env).exit_code == 0  # fmt: skip
    for _ in range(2):
        assert runner.invoke(cli, [*base, "--append-only", "run", source], env=env).exit_code == 0
    refused = runner.invoke(cli, [*base, "--append-only", "forget", "--keep-last", "1"], env=env)
    assert refused.exit_code == 1
    assert "ajout seul" in refused.output and "opérateur" in refused.output


def test_the_operator_cli_cannot_forget_a_locked_snapshot_before_its_retention_ends(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from egide.cli.main import cli

    location = locked_bucket(s3_endpoint)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "EGIDE_BACKUP_PASSPHRASE": PASSPHRASE.decode()}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    base = ["backup", "-r", f"s3://{location.bucket}/cabinet", "--s3-endpoint", s3_endpoint,
            "--cache-dir", str(tmp_path / "c"), "--object-lock", "compliance"]  # fmt: skip
    runner = CliRunner()
    source = str(make_tree(tmp_path / "src"))
    assert (
        runner.invoke(cli, [*base, "init", "--kdf-memory", "8", "--kdf-time", "1"]).exit_code == 0
    )
    for _ in range(2):
        assert runner.invoke(cli, [*base, "run", source]).exit_code == 0
    refused = runner.invoke(cli, [*base, "forget", "--keep-last", "1"])
    assert refused.exit_code == 1 and "verrouillé" in refused.output
    listing = runner.invoke(cli, [*base, "--json", "snapshots"])
    assert len(json.loads(listing.output.strip().splitlines()[-1])["snapshots"]) == 2
