"""Reminders: what is due soon or overdue becomes a dated reminder, raised once per item.

Run nightly by `tasks.remind_nightly`; a reminder whose gap has disappeared is marked done.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from egide.console.accounts.models import Practice
from egide.console.audit.services import record

from .findings import findings_for
from .models import Reminder, ScoreSnapshot
from .queries import current_framework
from .services import take_score_snapshot

HORIZON = timedelta(days=14)


def _key(kind: str, ref: str, object_type: str, object_id: str) -> str:
    return f"{kind}:{ref}:{object_type}:{object_id}"[:120]


def raise_reminders(practice: Practice) -> list[Reminder]:
    """Create reminders for gaps due within two weeks; close those no longer found."""
    now = timezone.now()
    raised = []
    with transaction.atomic():
        found = findings_for(practice)
        keys = set()
        for item in found:
            key = _key(item.kind, item.ref, item.object_type, item.object_id)
            keys.add(key)
            if item.deadline > now + HORIZON:
                continue
            reminder, created = Reminder.objects.get_or_create(
                practice=practice,
                key=key,
                defaults={
                    "ref": item.ref,
                    "message": item.message[:300],
                    "due_on": item.deadline_date,
                },
            )
            if created:
                raised.append(reminder)
        Reminder.objects.filter(practice=practice, done_at__isnull=True).exclude(
            key__in=keys
        ).update(done_at=now)
        if raised:
            record(
                "compliance.reminders_raised",
                practice_id=practice.pk,
                actor="worker",
                object_type="practice",
                object_id=practice.pk,
                details={"count": len(raised), "refs": sorted({item.ref for item in raised})},
            )
    return raised


def snapshot_if_due(practice: Practice) -> ScoreSnapshot | None:
    """One score snapshot a day at most, so the history chart has points without noise."""
    if current_framework() is None:
        return None
    last = ScoreSnapshot.objects.filter(practice=practice).order_by("-taken_at").first()
    if last is not None and last.taken_at > timezone.now() - timedelta(hours=20):
        return None
    return take_score_snapshot(practice)
