"""Read receipts produced and requested, and the per-recipient timeline in the message view."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from egide.console.accounts.models import User
from egide.console.accounts.services import create_api_token
from egide.console.inbox import outbound, services
from egide.console.inbox.inbound import RelaySink
from egide.console.inbox.models import Folder, Mailbox, MailboxKind, Message, OutboundDelivery
from egide.messaging import mime
from egide.messaging.smtp_server import InboundMessage, Peer

from .smtp_fixtures import Pki
from .test_smtp_outbound import PeerOperator, _start_peer

pytestmark = pytest.mark.django_db(transaction=True)
REMOTE = "dr.durand@medecin.mssante.test"
PEER = Peer("192.0.2.10", "TLSv1.3", "commonName=smtp-1.operateur-alpha.test")


@pytest.fixture
def colleague(hosted: Mailbox, make_member: Callable[..., User]) -> Mailbox:
    physio = make_member(hosted.practice, "k.bernard")
    return services.create_mailbox(
        hosted.practice,
        address="karim.bernard@tilleuls.egide.test",
        kind=MailboxKind.PERSONAL,
        display_name="Karim Bernard",
        owner=physio,
    )


@pytest.fixture
def peer(smtp_settings: Any, pki: Pki) -> Iterator[PeerOperator]:
    handler, controller = _start_peer(pki.peer)
    smtp_settings.EGIDE_SMTP_ROUTES = [f"medecin.mssante.test=localhost:{controller.port}"]
    yield handler
    controller.stop()


def test_the_compose_form_requests_a_read_receipt_and_the_view_shows_the_timeline(
    client: Client, smtp_settings: Any, hosted: Mailbox, colleague: Mailbox
) -> None:
    doctor, physio = hosted.owner, colleague.owner
    assert isinstance(doctor, User) and isinstance(physio, User)
    client.force_login(doctor)
    response = client.post(
        "/messagerie/nouveau",
        {"mailbox": hosted.pk, "to": colleague.address, "subject": "Lettre", "body": "Cher",
         "receipt": "on"},
    )  # fmt: skip
    assert response.status_code == 302
    received = Message.objects.get(mailbox=colleague)
    assert b"Disposition-Notification-To: claire.martin@tilleuls.egide.test" in (
        services.raw_of(received)
    )
    services.read(physio, received)
    mdn = Message.objects.get(mailbox=hosted, folder=Folder.INBOX)
    assert b"disposition-notification" in services.raw_of(mdn)
    sent = Message.objects.get(mailbox=hosted, folder=Folder.SENT)
    [row] = services.timeline(sent)
    assert row.recipient == colleague.address and row.read_at is not None
    page = client.get(f"/messagerie/message/{sent.pk}/").content.decode()
    assert "Suivi par destinataire" in page and colleague.address in page


def test_a_remote_senders_receipt_request_is_answered_through_the_queue(
    peer: PeerOperator, hosted: Mailbox
) -> None:
    draft = mime.Draft(
        sender=REMOTE, recipients=(hosted.address,), subject="Résultats", body="Voici",
        headers={"Disposition-Notification-To": REMOTE},
    )  # fmt: skip
    raw = mime.compose_message(draft, domain="medecin.mssante.test")
    RelaySink().deliver(InboundMessage(PEER, REMOTE, (hosted.address,), raw))
    received = Message.objects.get(mailbox=hosted, folder=Folder.INBOX)
    owner = hosted.owner
    assert isinstance(owner, User)
    services.read(owner, received)
    services.read(owner, received)  # a second reading sends nothing more
    [row] = OutboundDelivery.objects.all()
    assert row.recipient == REMOTE
    outbound.deliver_due()
    [(mail_from, rcpts, mdn)] = peer.received
    assert rcpts == [REMOTE] and b"displayed" in mdn
    assert mail_from in ("", "<>")  # reports use the null reverse-path (no mail loops)


def test_integration_acknowledged_by_the_practice_software_sends_a_processed_mdn(
    client: Client, peer: PeerOperator, hosted: Mailbox
) -> None:
    draft = mime.Draft(
        sender=REMOTE, recipients=(hosted.address,), subject="CR", body="Voici",
        headers={"Disposition-Notification-To": REMOTE},
    )  # fmt: skip
    raw = mime.compose_message(draft, domain="medecin.mssante.test")
    RelaySink().deliver(InboundMessage(PEER, REMOTE, (hosted.address,), raw))
    received = Message.objects.get(mailbox=hosted, folder=Folder.INBOX)
    owner = hosted.owner
    assert isinstance(owner, User)
    token = create_api_token(owner, "LPS")[1]
    response = client.post(
        f"/api/v1/messages/{received.pk}/integrated", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 204
    outbound.deliver_due()
    [(_, _, mdn)] = peer.received
    assert b"processed" in mdn
