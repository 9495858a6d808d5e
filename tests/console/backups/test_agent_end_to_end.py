"""End to end: `egide agent` backs up to moto's S3, reports to a live console, alerts follow.

The agent runs in-process through click (the same code as the installed command), the console is
Django's live server on loopback, the bucket is moto's server over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from bench.ransomware_alarm import encrypt_in_place, make_corpus
from click.testing import CliRunner
from django.core import mail
from moto.server import ThreadedMotoServer
from pytest_django.live_server_helper import LiveServer

from egide.backup.errors import DeletionRefused, StorageError
from egide.backup.gatewaystore import GatewayStorage
from egide.backup.objectlock import LockMode, ObjectLockStorage
from egide.backup.repository import init_repository
from egide.backup.s3store import S3Location, S3Storage
from egide.backup.storage import RetryingStorage
from egide.cli.main import cli
from egide.console.accounts.models import Practice, User
from egide.console.audit.models import AuditEntry
from egide.console.backups.models import AlertKind, BackupReport, RestoreDrill
from egide.console.backups.services import enrol_agent
from egide.crypto.kdf import Argon2Params

pytestmark = pytest.mark.django_db(transaction=True)

PASSPHRASE = "phrase de passe du cabinet"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)


def write_plan(tmp_path: Path, console: str, repository: str, endpoint: str, token: str) -> Path:
    (tmp_path / "token").write_text(token + "\n")
    (tmp_path / "token").chmod(0o600)
    (tmp_path / "passphrase").write_text(PASSPHRASE + "\n")
    plan = tmp_path / "agent.toml"
    plan.write_text(
        f"""
host = "poste-accueil"
sources = ["cabinet"]
schedule = ["03:00"]
state_dir = "state"

[repository]
location = "{repository}"
s3_endpoint = "{endpoint}"
passphrase_file = "passphrase"

[drill]
files = 15

