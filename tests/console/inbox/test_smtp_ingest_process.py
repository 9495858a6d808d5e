"""The relay listener's durable storage in a child process (ADR 0038): the frames on the
socketpair, replies matched to their requests, the child's end and the listener's."""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from egide.console.audit.models import AuditEntry
from egide.console.inbox import ingest, ingest_process, services, storage
from egide.console.inbox.inbound import RelaySink
from egide.console.inbox.ingest_process import (
    Child,
    IngestFailed,
    IngestGone,
    Request,
    pack_reply,
    pack_request,
    read_reply,
    read_request,
)
from egide.console.inbox.models import Mailbox, Message
from egide.messaging.smtp_server import InboundMessage, Peer

from .smtp_fixtures import PEER_SENDER

PEER = Peer("192.0.2.10", "TLSv1.3", "commonName=smtp-1.operateur-alpha.test")


@contextmanager
def served(pair: tuple[socket.socket, socket.socket]) -> Iterator[Child]:
    """The child's loop (`serve`) in a thread on one end, a `Child` on the other; at the end
    the listener's end is shut, and the loop must finish what it read and return."""
    left, right = pair
    server = threading.Thread(target=ingest_process.serve, args=(right,))
    server.start()
    yield Child(left, pid=0)
    left.shutdown(socket.SHUT_WR)
    server.join(timeout=30)
    assert not server.is_alive()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    left, right = socket.socketpair()
    yield left, right
    left.close()
    right.close()


