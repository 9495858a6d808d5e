"""The relay listener's durable storage in a process of its own (ADR 0038).

`egide smtp serve` keeps SMTP, TLS and the DATA reading in the listener process and hands each
message to ONE child ingest process, which owns the segment and the database writes: sealing,
segment append and fdatasync, message rows, audit entries, commit — the group commit of
`ingest` (ADR 0015), several requests in flight batched into one fsync and one commit. The two
processes then run on two cores, each with its own GIL.

They talk over a socketpair in length-prefixed frames of plain bytes (no pickling):

- request: `REQUEST` header (request id, metadata length, message length), the metadata (JSON:
  the recipients' mailbox ids, the envelope sender, the actor, the request's tag), the raw
  message;
- reply: `REPLY` header (request id, body length), the body (JSON: the stored rows' ids, or an
  error).

The listener answers `250` only after the child's reply says the message is stored. A child
error is a `451`, as before. If the child dies, the listener runs the recovery pass over its
segment and answers each delivery in flight from it — `250` if its records are stored, `451`
if not — then stops with a log saying so (see `Child`). The listener dying (even SIGKILL)
closes its end of the socketpair: the child stores what it has already read, then exits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import select
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.db import connection, connections

from . import ingest, storage
from .models import Mailbox

log = logging.getLogger(__name__)

REQUEST = struct.Struct("!QII")  # request id, metadata length, message length
REPLY = struct.Struct("!QI")  # request id, body length
MAX_METADATA = 1 << 20
MAILBOX_CACHE_SECONDS = 1.0


class IngestGone(Exception):
    """The ingest process is gone: the message was not acknowledged (the peer retries)."""


class IngestFailed(Exception):
    """The ingest process could not store the message (its error, as text)."""


@dataclass(frozen=True)
class Request:
    request_id: int
    mailboxes: list[int]
    envelope_from: str
    actor: str
    raw: bytes = field(repr=False)
    tag: str = ""


def pack_request(request: Request) -> tuple[bytes, bytes]:
    """The frame of a request: its header and metadata, then the message itself (not copied)."""
    metadata = json.dumps(
        {
            "mailboxes": request.mailboxes,
            "from": request.envelope_from,
            "actor": request.actor,
            "tag": request.tag,
        },
        separators=(",", ":"),
    ).encode()
    return REQUEST.pack(request.request_id, len(metadata), len(request.raw)) + metadata, request.raw


def pack_reply(request_id: int, rows: Sequence[int] | None = None, error: str = "") -> bytes:
    body = json.dumps({"rows": list(rows or ()), "error": error}, separators=(",", ":")).encode()
    return REPLY.pack(request_id, len(body)) + body


def read_exactly(sock: socket.socket, size: int) -> bytes | None:
    """`size` bytes from `sock`; None at end of stream before the first byte."""
    if size == 0:
        return b""
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        count = sock.recv_into(view[got:], size - got)
        if count == 0:
            if got == 0:
                return None
            raise EOFError(f"stream cut after {got} of {size} bytes")
        got += count
    return bytes(buffer)


def read_request(sock: socket.socket) -> Request | None:
    """The next request, None at end of stream (the listener is gone)."""
    header = read_exactly(sock, REQUEST.size)
    if header is None:
        return None
    request_id, meta_size, raw_size = REQUEST.unpack(header)
    if meta_size > MAX_METADATA:
        raise ValueError(f"request {request_id}: metadata of {meta_size} bytes")
    metadata = json.loads(read_exactly(sock, meta_size) or b"")
    raw = read_exactly(sock, raw_size)
    if raw is None:
        raise EOFError(f"request {request_id} cut before its message")
    return Request(
        request_id,
        [int(pk) for pk in metadata["mailboxes"]],
        str(metadata["from"]),
        str(metadata["actor"]),
        raw,
        str(metadata.get("tag", "")),
    )


def read_reply(sock: socket.socket) -> tuple[int, list[int], str] | None:
    """The next reply (request id, stored rows, error); None at end of stream."""
    header = read_exactly(sock, REPLY.size)
    if header is None:
        return None
    request_id, size = REPLY.unpack(header)
    body = json.loads(read_exactly(sock, size) or b"")
    return request_id, [int(pk) for pk in body["rows"]], str(body["error"])


# The listener's side.


@dataclass
class _Slot:
    done: threading.Event = field(default_factory=threading.Event)
    rows: list[int] = field(default_factory=list)
    error: Exception | None = None


class Child:
    """The listener's handle on its ingest process: `store` from any thread, replies matched.

    `store` sends a request and waits for its reply; any number of threads may wait at once
    (one per connection delivering), and their requests reach the child's group commit
    together. A reader thread matches each reply to its request by id.

    If the child dies (or its stream breaks), the requests still waiting are settled exactly:
    the child is killed and reaped (its segment's lock released), `recover` runs the recovery
    pass over its segment, and each waiting request whose records are stored (committed, or
    synced and now recovered) gets its rows — a `250`, as the child would have answered; the
    others, never durable, get `IngestGone` (a `451`: the peer sends them again, once).
    Every later request gets `IngestGone`, and `on_gone` is called once (`egide smtp serve`
    then stops with an error; its supervisor starts it again).
    """

    def __init__(
        self,
        sock: socket.socket,
        pid: int,
        on_gone: Callable[[str], None] | None = None,
        recover: Callable[[dict[str, list[int]]], object] | None = None,
    ) -> None:
        self.pid = pid
        self._sock = sock
        self._on_gone = on_gone
        self._recover = recover
        self._token = secrets.token_hex(6)  # this child's requests, told from any other's
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._waiting: dict[int, _Slot] = {}
        self._next_id = 0
        self._closing = False
        self.gone: str | None = None
        self._reader = threading.Thread(target=self._read, name="ingest-replies", daemon=True)
        self._reader.start()

    def tag(self, request_id: int) -> str:
        """How a request is named in its segment records (`ingest.Arrival.request`)."""
        return f"{self._token}.{request_id}"

    def store(
        self, mailboxes: Sequence[int], raw: bytes, *, envelope_from: str, actor: str
    ) -> list[int]:
        """Have the child store one message durably; the ids of its rows (one per mailbox)."""
        slot = _Slot()
        with self._lock:
            if self.gone is not None:
                raise IngestGone(self.gone)
            self._next_id += 1
            request_id = self._next_id
            self._waiting[request_id] = slot
        request = Request(
            request_id, list(mailboxes), envelope_from, actor, raw, self.tag(request_id)
        )
        head, body = pack_request(request)
        try:
            with self._send_lock:
                self._sock.sendall(head)
                self._sock.sendall(body)
        except OSError as error:
            self._fail(f"ingest process unreachable: {error}")
        slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return slot.rows

    def _read(self) -> None:
        reason = "ingest process ended"
        try:
            while True:
                reply = read_reply(self._sock)
                if reply is None:
                    break
                request_id, rows, error = reply
                with self._lock:
                    slot = self._waiting.pop(request_id, None)
                if slot is None:
                    log.error("reply to unknown ingest request %d ignored", request_id)
                    continue
                if error:
                    slot.error = IngestFailed(error)
                slot.rows = rows
                slot.done.set()
        except (OSError, ValueError, EOFError) as error:
            reason = f"ingest process stream broken: {error}"
        self._fail(reason)

    def _fail(self, reason: str) -> None:
        with self._lock:
            first = self.gone is None and not self._closing
            if self.gone is None:
                self.gone = reason
            waiting, self._waiting = self._waiting, {}
        stored: dict[str, list[int]] = {}
        if waiting and self._recover is not None:
            self._end()
            try:
                self._recover(stored)
            except Exception:  # they stay unanswered as stored: 451, the next start recovers
                log.exception("recovery pass after the ingest process ended failed")
        for request_id, slot in waiting.items():
            rows = stored.get(self.tag(request_id))
            if rows:
                slot.rows = rows
            else:
                slot.error = IngestGone(reason)
            slot.done.set()
        if first:
            acknowledged = sum(1 for r in waiting if self.tag(r) in stored)
            log.error(
                "%s (pid %d): of %d delivery(ies) in flight, %d stored (250), the others 451",
                reason,
                self.pid,
                len(waiting),
                acknowledged,
            )
            if self._on_gone is not None:
                self._on_gone(reason)

    def _end(self) -> None:
        """Make sure the child is gone and reaped (its segment's lock is then free)."""
        if self.pid <= 0:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)

    def close(self) -> None:
        """End the child: it stores what it has read, then exits; wait for it."""
        with self._lock:
            self._closing = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)
        if self.pid > 0:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
        self._reader.join(timeout=10)
        self._sock.close()


