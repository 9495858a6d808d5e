"""`rows.insert`: the same rows as `bulk_create`, keys read back, in one statement."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from egide.console.audit.models import AuditChain, AuditEntry
from egide.console.rows import insert

pytestmark = pytest.mark.django_db


def _entry(seq: int, **details: str) -> AuditEntry:
    from django.utils import timezone

    return AuditEntry(
        chain="test",
        seq=seq,
        at=timezone.now(),
        practice_id=None,
        action="test.row",
        object_id=str(seq),
        ip="192.0.2.7" if seq % 2 else None,
        details=details,
        prev_hash="0" * 64,
        entry_hash=f"{seq:064x}",
    )


def test_it_inserts_every_row_in_one_statement_and_gives_each_its_key() -> None:
    entries = [_entry(1, mailbox="a@x.test"), _entry(2), _entry(3, folder="inbox")]
    with CaptureQueriesContext(connection) as queries:
        insert(entries)
    assert len(queries) == 1
    stored = {e.pk: e for e in AuditEntry.objects.filter(chain="test")}
    assert sorted(stored) == sorted(e.pk for e in entries)
    for entry in entries:
        again = stored[entry.pk]
        assert (again.seq, again.ip, again.details, again.at) == (
            entry.seq,
            entry.ip,
            entry.details,
            entry.at,
        )
        assert not entry._state.adding


def test_it_fills_fields_set_on_save_and_defaults() -> None:
    head = AuditChain(key="defaults")
    insert([head])
    again = AuditChain.objects.get(pk=head.pk)
    assert (again.key, again.length, again.head_hash) == ("defaults", 0, "0" * 64)


def test_an_empty_list_inserts_nothing() -> None:
    with CaptureQueriesContext(connection) as queries:
        insert([])
    assert len(queries) == 0