def test_a_request_and_a_reply_cross_the_socketpair_intact(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, right = pair
    raw = bytes(range(256)) * 600  # every byte value, ≈ 150 KB: more than one recv
    sent = Request(7, [3, 11], "éric@medecin.mssante.test", "smtp:192.0.2.10", raw, "ab.7")
    writer = threading.Thread(target=left.sendall, args=(b"".join(pack_request(sent)),))
    writer.start()
    assert read_request(right) == sent
    writer.join()
    right.sendall(pack_reply(7, [41, 42]) + pack_reply(8, error="disk full"))
    assert read_reply(left) == (7, [41, 42], "")
    assert read_reply(left) == (8, [], "disk full")


def test_the_end_of_the_stream_is_told_apart_from_a_cut_frame(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, right = pair
    head, body = pack_request(Request(1, [1], "a@b.test", "smtp:x", b"0123456789"))
    left.sendall(head + body[:4])
    left.shutdown(socket.SHUT_WR)
    with pytest.raises(EOFError):
        read_request(right)
    assert read_request(right) is None  # nothing more: the listener is gone
    assert read_reply(right) is None


def _fake_child(sock: socket.socket, count: int) -> None:
    """Read `count` requests, answer them shuffled: rows derived from the request's bytes."""
    requests = [read_request(sock) for _ in range(count)]
    random.Random(4).shuffle(requests)
    for request in requests:
        assert request is not None
        if request.raw == b"bad":
            sock.sendall(pack_reply(request.request_id, error="refused"))
        else:
            sock.sendall(pack_reply(request.request_id, [int(request.raw), request.mailboxes[0]]))


def test_replies_answered_out_of_order_reach_the_threads_that_sent_their_requests(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, right = pair
    count = 24
    faker = threading.Thread(target=_fake_child, args=(right, count))
    faker.start()
    child = Child(left, pid=0)
    results: dict[int, Any] = {}
    barrier = threading.Barrier(count)

    def deliver(n: int) -> None:
        barrier.wait()  # all in flight together
        try:
            raw = b"bad" if n == 5 else str(n).encode()
            results[n] = child.store([1000 + n], raw, envelope_from="a@b.test", actor="t")
        except IngestFailed as error:
            results[n] = error

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    faker.join(timeout=10)
    assert isinstance(results.pop(5), IngestFailed)
    assert results == {n: [n, 1000 + n] for n in range(count) if n != 5}


def test_when_the_child_dies_every_delivery_in_flight_and_after_gets_ingest_gone(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    left, right = pair
    gone: list[str] = []
    child = Child(left, pid=0, on_gone=gone.append)
    results: list[BaseException] = []

    def deliver() -> None:
        try:
            child.store([1], b"x", envelope_from="a@b.test", actor="t")
        except IngestGone as error:
            results.append(error)

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for _ in range(3):  # the three requests reached the child, which dies without answering
        assert read_request(right) is not None
    right.close()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 3 and len(gone) == 1
    with pytest.raises(IngestGone):
        child.store([1], b"x", envelope_from="a@b.test", actor="t")
    assert len(gone) == 1  # told once


@pytest.mark.django_db(transaction=True)
def test_relay_deliveries_through_the_ingest_stage_are_stored_audited_and_batched(
    smtp_settings: Any, hosted: Mailbox, pair: tuple[socket.socket, socket.socket]
) -> None:
    """The child's loop (`serve`) in a thread here: the real storage behind the frames."""
    with served(pair) as child:
        sink = RelaySink(background=True, ingest_child=child)
        replies: list[str] = []
        bodies = [
            f"Subject: m{n}\r\nFrom: {PEER_SENDER}\r\n\r\n{'y' * 2000}\r\n".encode()
            for n in range(12)
        ]
        threads = [
            threading.Thread(
                target=lambda raw: replies.append(
                    sink.deliver(InboundMessage(PEER, PEER_SENDER, (hosted.address,), raw))
                ),
                args=(raw,),
            )
            for raw in bodies
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert replies == ["250 2.0.0 OK stored for 1 mailbox(es)"] * 12
    stored = Message.objects.filter(mailbox=hosted)
    assert sorted(services.raw_of(m) for m in stored) == sorted(bodies)
    assert AuditEntry.objects.filter(action="message.stored").count() == 12


@pytest.mark.django_db(transaction=True)
def test_a_mailbox_gone_before_the_child_stores_fails_that_message_only(
    smtp_settings: Any, hosted: Mailbox, pair: tuple[socket.socket, socket.socket]
) -> None:
    with served(pair) as child:
        with pytest.raises(IngestFailed):
            child.store([hosted.pk + 1000], b"Subject: x\r\n\r\nx\r\n", envelope_from="", actor="t")
        rows = child.store([hosted.pk], b"Subject: y\r\n\r\ny\r\n", envelope_from="", actor="t")
    assert list(Message.objects.values_list("pk", flat=True)) == rows


def test_after_the_child_died_requests_found_stored_are_answered_with_their_rows(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """The recovery pass said which of the requests in flight are stored: those get their
    rows (a `250`), the others `IngestGone` (a `451`)."""
    left, right = pair
    ran: list[int] = []

    def recover(stored: dict[str, list[int]]) -> None:
        ran.append(1)
        stored[child.tag(2)] = [77]  # the second request's batch was synced, then recovered
        stored["another-child.1"] = [78]  # another process's request: not this one's

    child = Child(left, pid=0, recover=recover)
    results: dict[int, Any] = {}

    def deliver(n: int) -> None:
        try:
            results[n] = child.store([1], str(n).encode(), envelope_from="", actor="t")
        except IngestGone as error:
            results[n] = error

    threads = []
    for n in (1, 2, 3):  # in order: request ids 1, 2, 3
        threads.append(threading.Thread(target=deliver, args=(n,)))
        threads[-1].start()
        assert read_request(right) is not None
    right.close()
    for thread in threads:
        thread.join(timeout=10)
    assert ran == [1]
    assert results[2] == [77]
    assert isinstance(results[1], IngestGone) and isinstance(results[3], IngestGone)


@pytest.mark.django_db(transaction=True)
def test_the_recovery_pass_names_the_requests_it_found_stored_committed_or_rebuilt(
    settings: Any, tmp_path: Any, hosted: Mailbox
) -> None:
    settings.EGIDE_MAIL_DIR = str(tmp_path / "mail")
    arrivals = [
        ingest.arrival_of(
            [hosted],
            f"Subject: {n}\r\n\r\nx\r\n".encode(),
            envelope_from="",
            actor="t",
            request=f"tok.{n}",
        )
        for n in range(3)
    ]
    committed = ingest.store_batch(arrivals[:2])
    storage.close_segment()
    # The commit of request 1 lost (a crash after the sync): its row is gone, its record not.
    Message.objects.filter(pk=committed[1][0].pk).delete()
    requests: dict[str, list[int]] = {}
    assert ingest.recover(requests) == 1
    rebuilt = Message.objects.exclude(pk=committed[0][0].pk).get()
    assert requests == {"tok.0": [committed[0][0].pk], "tok.1": [rebuilt.pk]}
