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
   fdatasync runs, waits for it, then commits without an fsync of its own: the segment, with
   its batch trailer, is the durable record.

Only then is each waiting connection told its message is stored. A commit lost with a power
cut is rebuilt from the segment by `recover` at the next start (ADR 0015).

There is no commit thread: the first caller that finds no commit in progress leads one for all
the callers waiting (its own message included) in its own thread and database connection, the
others wait; when it is done, one of the callers still waiting leads the next batch.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

from django.conf import settings
from django.db import connection, transaction

from egide.console.audit import services as audit
from egide.console.rows import insert as insert_rows
from egide.crypto import envelope
from egide.crypto.errors import CryptoError
from egide.messaging import mime
from egide.messaging.errors import MessagingError

from . import services, storage
from .models import Mailbox, Message

log = logging.getLogger(__name__)

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
        outcomes = commit_each(self._commit, [w.item for w in batch])
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                waiting.error = outcome
            else:
                waiting.result = outcome
            waiting.done = True


def commit_each(
    commit: Callable[[list[Item]], list[Result]], items: list[Item]
) -> list[Result | BaseException]:
    """`commit(items)`, one result per item; if it raises for several items, each is committed
    alone, so that one bad item fails only itself (its error in its place)."""
    try:
        return list(commit(items))
    except BaseException as error:
        if len(items) == 1:
            return [error]
        return [commit_each(commit, [item])[0] for item in items]


@dataclass(frozen=True)
class Arrival:
    """One accepted message for some hosted mailboxes, headers already read."""

    mailboxes: Sequence[Mailbox]
    raw: bytes = field(repr=False)
    headers: mime.ReceivedMessage | None
    envelope_from: str
    actor: str
    # The ingest process's request (ADR 0038): kept in the record's recovery mapping, so that
    # the listener can tell, after the process died, which of its requests were stored.
    request: str = ""


def _recovery(arrival: Arrival, box: Mailbox) -> dict[str, str]:
    recovery = {"mailbox": box.address, "from": arrival.envelope_from, "actor": arrival.actor}
    if arrival.request:
        recovery["request"] = arrival.request
    return recovery


@contextmanager
def _commit_without_fsync() -> Iterator[None]:
    """A transaction whose commit does not wait for the disk: the segment is the durable record.

    SQLite (WAL): `synchronous=NORMAL` for this commit only (the WAL is synced at the next
    checkpoint or by the next commit of another connection, which keeps its FULL). PostgreSQL:
    `synchronous_commit=off` for this transaction. Either way a crash can only lose the last
    commits, whole and in order; the recovery pass rebuilds them from the segment.
    """
    sqlite = connection.vendor == "sqlite"
    if sqlite:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous=NORMAL")
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            yield
    finally:
        if sqlite:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA synchronous=FULL")
            except Exception:  # never leave this connection without fsync: a new one has FULL
                connection.close()


def _insert(messages: list[Message], events: list[audit.Event]) -> None:
    insert_rows(messages)  # one statement, without the ORM's compiler (ADR 0022)
    audit.record_many(
        [replace(event, object_id=row.pk) for event, row in zip(events, messages, strict=True)]
    )


def _stored_event(arrival: Arrival, box: Mailbox, row: Message, **extra: object) -> audit.Event:
    return audit.Event(
        "message.stored",
        practice_id=box.practice_id,
        actor=arrival.actor,
        object_type="message",
        details={"mailbox": box.address, "folder": str(row.folder), **extra},
    )


