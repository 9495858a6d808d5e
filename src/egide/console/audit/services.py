"""Writing, verifying and exporting the audit trail. The one audit writer every app calls."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from egide.console import rows

from .chain import GENESIS_HASH, entry_fields, hash_fields
from .models import AuditChain, AuditEntry

OPERATOR_CHAIN = "operator"
_FORBIDDEN_DETAIL_KEYS = {"body", "content", "subject", "password", "passphrase", "code"}


def chain_key(practice_id: int | None) -> str:
    """The chain an event belongs to: its practice's, or the operator's."""
    return f"practice:{practice_id}" if practice_id is not None else OPERATOR_CHAIN


def record(
    action: str,
    *,
    practice_id: int | None,
    actor_id: int | None = None,
    actor: str = "",
    on_behalf_of: str = "",
    object_type: str = "",
    object_id: str | int = "",
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one event to its practice's chain and return the stored entry.

    `details` holds identifiers and counts only; keys that usually carry content are refused so
    that a careless caller cannot leak health data into the journal.
    """
    event = Event(
        action,
        practice_id=practice_id,
        actor_id=actor_id,
        actor=actor,
        on_behalf_of=on_behalf_of,
        object_type=object_type,
        object_id=object_id,
        ip=ip,
        details=details,
    )
    [entry] = record_many([event])
    return entry


@dataclass(frozen=True)
class Event:
    """One event for `record_many` (the keyword arguments of `record`)."""

    action: str
    practice_id: int | None
    actor_id: int | None = None
    actor: str = ""
    on_behalf_of: str = ""
    object_type: str = ""
    object_id: str | int = ""
    ip: str | None = None
    details: dict[str, Any] | None = None


def record_many(events: Sequence[Event]) -> list[AuditEntry]:
    """Append several events at once: one statement per chain head, one insert for all entries.

    Same entries, hashes and order as calling `record` for each event in turn (`record` is this
    with one event; the SMTP group commit audits a whole batch of stored messages at once).

    The head of each chain is taken from this process's memory of what it last wrote, and
    moved with an UPDATE that names that head (length and hash): the update finds its row only
    if nobody appended since, and then holds the row's lock to the end of the transaction. When
    it finds nothing (another process or thread appended, a transaction rolled back, first use),
    the head is read under lock (`select_for_update`) as before and that chain's entries are
    hashed again. The memory only saves the read: the database's head always decides.
    """
    for event in events:
        leaked = _FORBIDDEN_DETAIL_KEYS & set(event.details or {})
        if leaked:
            raise ValueError(f"audit details must not carry content: {sorted(leaked)}")
    if not events:
        return []
    by_chain: dict[str, list[int]] = {}
    for position, event in enumerate(events):
        by_chain.setdefault(chain_key(event.practice_id), []).append(position)
    entries: list[AuditEntry | None] = [None] * len(events)
    with transaction.atomic():
        at = timezone.now()  # after BEGIN: on SQLite the write lock is held from there
        for key in sorted(by_chain):  # one lock order
            positions = by_chain[key]
            known = _heads.get(key)
            if known is not None:
                chained, head = _chain(key, [events[p] for p in positions], known, at)
                if not _advance(key, known, head):
                    known = None  # moved by someone else: read it under lock
            if known is None:
                current = _locked_head(key)
                chained, head = _chain(key, [events[p] for p in positions], current, at)
                AuditChain.objects.filter(key=key).update(length=head[0], head_hash=head[1])
            for position, entry in zip(positions, chained, strict=True):
                entries[position] = entry
            _heads[key] = head  # a rollback makes it stale: the next `_advance` finds out
        created = [entry for entry in entries if entry is not None]
        rows.insert(created)
    return created


# What this process last wrote as each chain's head: (length, hash). A hint, checked by
# `_advance` in the database at every use (dict operations are atomic under the GIL).
_heads: dict[str, tuple[int, str]] = {}


def _locked_head(key: str) -> tuple[int, str]:
    head = AuditChain.objects.select_for_update().filter(key=key).first()
    if head is None:  # a new chain: create it, then lock it
        AuditChain.objects.get_or_create(key=key)
        head = AuditChain.objects.select_for_update().get(key=key)
    return head.length, head.head_hash


def _advance(key: str, known: tuple[int, str], head: tuple[int, str]) -> bool:
    """Move the chain's head from `known` to `head`; False when `known` is not the head."""
    with connection.cursor() as cursor:
        cursor.execute(_advance_sql(), [head[0], head[1], key, known[0], known[1]])
        return bool(cursor.rowcount == 1)


@cache
def _advance_sql() -> str:
    quote = connection.ops.quote_name
    length, head_hash, key = (quote(n) for n in ("length", "head_hash", "key"))
    return (  # names from our model, values as parameters
        f"UPDATE {quote(AuditChain._meta.db_table)} SET {length} = %s, {head_hash} = %s "  # noqa: S608
        f"WHERE {key} = %s AND {length} = %s AND {head_hash} = %s"
    )


def _chain(
    key: str, events: Sequence[Event], head: tuple[int, str], at: datetime
) -> tuple[list[AuditEntry], tuple[int, str]]:
    """The entries of `events` appended to one chain whose head is `head`, and the new head."""
    length, previous = head
    entries = []
    for event in events:
        stored: dict[str, Any] = {
            "chain": key,
            "seq": length + 1,
            "at": at,
            "practice_id": event.practice_id,
            "actor_id": event.actor_id,
            "actor": event.actor,
            "on_behalf_of": event.on_behalf_of,
            "action": event.action,
            "object_type": event.object_type,
            "object_id": str(event.object_id),
            "ip": event.ip,
            "details": dict(event.details or {}),
        }
        digest = hash_fields(entry_fields(**stored, prev=previous))
        entries.append(AuditEntry(**stored, prev_hash=previous, entry_hash=digest))
        length, previous = length + 1, digest
    return entries, (length, previous)


