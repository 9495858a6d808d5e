"""Several events appended at once (the SMTP group commit) make the same chains as one by one."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import transaction

from egide.console.accounts.models import Practice
from egide.console.audit import services as audit_services
from egide.console.audit.models import AuditEntry
from egide.console.audit.services import (
    OPERATOR_CHAIN,
    Event,
    chain_key,
    record,
    record_many,
    verify_chain,
)

pytestmark = pytest.mark.django_db


def test_a_batch_interleaved_with_single_records_keeps_every_chain_intact(
    make_practice: Callable[..., Practice],
) -> None:
    first, second = make_practice("Cabinet A", "a"), make_practice("Cabinet B", "b")
    record("message.read", practice_id=first.pk, actor="dr.x", object_id=1)
    created = record_many(
        [
            Event("message.stored", practice_id=first.pk, actor="smtp:192.0.2.1", object_id=2),
            Event("message.stored", practice_id=second.pk, actor="smtp:192.0.2.1", object_id=3),
            Event("smtp.refused", practice_id=None, actor="smtp:192.0.2.1", object_id="rcpt"),
            Event("message.stored", practice_id=first.pk, actor="smtp:192.0.2.1", object_id=4),
        ]
    )
    record("message.read", practice_id=first.pk, actor="dr.x", object_id=5)
    assert [e.pk is not None for e in created] == [True] * 4
    chain = AuditEntry.objects.filter(
        chain=chain_key(first.pk), action__startswith="message."
    ).order_by("seq")
    assert list(chain.values_list("object_id", flat=True)) == ["1", "2", "4", "5"]
    for key in (chain_key(first.pk), chain_key(second.pk), OPERATOR_CHAIN):
        assert verify_chain(key) is None


def test_content_is_refused_in_a_batch_as_in_a_single_record() -> None:
    with pytest.raises(ValueError, match="content"):
        record_many([Event("message.stored", practice_id=None, details={"subject": "x"})])
    assert not AuditEntry.objects.exists()


def test_a_head_moved_by_another_writer_is_read_again_and_the_chain_stays_intact(
    make_practice: Callable[..., Practice], monkeypatch: pytest.MonkeyPatch
) -> None:
    practice = make_practice("Cabinet A", "a")
    record("message.read", practice_id=practice.pk, object_id=1)
    # Another process appends: its head is not the one this process remembers.
    remembered = dict(audit_services._heads)
    record("message.read", practice_id=practice.pk, object_id=2)
    monkeypatch.setattr(audit_services, "_heads", remembered)
    record_many([Event("message.stored", practice_id=practice.pk, object_id=3)])
    chain = AuditEntry.objects.filter(
        chain=chain_key(practice.pk), action__startswith="message."
    ).order_by("seq")
    assert list(chain.values_list("object_id", flat=True)) == ["1", "2", "3"]
    assert verify_chain(chain_key(practice.pk)) is None


def test_a_rolled_back_append_leaves_no_gap_in_the_chain(
    make_practice: Callable[..., Practice],
) -> None:
    practice = make_practice("Cabinet A", "a")
    record("message.read", practice_id=practice.pk, object_id=1)
    with pytest.raises(RuntimeError), transaction.atomic():
        record("message.read", practice_id=practice.pk, object_id=2)
        raise RuntimeError("the caller's transaction fails")
    record("message.read", practice_id=practice.pk, object_id=3)
    chain = AuditEntry.objects.filter(
        chain=chain_key(practice.pk), action__startswith="message."
    ).order_by("seq")
    assert list(chain.values_list("object_id", flat=True)) == ["1", "3"]
    assert verify_chain(chain_key(practice.pk)) is None