def store_batch(
    arrivals: list[Arrival], *, in_caller_transaction: bool = False
) -> list[list[Message]]:
    """Make a batch durable: one segment fdatasync, then one transaction; the rows stored.

    The segment is the durable record (ADR 0015): its records and their batch trailer are
    fdatasync'ed, then the rows and audit entries are committed without an fsync of their
    own. Inside a caller's transaction the batch has no trailer (never recovered: the
    caller's transaction may still roll back) and the caller's commit makes it durable.
    """
    targets = [(arrival, box) for arrival in arrivals for box in arrival.mailboxes]
    keys = {box.pk: storage.mailbox_key(bytes(box.wrapped_key), box.address) for _, box in targets}

    def sealer(raw: bytes, box: Mailbox) -> Callable[[str], bytes]:
        return lambda name: envelope.seal_message(
            keys[box.pk], raw, mailbox_id=box.address, message_id=name
        )

    appended = storage.append_segment(
        [sealer(arrival.raw, box) for arrival, box in targets],
        None if in_caller_transaction else [_recovery(a, box) for a, box in targets],
    )
    try:
        rows = [
            services.pending_row(
                box, arrival.raw, arrival.headers, blob=name, envelope_from=arrival.envelope_from
            )
            for (arrival, box), name in zip(targets, appended.names, strict=True)
        ]
        events = [
            _stored_event(arrival, box, row)
            for (arrival, box), row in zip(targets, rows, strict=True)
        ]
        if in_caller_transaction:
            _insert(rows, events)
            appended.wait_durable()
        else:
            appended.wait_durable()  # the durable record first: a crash from here is recovered
            _fault_point()
            _checkpoints.wait()  # no commit while the log is copied back: it then starts over
            with _commit_without_fsync():
                _insert(rows, events)
    except BaseException:
        if not in_caller_transaction:
            _withdraw(appended.names)
        raise
    if not in_caller_transaction:
        _checkpoints.committed(len(rows))
    stored: list[list[Message]] = []
    position = 0
    for arrival in arrivals:
        stored.append(rows[position : position + len(arrival.mailboxes)])
        position += len(arrival.mailboxes)
    return stored


class Checkpoints:
    """SQLite's WAL checkpoint, run after the `250`s instead of inside the ingest commit.

    SQLite checkpoints automatically in the commit that finds more than 1000 pages in the
    log: two fsyncs and the pages copied, about one ingest commit in 75, before its `250`
    (ADR 0031). Here, once `every` messages were committed since the last one, a PASSIVE
    checkpoint starts in a thread of its own (its own connection) as soon as the batch that
    crossed the mark is committed, so that batch is answered at once; the next batch seals and
    syncs its records meanwhile, and waits for the checkpoint only before its own commit
    (`wait`). No ingest commit overlaps a pass, so the pass copies the whole log and SQLite
    starts it over (ADR 0031 found the log growing when passes overlapped commits). Every
    `every` messages ≈ 13 pages each: below the automatic mark, which stays as a safety net.
    Nothing changes in what is durable before `250` (the segment is the record, ADR 0015).
    PostgreSQL: nothing to do.
    """

    def __init__(self, every: int = 48) -> None:
        self.every = every
        self._since = 0
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal-checkpoint")
        self.passes = 0  # for tests
        self.whole = False

    def wait(self, timeout: float = 5.0) -> None:
        """Until no pass runs (a pass that hangs holds no commit back for long: a commit that
        overlaps one is still correct, the log then only starts over at a later pass)."""
        self._idle.wait(timeout)

    def committed(self, messages: int) -> None:
        if connection.vendor != "sqlite":
            return
        with self._lock:
            self._since += messages
            if self._since < self.every or not self._idle.is_set():
                return
            self._since = 0
            self._idle.clear()
        self._thread.submit(self._run)

    def _run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                _, frames, copied = cursor.fetchone()
            self.passes += 1
            self.whole = frames == copied  # the log copied back whole: SQLite starts it over
        except Exception:  # the next pass, or SQLite's own in a commit, does the work
            log.exception("WAL checkpoint after an ingest batch failed")
        finally:
            connection.close()  # no connection left behind in this thread
            self._idle.set()


_checkpoints = Checkpoints()


def _withdraw(names: list[str]) -> None:
    """A batch that failed is answered `451`: its records must never be recovered (the peer
    sends the message again). Zeroed, they no longer open, so the recovery pass skips them."""
    for name in names:
        try:
            storage.delete_blob(name)
        except OSError:
            log.exception("failed batch record %s not withdrawn", name)


def _fault_point() -> None:
    """Crash tests only (`EGIDE_TEST_KILL_AFTER_SEGMENT_SYNC=N`): SIGKILL this process after
    its N-th synced batch, before the database commit."""
    after = getattr(settings, "EGIDE_TEST_KILL_AFTER_SEGMENT_SYNC", 0)
    if not after:
        return
    with _fault_lock:
        _fault_count[0] += 1
        if _fault_count[0] >= after:
            os.kill(os.getpid(), signal.SIGKILL)


_fault_lock = threading.Lock()
_fault_count = [0]


