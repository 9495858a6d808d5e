"""The audit hash format is frozen: a third party recomputes it from an export."""

from __future__ import annotations

from datetime import UTC, datetime

from egide.console.audit.chain import GENESIS_HASH, entry_fields, hash_fields

GOLDEN_FIELDS = entry_fields(
    chain="practice:7",
    seq=1,
    at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    practice_id=7,
    actor_id=42,
    actor="dr.martin",
    on_behalf_of="",
    action="message.read",
    object_type="message",
    object_id="1234",
    ip="127.0.0.1",
    details={"mailbox": "claire.martin@tilleuls.egide-sante.fr", "é": 1},
    prev=GENESIS_HASH,
)
GOLDEN_HASH = "6d5fedd01760d508983d6167d6d2f740a3ddc122b843b3751493126a30287288"


def test_the_hash_of_version_one_entries_never_changes() -> None:
    assert GOLDEN_FIELDS["at"] == "2026-01-02T03:04:05.000006+00:00"
    assert hash_fields(GOLDEN_FIELDS) == GOLDEN_HASH


def test_any_changed_field_changes_the_hash() -> None:
    for key in ("seq", "actor", "action", "object_id", "prev", "details"):
        changed = dict(GOLDEN_FIELDS)
        changed[key] = {"x": 1} if key == "details" else 99 if key == "seq" else "autre"
        assert hash_fields(changed) != GOLDEN_HASH
