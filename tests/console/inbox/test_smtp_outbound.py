"""Outbound delivery to another operator: the queue, TLS with verification, retries, bounces
with a DSN, per-recipient states audited; and receipts (MDN/DSN) moving the timeline."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.utils import timezone

from egide.console.accounts.models import User
from egide.console.audit.models import AuditEntry
from egide.console.inbox import outbound, services
from egide.console.inbox.inbound import RelaySink
from egide.console.inbox.models import DeliveryState, Folder, Mailbox, Message, OutboundDelivery
from egide.messaging import mime, receipts
from egide.messaging.smtp_server import InboundMessage, Peer, server_tls_context

from .smtp_fixtures import Pair, Pki, free_port

pytestmark = pytest.mark.django_db(transaction=True)
REMOTE = "dr.durand@medecin.mssante.test"


@dataclass
class PeerOperator:
    """Another operator's MTA: STARTTLS, and answers chosen by the recipient's local part."""

    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.startswith("inconnu"):
            return "550 5.1.1 No such user"
        if address.startswith("plein"):
            return "452 4.2.2 Mailbox full, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.received.append(
            (envelope.mail_from or "", list(envelope.rcpt_tos), envelope.original_content or b"")
        )
        return "250 2.0.0 queued"


def _start_peer(pair: Pair, *, starttls: bool = True) -> tuple[PeerOperator, Controller]:
    handler = PeerOperator()
    kwargs: dict[str, Any] = {}
    if starttls:
        kwargs = {"tls_context": server_tls_context(pair.cert, pair.key), "require_starttls": True}
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return handler, controller


@pytest.fixture
def peer(smtp_settings: Any, pki: Pki) -> Iterator[PeerOperator]:
    handler, controller = _start_peer(pki.peer)
    smtp_settings.EGIDE_SMTP_ROUTES = [f"medecin.mssante.test=localhost:{controller.port}"]
    yield handler
    controller.stop()


def send(hosted: Mailbox, *recipients: str, body: str = "Bonjour") -> Message:
    owner = hosted.owner
    assert isinstance(owner, User)
    draft = mime.Draft(
        sender=hosted.address, recipients=recipients, subject="Compte rendu", body=body
    )
    return services.send(owner, hosted, draft)


def test_a_message_to_another_operator_is_queued_then_delivered_over_verified_tls(
    peer: PeerOperator, hosted: Mailbox
) -> None:
    sent = send(hosted, REMOTE)
    row = OutboundDelivery.objects.get(message=sent)
    assert row.state == DeliveryState.QUEUED
    assert outbound.deliver_due() == 1
    row.refresh_from_db()
    assert row.state == DeliveryState.DELIVERED and row.accepted_at is not None
    assert len(peer.received) == 1
    mail_from, rcpts, raw = peer.received[0]
    assert (mail_from, rcpts) == (hosted.address, [REMOTE])
    assert b"Compte rendu" in raw
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"delivery.queued", "delivery.delivered"} <= actions


def test_a_permanent_refusal_bounces_with_a_dsn_in_the_senders_inbox(
    peer: PeerOperator, hosted: Mailbox
) -> None:
    sent = send(hosted, REMOTE, "inconnu@medecin.mssante.test")
    outbound.deliver_due()
    states = dict(OutboundDelivery.objects.filter(message=sent).values_list("recipient", "state"))
    assert states == {REMOTE: "delivered", "inconnu@medecin.mssante.test": "bounced"}
    dsn = Message.objects.get(mailbox=hosted, folder=Folder.INBOX)
    raw = services.raw_of(dsn)
    assert b'report-type="delivery-status"' in raw
    assert b"Status: 5.1.1" in raw
    assert b"Final-Recipient: rfc822; inconnu@medecin.mssante.test" in raw


def test_a_transient_failure_is_retried_with_backoff_then_bounced_after_four_days(
    peer: PeerOperator, hosted: Mailbox
) -> None:
    sent = send(hosted, "plein@medecin.mssante.test")
    outbound.deliver_due()
    row = OutboundDelivery.objects.get(message=sent)
    assert row.state == DeliveryState.DEFERRED and row.attempts == 1
    assert row.next_attempt_at > timezone.now()
    assert outbound.deliver_due() == 0  # not due yet
    OutboundDelivery.objects.filter(pk=row.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=4, minutes=1),
        next_attempt_at=timezone.now(),
    )
    outbound.deliver_due()
    row.refresh_from_db()
    assert row.state == DeliveryState.BOUNCED
    assert Message.objects.filter(mailbox=hosted, folder=Folder.INBOX).count() == 1


def test_backoff_grows_and_is_capped() -> None:
    waits = [outbound.backoff(n) for n in range(1, 10)]
    assert waits[0] == datetime.timedelta(minutes=5)
    assert waits == sorted(waits)
    assert waits[-1] == datetime.timedelta(hours=4)


def test_it_never_delivers_in_clear_to_a_peer_without_starttls(
    smtp_settings: Any, pki: Pki, hosted: Mailbox
) -> None:
    handler, controller = _start_peer(pki.peer, starttls=False)
    smtp_settings.EGIDE_SMTP_ROUTES = [f"medecin.mssante.test=localhost:{controller.port}"]
    try:
        sent = send(hosted, REMOTE)
        outbound.deliver_due()
    finally:
        controller.stop()
    row = OutboundDelivery.objects.get(message=sent)
    assert row.state == DeliveryState.DEFERRED
    assert "STARTTLS" in row.last_reply
    assert handler.received == []


def test_it_does_not_deliver_to_a_peer_whose_certificate_does_not_verify(
    smtp_settings: Any, pki: Pki, hosted: Mailbox
) -> None:
    handler, controller = _start_peer(pki.stranger)
    smtp_settings.EGIDE_SMTP_ROUTES = [f"medecin.mssante.test=localhost:{controller.port}"]
    try:
        sent = send(hosted, REMOTE)
        outbound.deliver_due()
    finally:
        controller.stop()
    row = OutboundDelivery.objects.get(message=sent)
    assert row.state == DeliveryState.DEFERRED
    assert "CERTIFICATE_VERIFY_FAILED" in row.last_reply or "certificate" in row.last_reply
    assert handler.received == []


def test_returned_receipts_move_the_timeline_to_read_and_integrated(
    peer: PeerOperator, hosted: Mailbox
) -> None:
    sent = send(hosted, REMOTE)
    outbound.deliver_due()
    for disposition in (
        "manual-action/MDN-sent-manually; displayed",
        "automatic-action/MDN-sent-automatically; processed",
    ):
        mdn = receipts.compose_mdn(
            sender=REMOTE,
            to=hosted.address,
            final_recipient=REMOTE,
            original_message_id=sent.message_id,
            disposition=disposition,
        )
        peer_session = Peer("192.0.2.20", "TLSv1.3", "commonName=smtp-1.operateur-alpha.test")
        RelaySink().deliver(InboundMessage(peer_session, "", (hosted.address,), mdn))
    row = OutboundDelivery.objects.get(message=sent)
    assert row.read_at is not None and row.integrated_at is not None


def test_it_refuses_to_queue_recipients_outside_the_trust_space(
    smtp_settings: Any, hosted: Mailbox
) -> None:
    with pytest.raises(services.InboxError, match="liste blanche"):
        send(hosted, "ami@gmail.test")
    assert not OutboundDelivery.objects.exists()
    assert not Message.objects.exists()


def test_concurrent_workers_deliver_each_row_once(peer: PeerOperator, hosted: Mailbox) -> None:
    import threading

    from django.db import connection

    send(hosted, REMOTE)
    barrier = threading.Barrier(3)
    counts: list[int] = []

    def worker() -> None:
        barrier.wait()
        try:
            counts.append(outbound.deliver_due())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == [0, 0, 1]
    assert len(peer.received) == 1


def test_without_a_trust_list_nothing_leaves_and_the_reason_is_given(
    smtp_settings: Any, hosted: Mailbox, tmp_path: Any
) -> None:
    smtp_settings.EGIDE_TRUST_LIST_FILE = str(tmp_path / "absente.xml")
    with pytest.raises(services.InboxError, match="pas encore chargée"):
        send(hosted, REMOTE)
    assert not OutboundDelivery.objects.exists()


def test_an_undeliverable_report_never_causes_another_report(
    peer: PeerOperator, hosted: Mailbox
) -> None:
    mdn = receipts.compose_mdn(
        sender=hosted.address,
        to="inconnu@medecin.mssante.test",
        final_recipient=hosted.address,
        original_message_id="<x@medecin.mssante.test>",
    )
    kept = services.store(hosted, mdn, folder=Folder.SENT, actor="mdn")
    outbound.queue(kept, ["inconnu@medecin.mssante.test"])
    outbound.deliver_due()
    assert OutboundDelivery.objects.get(message=kept).state == DeliveryState.BOUNCED
    assert not Message.objects.filter(folder=Folder.INBOX).exists()
