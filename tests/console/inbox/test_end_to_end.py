"""End-to-end S/MIME between hosted mailboxes, with health documents in an IHE XDM package."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from egide.console.accounts.models import Practice, User
from egide.console.inbox import services
from egide.console.inbox.models import Folder, Mailbox, MailboxKind, Message
from egide.messaging.health_message import HealthMail
from egide.messaging.xdm_reader import read_xdm

pytestmark = pytest.mark.django_db

CDA = Path(__file__).parents[2] / "data/messaging/cda"
EXAMPLES = ["BIO-CR-BIO_2024.01_TSH_2.xml", "IMG_CR_IMG_2024.01.xml"]


@pytest.fixture
def pair(
    make_practice: Callable[..., Practice], make_member: Callable[..., User]
) -> tuple[User, Mailbox, User, Mailbox]:
    practice = make_practice("Cabinet des Tilleuls", "tilleuls")
    doctor, physio = make_member(practice, "dr.martin"), make_member(practice, "k.bernard")
    boxes = [
        services.create_mailbox(
            practice,
            address=f"{user.username}@tilleuls.egide.test",
            kind=MailboxKind.PERSONAL,
            display_name=user.username,
            owner=user,
        )
        for user in (doctor, physio)
    ]
    return doctor, boxes[0], physio, boxes[1]


@pytest.mark.parametrize("example", EXAMPLES)
def test_an_xdm_of_ans_cda_examples_round_trips_signed_and_encrypted(
    pair: tuple[User, Mailbox, User, Mailbox], example: str
) -> None:
    doctor, doctor_box, physio, physio_box = pair
    cda = (CDA / example).read_bytes()
    mail = HealthMail(
        sender=doctor_box.address,
        recipients=(physio_box.address,),
        body="Veuillez trouver le compte rendu ci-joint.",
        cda_files=(cda,),
        nil="EGIDE-TEST",
        source_id="1.2.250.1.999.1",
    )
    services.send_health_documents(doctor, doctor_box, mail)
    received = Message.objects.get(mailbox=physio_box, folder=Folder.INBOX)
    assert received.signed_by == doctor_box.address
    stored = services.raw_of(received)
    assert b"application/pkcs7-mime" in stored and b"IHE_XDM" not in stored  # opaque as stored
    parsed = services.read(physio, received)
    assert parsed is not None and parsed.subject.startswith("XDM/1.0/DDM+")
    xdm = next(a for a in parsed.attachments if a.filename == "IHE_XDM.ZIP")
    package = read_xdm(xdm.data)
    [document] = package.documents
    assert not package.errors and document.content == cda
    assert hashlib.sha1(cda).hexdigest() == document.entry.hash  # noqa: S324 - IHE XDM's hash
    assert any(a.filename.endswith(".pdf") for a in parsed.attachments)


def test_a_tampered_protected_message_is_kept_aside_with_the_reason(
    pair: tuple[User, Mailbox, User, Mailbox],
) -> None:
    doctor, doctor_box, _, physio_box = pair
    from egide.messaging import mime

    services.send(
        doctor,
        doctor_box,
        mime.Draft(
            sender=doctor_box.address,
            recipients=(physio_box.address,),
            subject="Résultat",
            body="Confidentiel",
        ),
    )
    original = services.raw_of(Message.objects.get(mailbox=physio_box))
    head, _, body = original.partition(b"\r\n\r\n")
    lines = body.split(b"\r\n")
    middle = len(lines) // 2
    lines[middle] = lines[middle][:-4] + (b"AAAA" if lines[middle][-4:] != b"AAAA" else b"BBBB")
    tampered = head + b"\r\n\r\n" + b"\r\n".join(lines)
    kept = services.store(physio_box, tampered)
    assert kept.folder == Folder.QUARANTINE and "protégé" in kept.problem
    assert services.raw_of(kept) == tampered  # nothing lost


def test_a_message_signed_by_someone_else_than_its_sender_is_refused(
    pair: tuple[User, Mailbox, User, Mailbox],
) -> None:
    doctor, doctor_box, _, physio_box = pair
    from egide.messaging import mime

    services.send(
        doctor,
        doctor_box,
        mime.Draft(
            sender=doctor_box.address, recipients=(physio_box.address,), subject="x", body="y"
        ),
    )
    original = services.raw_of(Message.objects.get(mailbox=physio_box))
    forged = original.replace(
        f"From: {doctor_box.address}".encode(), b"From: usurpateur@tilleuls.egide.test", 1
    )
    assert forged != original
    kept = services.store(physio_box, forged)
    assert kept.folder == Folder.QUARANTINE and "expéditeur" in kept.problem


def test_the_reader_sees_the_patient_panel_and_the_readable_document(
    pair: tuple[User, Mailbox, User, Mailbox], client: object
) -> None:
    from django.test import Client

    doctor, doctor_box, physio, physio_box = pair
    mail = HealthMail(
        sender=doctor_box.address,
        recipients=(physio_box.address,),
        body="CR ci-joint.",
        cda_files=((CDA / EXAMPLES[0]).read_bytes(),),
        nil="EGIDE-TEST",
        source_id="1.2.250.1.999.1",
    )
    services.send_health_documents(doctor, doctor_box, mail)
    received = Message.objects.get(mailbox=physio_box, folder=Folder.INBOX)
    browser = Client()
    browser.force_login(physio)
    page = browser.get(f"/messagerie/message/{received.pk}/").content.decode()
    assert "Signé par dr.martin@tilleuls.egide.test" in page
    assert 'class="facts patient"' in page and "INS-NIR" in page
    assert 'class="narrative"' in page and "<script" not in page.split('class="narrative"')[1]
