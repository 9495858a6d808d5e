"""Group commit of inbound SMTP mail: one fsync for many messages, `250` once each is durable.

The relay listener answers `250` only when a message is encrypted at rest, recorded and audited
(ADR 0015). Doing that one message at a time costs three fsyncs per message (blob, its
directory, the database commit). Here the connections that finished their DATA while a commit
was in progress are stored together by the next one:

1. their raw bytes, each sealed with its mailbox's key, are appended to the process's
   append-only segment file (`storage.append_segment`: one fdatasync; the directory is fsynced
   once per segment, when it is created);
2. one database transaction inserts a routing row per message and mailbox (headers only,
   `summarised=False`) and appends their audit entries (`audit.record_many`) while that
   fdatasync runs, waits for it, then commits.

Only then is each waiting connection told its message is stored. Nothing is answered before
step 2 commits: a crash in between leaves unreferenced records and no `250` given.

There is no commit thread: the first caller that finds no commit in progress leads one for all
the callers waiting (its own message included) in its own thread and database connection, the
others wait; when it is done, one of the callers still waiting leads the next batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from django.db import connection, transaction

from egide.console.audit import services as audit
from egide.crypto import envelope
from egide.messaging import mime
from egide.messaging.errors import MessagingError

from . import services, storage
from .models import Mailbox, Message

MAX_BATCH_MESSAGES = 64
MAX_BATCH_BYTES = 32 * 1024 * 1024

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Waiting(Generic[Item, Result]):
    item: Item
    size: int
    done: bool = False
    result: Result | None = None
    error: BaseException | None = None


class GroupCommit(Generic[Item, Result]):
    """Run `commit` on batches of items submitted concurrently; `submit` returns its item's result.

    `commit` receives a batch and returns one result per item, in order. If it raises for a
    batch of several items, each is retried alone, so that one bad item fails only itself.
    """

    def __init__(
        self,
        commit: Callable[[list[Item]], list[Result]],
        *,
        max_items: int = MAX_BATCH_MESSAGES,
        max_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self._commit = commit
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._condition = threading.Condition()
        self._queue: list[_Waiting[Item, Result]] = []
        self._committing = False
        self.batches = 0  # counters, for the benchmark
        self.items = 0

    def submit(self, item: Item, size: int = 0) -> Result:
        waiting: _Waiting[Item, Result] = _Waiting(item, size)
        with self._condition:
            self._queue.append(waiting)
            while True:
                while not waiting.done and self._committing:
                    self._condition.wait()
                if waiting.done:
                    break
                batch = self._take()
                self._committing = True
                self._condition.release()
                try:
                    self._run(batch)
                finally:
                    self._condition.acquire()
                    self._committing = False
                    self._condition.notify_all()
        if waiting.error is not None:
            raise waiting.error
        return waiting.result  # type: ignore[return-value]

    def _take(self) -> list[_Waiting[Item, Result]]:
        batch = [self._queue.pop(0)]
        size = batch[0].size
        while self._queue and len(batch) < self._max_items:
            if size + self._queue[0].size > self._max_bytes:
                break
            size += self._queue[0].size
            batch.append(self._queue.pop(0))
        return batch

    def _run(self, batch: list[_Waiting[Item, Result]]) -> None:
        self.batches += 1
        self.items += len(batch)
        try:
            results = self._commit([w.item for w in batch])
        except BaseException as error:
            if len(batch) == 1:
                batch[0].error = error
            else:
                for waiting in batch:
                    self._run([waiting])
            for waiting in batch:
                waiting.done = True
            return
        for waiting, result in zip(batch, results, strict=True):
            waiting.result, waiting.done = result, True


@dataclass(frozen=True)
class Arrival:
    """One accepted message for some hosted mailboxes, headers already read."""

    mailboxes: Sequence[Mailbox]
    raw: bytes = field(repr=False)
    headers: mime.ReceivedMessage | None
    envelope_from: str
    actor: str


def store_batch(arrivals: list[Arrival]) -> list[list[Message]]:
    """Make a batch durable: one segment, one transaction; the rows stored for each arrival."""
    targets = [(arrival, box) for arrival in arrivals for box in arrival.mailboxes]
    keys = {box.pk: storage.mailbox_key(bytes(box.wrapped_key), box.address) for _, box in targets}

    def sealer(raw: bytes, box: Mailbox) -> Callable[[str], bytes]:
        return lambda name: envelope.seal_message(
            keys[box.pk], raw, mailbox_id=box.address, message_id=name
        )

    appended = storage.append_segment([sealer(arrival.raw, box) for arrival, box in targets])
    rows = [
        services.pending_row(
            box, arrival.raw, arrival.headers, blob=name, envelope_from=arrival.envelope_from
        )
        for (arrival, box), name in zip(targets, appended.names, strict=True)
    ]
    with transaction.atomic():
        if connection.features.can_return_rows_from_bulk_insert:
            Message.objects.bulk_create(rows)
        else:  # pragma: no cover - every backend we support returns the new keys
            for row in rows:
                row.save()
        audit.record_many(
            [
                audit.Event(
                    "message.stored",
                    practice_id=box.practice_id,
                    actor=arrival.actor,
                    object_type="message",
                    object_id=row.pk,
                    details={"mailbox": box.address, "folder": str(row.folder)},
                )
                for (arrival, box), row in zip(targets, rows, strict=True)
            ]
        )
        appended.wait_durable()  # the bytes are on disk before a row naming them commits
    stored: list[list[Message]] = []
    position = 0
    for arrival in arrivals:
        stored.append(rows[position : position + len(arrival.mailboxes)])
        position += len(arrival.mailboxes)
    return stored


_group = GroupCommit(store_batch)


def group() -> GroupCommit[Arrival, list[Message]]:
    """The process's group commit (one per process: batches are per process)."""
    return _group


def accept(
    mailboxes: Sequence[Mailbox], raw: bytes, *, envelope_from: str, actor: str
) -> list[Message]:
    """Store one inbound message for its hosted mailboxes, durably, within the next batch.

    Returns when the batch holding it is committed. Inside a caller's transaction, the
    message is stored alone (a batch committed there would not be durable on return).
    """
    try:
        headers: mime.ReceivedMessage | None = mime.parse_headers(raw)
    except MessagingError:
        headers = None  # the full parse in the background says what is wrong
    arrival = Arrival(tuple(mailboxes), raw, headers, envelope_from, actor)
    if connection.in_atomic_block:
        return store_batch([arrival])[0]
    return _group.submit(arrival, len(raw) * len(arrival.mailboxes))