[console]
url = "{console}"
token_file = "token"
"""
    )
    return plan


def s3_repository(endpoint: str) -> tuple[str, S3Location]:
    bucket = "hds-" + secrets.token_hex(5)
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=bucket)
    location = S3Location(bucket, "tilleuls", endpoint, "us-east-1", "testing", "testing")
    return f"s3://{bucket}/tilleuls", location


def agent(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["agent", *args])
    return result.exit_code, result.output


def test_agent_to_s3_to_console_through_an_attack_and_a_failed_drill(
    live_server: LiveServer,
    s3_endpoint: str,
    aws: None,
    tmp_path: Path,
    make_practice: Callable[..., Practice],
    make_member: Callable[..., User],
    frameworks: None,
) -> None:
    practice = make_practice("Cabinet des Tilleuls", "tilleuls")
    doctor = make_member(practice, "dr.martin")
    doctor.email = "claire.martin@example.org"
    doctor.save()
    enrolled, token = enrol_agent(practice, "Poste accueil", by=doctor)
    url, location = s3_repository(s3_endpoint)
    storage = RetryingStorage(S3Storage(location), base_delay=0.01)
    fast = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)
    init_repository(storage, PASSPHRASE.encode(), fast, tmp_path / "operator-cache").close()
    make_corpus(tmp_path / "cabinet", seed=77)
    plan = str(write_plan(tmp_path, live_server.url, url, s3_endpoint, token))

    # 1. The scheduled run (missed slot: due at once) backs up, drills, reports.
    code, output = agent("run", "-c", plan, "--once")
    assert code == 0, output
    first = BackupReport.objects.get(agent=enrolled)
    assert first.status == "success" and not first.suspect
    assert first.files > 500 and first.bytes_added > 0
    assert first.repository.startswith(url) and "testing" not in first.repository
    drill = RestoreDrill.objects.get(agent=enrolled)
    assert drill.passed and drill.files_checked == 15
    assert list((tmp_path / "state" / "outbox").glob("*.json")) == []

    # 2. Ransomware encrypts 30 % of the files: the next backup is kept, flagged, alerted.
    encrypt_in_place(tmp_path / "cabinet", 0.30, seed=78)
    code, output = agent("backup", "-c", plan)
    assert code == 0, output
    attacked = BackupReport.objects.filter(agent=enrolled).latest("id")
    assert attacked.suspect and attacked.suspect_reasons
    alert = practice.backup_alerts.get(kind=AlertKind.SUSPECT)
    assert "incompressibles" in alert.message
    assert any("suspecte" in message.subject for message in mail.outbox)

    # 3. Bit rot in the bucket: the next drill fails, is signed, and raises its alert.
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    for item in client.list_objects_v2(Bucket=location.bucket, Prefix="tilleuls/data/")["Contents"]:
        body = bytearray(client.get_object(Bucket=location.bucket, Key=item["Key"])["Body"].read())
        # Rot every 256th byte: every blob a random sample can draw is damaged.
        for position in range(64, len(body), 256):
            body[position] ^= 0xFF
        client.put_object(Bucket=location.bucket, Key=item["Key"], Body=bytes(body))
    code, output = agent("drill", "-c", plan)
    assert code == 1
    failed = RestoreDrill.objects.filter(agent=enrolled).latest("id")
    assert not failed.passed and failed.failures > 0
    assert practice.backup_alerts.filter(kind=AlertKind.DRILL_FAILED).exists()

    # The console never received the passphrase, a file name or file content.
    for report in BackupReport.objects.all():
        assert PASSPHRASE not in str(vars(report)) and "courrier-" not in str(vars(report))


def test_reports_wait_in_the_outbox_while_the_console_is_down_and_leave_once_delivered(
    live_server: LiveServer,
    s3_endpoint: str,
    aws: None,
    tmp_path: Path,
    make_practice: Callable[..., Practice],
    make_member: Callable[..., User],
) -> None:
    practice = make_practice("Cabinet du Port", "port")
    enrolled, token = enrol_agent(practice, "Poste", by=make_member(practice, "dr.port"))
    url, location = s3_repository(s3_endpoint)
    fast = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)
    init_repository(S3Storage(location), PASSPHRASE.encode(), fast, tmp_path / "c").close()
    (tmp_path / "cabinet").mkdir()
    (tmp_path / "cabinet" / "agenda.txt").write_text("rendez-vous " * 1000)
    down = write_plan(tmp_path, "http://127.0.0.1:9", url, s3_endpoint, token)
    code, output = agent("backup", "-c", str(down))
    assert code == 0, output
    assert "en attente" in output
    assert len(list((tmp_path / "state" / "outbox").glob("*.json"))) == 1
    assert not BackupReport.objects.filter(agent=enrolled).exists()

    up = write_plan(tmp_path, live_server.url, url, s3_endpoint, token)
    code, output = agent("run", "-c", str(up), "--once")  # not due again: only the flush
    assert code == 0, output
    assert BackupReport.objects.filter(agent=enrolled).count() == 1
    assert list((tmp_path / "state" / "outbox").glob("*.json")) == []


def locked_gateway(
    settings: Any, s3_endpoint: str, tmp_path: Path, slug: str, *, days: int
) -> tuple[str, ObjectLockStorage]:
    """An Object Lock bucket behind the gateway, and the repository the operator created in it."""
    bucket = "hds-verrou-" + secrets.token_hex(4)
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket, ObjectLockEnabledForBucket=True
    )
    settings.EGIDE_BACKUP_GATEWAY = {
        "bucket": bucket,
        "endpoint_url": s3_endpoint,
        "region": "us-east-1",
        "access_key_id": "testing",
        "secret_access_key": "testing",
        "mode": "COMPLIANCE",
        "days": days,
    }
    # The operator creates the repository with its own identity (bucket credentials).
    location = S3Location(
        bucket, f"{slug}/repository", s3_endpoint, "us-east-1", "testing", "testing"
    )
    operator = ObjectLockStorage(location, LockMode.COMPLIANCE, timedelta(days=days))
    fast = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)
    init_repository(operator, PASSPHRASE.encode(), fast, tmp_path / "operator-cache").close()
    return bucket, operator


def test_through_the_gateway_the_agent_adds_locked_data_and_can_delete_nothing(
    live_server: LiveServer,
    s3_endpoint: str,
    aws: None,
    tmp_path: Path,
    settings: Any,
    make_practice: Callable[..., Practice],
    make_member: Callable[..., User],
) -> None:
    practice = make_practice("Cabinet de la Gare", "gare")
    enrolled, token = enrol_agent(practice, "Poste", by=make_member(practice, "dr.gare"))
    bucket, operator = locked_gateway(settings, s3_endpoint, tmp_path, "gare", days=30)
    make_corpus(tmp_path / "cabinet", seed=5)
    gateway = f"{live_server.url}/gateway/"
    plan = write_plan(tmp_path, live_server.url, gateway, s3_endpoint, token)

    code, output = agent("backup", "-c", str(plan))
    assert code == 0, output
    report = BackupReport.objects.get(agent=enrolled)
    assert report.status == "success" and report.immutable
    assert report.repository == f"{live_server.url}/gateway/"

    # The agent's credential (its token) cannot delete or replace anything...
    client = GatewayStorage(gateway, token)
    snapshot = next(iter(client.list("snapshots/"))).name
    with pytest.raises(DeletionRefused):
        client.delete(snapshot)
    with pytest.raises(DeletionRefused):
        client.put(snapshot, b"rancon")
    assert AuditEntry.objects.filter(action="backup.gateway_refused").count() == 2
    # ...nor reach the gateway with a wrong token.
    with pytest.raises(StorageError, match="401"):
        list(GatewayStorage(gateway, token[:-2] + "xx").list("snapshots/"))
    # Every object is under COMPLIANCE retention; the operator cannot delete it before it ends,
    # nor shorten it, although moto itself would let the shortening through.
    retention = operator.retention(snapshot)
    assert retention.mode is LockMode.COMPLIANCE
    with pytest.raises(DeletionRefused):
        operator.delete(snapshot)
    with pytest.raises(DeletionRefused):
        operator.extend(snapshot, datetime.now(UTC) + timedelta(days=1))
    assert operator.get(snapshot)

    # Behind the gateway's back (a provider console, stolen operator keys), someone shortens a
    # snapshot's COMPLIANCE retention — moto accepts it — and hides an index file behind a
    # delete marker. The agent's next run reports both; the console raises the alert.
    raw = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    raw.put_object_retention(
        Bucket=bucket,
        Key=f"gare/repository/{snapshot}",
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": datetime.now(UTC) + timedelta(days=1)},
    )
    index = next(iter(operator.list("index/"))).name
    raw.delete_object(Bucket=bucket, Key=f"gare/repository/{index}")
    code, output = agent("backup", "-c", str(plan))
    assert code == 0, output
    latest = BackupReport.objects.filter(agent=enrolled).latest("id")
    assert latest.suspect
    reasons = " ".join(latest.suspect_reasons)
    assert "rétention raccourcie" in reasons and "1 index" in reasons
    assert practice.backup_alerts.filter(kind=AlertKind.SUSPECT).exists()


def test_the_gateway_extends_the_locks_of_what_the_latest_snapshot_still_needs(
    live_server: LiveServer,
    s3_endpoint: str,
    aws: None,
    tmp_path: Path,
    settings: Any,
    make_practice: Callable[..., Practice],
    make_member: Callable[..., User],
) -> None:
    from django.utils import timezone

    from egide.console.backups.models import GatewayLock

    practice = make_practice("Cabinet du Parc", "parc")
    _, token = enrol_agent(practice, "Poste", by=make_member(practice, "dr.parc"))
    _, operator = locked_gateway(settings, s3_endpoint, tmp_path, "parc", days=2)
    make_corpus(tmp_path / "cabinet", seed=7)
    gateway = f"{live_server.url}/gateway/"
    plan = write_plan(tmp_path, live_server.url, gateway, s3_endpoint, token)

    assert agent("backup", "-c", str(plan))[0] == 0
    first = AuditEntry.objects.filter(action="backup.gateway_locks_extended").latest("id")
    assert first.details["asked"] > 3 and first.details["extended"] == 0  # all freshly locked
    pack = next(iter(operator.list("data/"))).name
    before = operator.retention(pack).until
    assert before is not None

    # A day and a half later (as the gateway's records see it), the next backup still uses the
    # old packs: the gateway extends their locks, and only lengthens them.
    GatewayLock.objects.filter(practice=practice).update(
        locked_until=timezone.now() + timedelta(hours=1)
    )
    assert agent("backup", "-c", str(plan))[0] == 0
    second = AuditEntry.objects.filter(action="backup.gateway_locks_extended").latest("id")
    assert second.details["extended"] >= 1
    after = operator.retention(pack).until
    assert after is not None and after > before

    with pytest.raises(StorageError, match="400"):
        GatewayStorage(gateway, token).keep(["../../autre-cabinet/config"])