def recover(requests: dict[str, list[int]] | None = None) -> int:
    """Rebuild the rows and audit entries of synced records whose commit was lost; how many.

    Run at start-up, before listening. Idempotent: a record whose blob name has a row is
    skipped, and so is one that no longer opens (withdrawn after a failure, zeroed by a
    deletion, torn) or that a `message.purged` entry names (purged, not yet zeroed).
    Segments of live writers are left to them (`storage.recover_segments`).

    `requests`: filled with the ingest process's requests (ADR 0038) found stored in the
    segments offered, committed before or recovered now: request → its rows' ids.
    """
    recovered = [0]

    def found(meta: dict[str, object], pk: int) -> None:
        if requests is not None and meta.get("request"):
            requests.setdefault(str(meta["request"]), []).append(pk)

    def segment(records: list[tuple[str, dict[str, object]]]) -> bool:
        names = [name for name, _ in records]
        known = dict(Message.objects.filter(blob__in=names).values_list("blob", "pk"))
        for name, meta in records:
            if name in known:
                found(meta, known[name])
        missing = [(name, meta) for name, meta in records if name not in known]
        # Purged over IMAP, the process gone before it zeroed the record: finish the purge.
        purged = audit.named_in("message.purged", "blob", [name for name, _ in missing])
        for name in purged:
            storage.delete_blob(name)
        missing = [(name, meta) for name, meta in missing if name not in purged]
        if not missing:
            return True
        settled = True
        boxes = {
            box.address: box
            for box in Mailbox.objects.filter(
                address__in={str(m.get("mailbox")) for _, m in missing}
            )
        }
        rows: list[Message] = []
        events: list[audit.Event] = []
        metas: list[dict[str, object]] = []
        for name, meta in missing:
            box = boxes.get(str(meta.get("mailbox")))
            if box is None:
                log.warning("segment record %s: mailbox %s is gone", name, meta.get("mailbox"))
                continue
            try:
                raw = envelope.open_message(
                    storage.mailbox_key(bytes(box.wrapped_key), box.address),
                    storage.read_blob(name),
                    mailbox_id=box.address,
                    message_id=name,
                )
            except OSError as error:  # unreadable now: try again at the next start-up
                log.warning("segment record %s not readable: %s", name, error)
                settled = False
                continue
            except (ValueError, CryptoError):
                continue  # withdrawn or deleted (zeroed): never acknowledged as stored
            try:
                headers: mime.ReceivedMessage | None = mime.parse_headers(raw)
            except MessagingError:
                headers = None
            arrival = Arrival(
                (box,), raw, headers, str(meta.get("from", "")), str(meta.get("actor", ""))
            )
            row = services.pending_row(
                box, raw, headers, blob=name, envelope_from=arrival.envelope_from
            )
            rows.append(row)
            events.append(_stored_event(arrival, box, row, recovered=True))
            metas.append(meta)
        if rows:
            with transaction.atomic():
                _insert(rows, events)
            for meta, row in zip(metas, rows, strict=True):
                found(meta, row.pk)
            recovered[0] += len(rows)
            log.warning("recovered %d message(s) from a segment after a crash", len(rows))
        return settled

    storage.recover_segments(segment)
    return recovered[0]


_group = GroupCommit(store_batch)


def group() -> GroupCommit[Arrival, list[Message]]:
    """The process's group commit (one per process: batches are per process)."""
    return _group


def arrival_of(
    mailboxes: Sequence[Mailbox], raw: bytes, *, envelope_from: str, actor: str, request: str = ""
) -> Arrival:
    """One message to store, its headers read (for the provisional row)."""
    try:
        headers: mime.ReceivedMessage | None = mime.parse_headers(raw)
    except MessagingError:
        headers = None  # the full parse in the background says what is wrong
    return Arrival(tuple(mailboxes), raw, headers, envelope_from, actor, request)


def accept(
    mailboxes: Sequence[Mailbox], raw: bytes, *, envelope_from: str, actor: str
) -> list[Message]:
    """Store one inbound message for its hosted mailboxes, durably, within the next batch.

    Returns when the batch holding it is committed. Inside a caller's transaction, the
    message is stored alone (a batch committed there would not be durable on return).
    """
    arrival = arrival_of(mailboxes, raw, envelope_from=envelope_from, actor=actor)
    if connection.in_atomic_block:
        return store_batch([arrival], in_caller_transaction=True)[0]
    return _group.submit(arrival, len(raw) * len(arrival.mailboxes))
