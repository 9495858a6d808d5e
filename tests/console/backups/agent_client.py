"""What an agent sends, built the way `egide agent` builds it."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.test import Client

from egide.console.accounts.tokens import hash_secret, split_token
from egide.console.backups.reports import canonical, drill_signature

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse


def now_iso(shift: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + shift).isoformat()


def backup_run(**overrides: Any) -> dict[str, Any]:
    run: dict[str, Any] = {
        "version": 1,
        "started_at": now_iso(-timedelta(minutes=3)),
        "finished_at": now_iso(),
        "sent_at": now_iso(),
        "status": "success",
        "snapshot_id": "3f9a1c2e",
        "repository": "s3://hds-cabinet/tilleuls",
        "immutable": True,
        "files": 2400,
        "bytes_read": 1_073_741_824,
        "bytes_added": 20_971_520,
        "warnings": 0,
        "suspect": False,
        "suspect_reasons": [],
        "error": "",
    }
    run.update(overrides)
    return run


def signed_drill(token: str, failures: int = 0) -> dict[str, Any]:
    parts = split_token(token, "egide-agent")
    assert parts is not None
    result = {
        "version": 1,
        "performed_at": now_iso(),
        "snapshot_id": "3f9a1c2e",
        "files_checked": 25,
        "bytes_checked": 10_485_760,
        "failures": failures,
    }
    return {
        "result": result,
        "sha256": hashlib.sha256(canonical(result)).hexdigest(),
        "signature": drill_signature(hash_secret(parts[1]), result),
    }


def post(client: Client, path: str, token: str, body: Any) -> TestResponse:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        path, payload, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
