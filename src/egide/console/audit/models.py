"""Audit entries and the head of each hash chain.

Each practice has its own chain (`practice:<id>`); operator-level events go to the `operator`
chain. An entry's hash covers its fields and the previous entry's hash, so editing, removing or
reordering an entry breaks the chain; the chain head (length and last hash) also reveals a
truncated tail. Entries never hold health content: only ids, labels and actions.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models

from .chain import GENESIS_HASH


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete an audit entry."""


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("the audit trail is append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("the audit trail is append-only")


class AuditChain(models.Model):
    """The current head of one chain; updated in the same transaction as each append."""

    key = models.CharField(max_length=64, unique=True)
    length = models.PositiveBigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    def __str__(self) -> str:
        return f"{self.key} ({self.length})"


class AuditEntry(models.Model):
    chain = models.CharField(max_length=64)
    seq = models.PositiveBigIntegerField()
    at = models.DateTimeField()
    practice_id = models.BigIntegerField(null=True, blank=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor = models.CharField(max_length=150, blank=True)
    on_behalf_of = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=80, blank=True)
    object_id = models.CharField(max_length=120, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)

    objects: ClassVar[models.Manager[AuditEntry]] = AuditEntryQuerySet.as_manager()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_entry_chain_seq"),
        ]
        indexes: ClassVar = [models.Index(fields=["practice_id", "at"])]
        ordering: ClassVar = ["chain", "seq"]

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("the audit trail is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("the audit trail is append-only")
