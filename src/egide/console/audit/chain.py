"""The hash of an audit entry: SHA-256 over a canonical JSON encoding of its fields.

Format (version 1, frozen by tests/console/audit/test_chain.py): the UTF-8 bytes of
`json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` where `fields` is
{"v": 1, "chain", "seq", "at" (ISO 8601 UTC with microseconds), "practice_id", "actor_id",
"actor", "on_behalf_of", "action", "object_type", "object_id", "ip", "details", "prev"}.
A third party can recompute it from an export with any JSON library.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

HASH_VERSION = 1
GENESIS_HASH = "0" * 64
"""The `prev` of the first entry of every chain."""


def canonical_at(at: datetime) -> str:
    """The timestamp as hashed: UTC, ISO 8601, always with microseconds."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def entry_fields(
    *,
    chain: str,
    seq: int,
    at: datetime,
    practice_id: int | None,
    actor_id: int | None,
    actor: str,
    on_behalf_of: str,
    action: str,
    object_type: str,
    object_id: str,
    ip: str | None,
    details: dict[str, Any],
    prev: str,
) -> dict[str, Any]:
    """The dictionary that is hashed and exported for one entry."""
    return {
        "v": HASH_VERSION,
        "chain": chain,
        "seq": seq,
        "at": canonical_at(at),
        "practice_id": practice_id,
        "actor_id": actor_id,
        "actor": actor,
        "on_behalf_of": on_behalf_of,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "ip": ip,
        "details": details,
        "prev": prev,
    }


def hash_fields(fields: dict[str, Any]) -> str:
    """The hex SHA-256 of the canonical encoding of `fields`."""
    encoded = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()
