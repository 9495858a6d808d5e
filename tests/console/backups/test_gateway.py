"""The storage gateway's HTTP surface: tokens, names, ranges, append-only, missing configuration."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from django.test import Client
from moto.server import ThreadedMotoServer

from egide.console.accounts.models import Practice, User
from egide.console.backups.services import enrol_agent

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def token(make_practice: Callable[..., Practice], make_member: Callable[..., User]) -> str:
    practice = make_practice("Cabinet du Lac", "lac")
    return enrol_agent(practice, "Poste", by=make_member(practice, "dr.lac"))[1]


@pytest.fixture
def gateway(s3_endpoint: str, settings: Any) -> str:
    bucket = "gw-" + secrets.token_hex(5)
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(
        Bucket=bucket, ObjectLockEnabledForBucket=True)  # fmt: skip
    settings.EGIDE_BACKUP_GATEWAY = {"bucket": bucket, "endpoint_url": s3_endpoint,
                                     "access_key_id": "testing", "secret_access_key": "testing",
                                     "mode": "GOVERNANCE", "days": 1}  # fmt: skip
    return bucket


def call(client: Client, method: str, path: str, token: str, **extra: Any) -> Any:
    return client.generic(method, path, HTTP_AUTHORIZATION=f"Bearer {token}", **extra)


def test_without_configuration_the_gateway_answers_503(client: Client, token: str) -> None:
    assert call(client, "GET", "/gateway/?prefix=", token).status_code == 503


def test_a_bad_token_is_refused_and_audited(client: Client, gateway: str, token: str) -> None:
    from egide.console.audit.models import AuditEntry

    response = call(client, "GET", "/gateway/?prefix=", token[:-3] + "abc")
    assert response.status_code == 401
    assert call(client, "GET", "/gateway/config", "").status_code == 401
    assert AuditEntry.objects.filter(action="agent.token_refused").count() == 2


@pytest.mark.parametrize(
    "name", ["secret.txt", "data/../../autre-cabinet/config", "snapshots/a b", "data/" + "x" * 300]
)
def test_names_outside_the_repository_layout_are_refused(
    client: Client, gateway: str, token: str, name: str
) -> None:
    response = call(client, "PUT", f"/gateway/{name}", token, data=b"x")
    assert response.status_code in {400, 404}


def test_write_read_range_list_and_refused_delete_and_overwrite(
    client: Client, gateway: str, token: str, settings: Any
) -> None:
    put = call(client, "PUT", "/gateway/data/ab/abcdef", token, data=b"0123456789",
               content_type="application/octet-stream")  # fmt: skip
    assert put.status_code == 201
    assert call(client, "GET", "/gateway/data/ab/abcdef", token).content == b"0123456789"
    part = call(client, "GET", "/gateway/data/ab/abcdef", token, HTTP_RANGE="bytes=2-4")
    assert (part.status_code, part.content) == (206, b"234")
    assert call(client, "GET", "/gateway/data/ab/absent", token).status_code == 404
    listing = call(client, "GET", "/gateway/?prefix=data/&retention=1", token)
    (item,) = [json.loads(line) for line in b"".join(listing.streaming_content).splitlines()]
    assert item["name"] == "data/ab/abcdef" and item["mode"] == "GOVERNANCE"
    assert item["locked_until"]
    assert call(client, "DELETE", "/gateway/data/ab/abcdef", token).status_code == 403
    again = call(client, "PUT", "/gateway/data/ab/abcdef", token, data=b"autre")
    assert again.status_code == 409
    same = call(client, "PUT", "/gateway/data/ab/abcdef", token, data=b"0123456789")
    assert same.status_code == 201
    assert call(client, "PUT", "/gateway/locks/bail", token, data=b"l").status_code == 201
    assert call(client, "DELETE", "/gateway/locks/bail", token).status_code == 204
    assert call(client, "POST", "/gateway/data/ab/abcdef", token).status_code == 405
    # Objects land under the practice's own prefix in the bucket.
    options = settings.EGIDE_BACKUP_GATEWAY
    s3 = boto3.client("s3", endpoint_url=options["endpoint_url"], region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=gateway)["Contents"]]
    assert keys == ["lac/repository/data/ab/abcdef"]