def _recover_after_death(stored: dict[str, list[int]]) -> None:
    try:
        ingest.recover(stored)
    finally:
        connection.close()


def start(on_gone: Callable[[str], None] | None = None) -> Child:
    """Fork the ingest process (call it before any thread starts: Django set up, no
    connection open) and return the listener's handle on it."""
    connections.close_all()  # never share a database connection across fork
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            ours.close()
            _leave_signals_to_the_listener()
            serve(theirs)
        except BaseException:
            log.exception("ingest process failed")
            code = 1
        finally:
            os._exit(code)
    theirs.close()
    return Child(ours, pid, on_gone, _recover_after_death)


def _leave_signals_to_the_listener() -> None:
    """SIGTERM and SIGINT (a service stop, Ctrl+C: sent to the whole group) are the listener's
    to handle: it stops, then closes its end, and this process stores what it read and exits.
    If the listener dies, even by SIGKILL, its end closes all the same."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# The ingest process's side.


class _Mailboxes:
    """Mailbox rows by id, each looked up at most once a second (as the listener's cache)."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[float, Mailbox]] = {}

    def get(self, pks: Sequence[int]) -> list[Mailbox]:
        now = time.monotonic()
        missing = [
            pk
            for pk in pks
            if pk not in self._cache or now - self._cache[pk][0] > MAILBOX_CACHE_SECONDS
        ]
        if missing:
            for pk in missing:
                self._cache.pop(pk, None)
            for box in Mailbox.objects.filter(pk__in=missing):
                self._cache[box.pk] = (now, box)
        boxes = []
        for pk in pks:
            entry = self._cache.get(pk)
            if entry is None:
                raise LookupError(f"mailbox {pk} is gone")
            boxes.append(entry[1])
        return boxes


def _more_waiting(sock: socket.socket) -> bool:
    """Another request has (begun to) arrive: the listener sends each frame whole."""
    return bool(select.select([sock], [], [], 0)[0])


def serve(sock: socket.socket) -> None:
    """Store the listener's requests until its end of the stream closes, then return.

    Reads a request (waiting for it), then every request already waiting on the socket (up to
    `ingest.MAX_BATCH_MESSAGES` / `MAX_BATCH_BYTES`), and stores them in one batch — one
    segment fdatasync, one commit. While a batch is stored, the next requests wait in the
    socket (and in the listener's sends): they make the next batch.
    """
    mailboxes = _Mailboxes()
    ended = False
    try:
        while not ended:
            first = read_request(sock)
            if first is None:
                break
            batch, size = [first], len(first.raw)
            while (
                len(batch) < ingest.MAX_BATCH_MESSAGES
                and size < ingest.MAX_BATCH_BYTES
                and _more_waiting(sock)
            ):
                more = read_request(sock)
                if more is None:
                    ended = True
                    break
                batch.append(more)
                size += len(more.raw)
            sock.sendall(b"".join(_store(batch, mailboxes)))
    except (OSError, ValueError, EOFError) as error:
        log.error("ingest process: listener stream broken: %s", error)
    finally:
        storage.close_segment()
        connection.close()


def _store(batch: list[Request], mailboxes: _Mailboxes) -> list[bytes]:
    """Store a batch; one reply each. A batch that fails is stored one by one, so one bad
    message fails only itself."""
    replies: dict[int, bytes] = {}
    ready: list[tuple[Request, ingest.Arrival]] = []
    for request in batch:
        try:
            arrival = ingest.arrival_of(
                mailboxes.get(request.mailboxes),
                request.raw,
                envelope_from=request.envelope_from,
                actor=request.actor,
                request=request.tag,
            )
        except Exception as error:
            log.exception("ingest request %d refused", request.request_id)
            replies[request.request_id] = pack_reply(request.request_id, error=repr(error))
        else:
            ready.append((request, arrival))
    outcomes = ingest.commit_each(ingest.store_batch, [a for _, a in ready]) if ready else []
    for (request, _), outcome in zip(ready, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            log.error("storing an inbound message failed", exc_info=outcome)
            replies[request.request_id] = pack_reply(request.request_id, error="storing failed")
        else:
            replies[request.request_id] = pack_reply(request.request_id, [r.pk for r in outcome])
    return [replies[request.request_id] for request in batch]