def named_in(action: str, detail: str, values: Collection[str]) -> set[str]:
    """Which of `values` an entry of `action` names in its `detail` field (e.g. the blobs that
    `message.purged` entries name). A scan of that action's entries: for rare paths such as
    the recovery pass after a crash."""
    if not values:
        return set()
    lookup = {f"details__{detail}__in": list(values)}
    found = AuditEntry.objects.filter(action=action, **lookup).values_list(
        f"details__{detail}", flat=True
    )
    return {str(value) for value in found}


def client_ip(request: HttpRequest) -> str | None:
    """The peer address as seen by the server (proxies are configured at the edge)."""
    value = request.META.get("REMOTE_ADDR")
    return str(value) if value else None


def record_request(
    request: HttpRequest,
    action: str,
    *,
    object_type: str = "",
    object_id: str | int = "",
    on_behalf_of: str = "",
    details: dict[str, Any] | None = None,
    practice_id: int | None = None,
) -> AuditEntry:
    """Record an event done by the request's user, in the user's practice unless given."""
    user = request.user
    authenticated = bool(getattr(user, "is_authenticated", False))
    if practice_id is None and authenticated:
        practice_id = getattr(user, "practice_id", None)
    return record(
        action,
        practice_id=practice_id,
        actor_id=getattr(user, "pk", None) if authenticated else None,
        actor=str(getattr(user, "username", "")) if authenticated else "",
        on_behalf_of=on_behalf_of,
        object_type=object_type,
        object_id=object_id,
        ip=client_ip(request),
        details=details,
    )


@dataclass(frozen=True)
class ChainProblem:
    """The first defect found in one chain."""

    chain: str
    seq: int
    entry_id: int | None
    kind: str  # "altered" | "removed" | "reordered" | "truncated"
    message: str


def _fields_of(entry: AuditEntry) -> dict[str, Any]:
    return entry_fields(
        chain=entry.chain,
        seq=entry.seq,
        at=entry.at,
        practice_id=entry.practice_id,
        actor_id=entry.actor_id,
        actor=entry.actor,
        on_behalf_of=entry.on_behalf_of,
        action=entry.action,
        object_type=entry.object_type,
        object_id=entry.object_id,
        ip=entry.ip,
        details=entry.details,
        prev=entry.prev_hash,
    )


def verify_chain(key: str) -> ChainProblem | None:
    """Recompute one chain; return its first problem, or None when it is intact."""
    entries = AuditEntry.objects.filter(chain=key).order_by("seq")
    hashes = set(entries.values_list("entry_hash", flat=True))
    prev = GENESIS_HASH
    expected_seq = 1
    for entry in entries.iterator():
        if entry.seq != expected_seq:
            return ChainProblem(
                key,
                expected_seq,
                entry.id,
                "removed",
                f"entrée n°{expected_seq} absente "
                f"(la suivante, id {entry.id}, porte le n°{entry.seq})",
            )
        if hash_fields(_fields_of(entry)) != entry.entry_hash:
            return ChainProblem(
                key,
                entry.seq,
                entry.id,
                "altered",
                f"entrée n°{entry.seq} (id {entry.id}) modifiée : "
                "son contenu ne correspond plus à son empreinte",
            )
        if entry.prev_hash != prev:
            kind = "reordered" if entry.prev_hash in hashes else "removed"
            what = "déplacée" if kind == "reordered" else "précédée d'une entrée supprimée"
            return ChainProblem(
                key, entry.seq, entry.id, kind, f"entrée n°{entry.seq} (id {entry.id}) {what}"
            )
        prev = entry.entry_hash
        expected_seq += 1
    head = AuditChain.objects.filter(key=key).first()
    if head is not None and (head.length != expected_seq - 1 or head.head_hash != prev):
        return ChainProblem(
            key,
            expected_seq,
            None,
            "truncated",
            f"la chaîne s'arrête au n°{expected_seq - 1} "
            f"alors que sa tête annonce {head.length} entrées",
        )
    return None


def chain_keys() -> list[str]:
    """Every chain, whether it still has entries or only a head."""
    keys = set(AuditChain.objects.values_list("key", flat=True))
    keys.update(AuditEntry.objects.values_list("chain", flat=True).distinct())
    return sorted(keys)


def verify_all() -> Iterator[tuple[str, ChainProblem | None]]:
    """Each chain with its first problem (None when intact)."""
    for key in chain_keys():
        yield key, verify_chain(key)


def export_chain(practice_id: int) -> dict[str, Any]:
    """The practice's journal with its chain head, verifiable by a third party."""
    key = chain_key(practice_id)
    head = AuditChain.objects.filter(key=key).first()
    entries = [
        {**_fields_of(entry), "hash": entry.entry_hash}
        for entry in AuditEntry.objects.filter(chain=key).order_by("seq").iterator()
    ]
    return {
        "format": "egide-audit-export",
        "version": 1,
        "chain": key,
        "hash_algorithm": "sha256",
        "genesis": GENESIS_HASH,
        "head": {
            "length": head.length if head else 0,
            "hash": head.head_hash if head else GENESIS_HASH,
        },
        "entries": entries,
        "exported_at": timezone.now().isoformat(),
    }
