"""Mailboxes, delegation, sending between hosted mailboxes, reading, audit, encryption at rest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from egide.console.accounts.models import Practice, Role, User
from egide.console.audit.models import AuditEntry
from egide.console.inbox import services
from egide.console.inbox.models import Folder, ImmutableFieldError, Mailbox, MailboxKind, Message
from egide.messaging import mime

pytestmark = pytest.mark.django_db

MARKER = "MARQUEUR-SECRET-7f3a9"


@pytest.fixture
def cabinet(
    make_practice: Callable[..., Practice], make_member: Callable[..., User]
) -> dict[str, object]:
    practice = make_practice("Cabinet des Tilleuls", "tilleuls")
    doctor = make_member(practice, "dr.martin")
    secretary = make_member(practice, "secretariat", Role.SECRETARY)
    physio = make_member(practice, "k.bernard")
    mailbox = services.create_mailbox(
        practice,
        address="claire.martin@tilleuls.egide.test",
        kind=MailboxKind.PERSONAL,
        display_name="Dr Claire Martin",
        owner=doctor,
    )
    physio_box = services.create_mailbox(
        practice,
        address="karim.bernard@tilleuls.egide.test",
        kind=MailboxKind.PERSONAL,
        display_name="Karim Bernard",
        owner=physio,
    )
    return {
        "practice": practice,
        "doctor": doctor,
        "secretary": secretary,
        "physio": physio,
        "mailbox": mailbox,
        "physio_box": physio_box,
    }


def draft(to: str, subject: str = "Compte rendu", body: str = f"Bonjour {MARKER}") -> mime.Draft:
    return mime.Draft(
        sender="claire.martin@tilleuls.egide.test",
        recipients=(to,),
        subject=subject,
        body=body,
        attachments=(mime.Attachment("cr.txt", "text/plain", f"résultat {MARKER}".encode()),),
    )


def test_a_message_between_two_hosted_mailboxes_arrives_and_is_audited(
    cabinet: dict[str, object],
) -> None:
    doctor, physio = cabinet["doctor"], cabinet["physio"]
    assert isinstance(doctor, User) and isinstance(physio, User)
    mailbox, physio_box = cabinet["mailbox"], cabinet["physio_box"]
    assert isinstance(mailbox, Mailbox) and isinstance(physio_box, Mailbox)
    services.send(doctor, mailbox, draft(physio_box.address))
    received = Message.objects.get(mailbox=physio_box, folder=Folder.INBOX)
    assert services.summary_of(received).subject == "Compte rendu"
    parsed = services.read(physio, received)
    assert parsed is not None and MARKER in parsed.body
    assert services.attachment(physio, received, 0).data == f"résultat {MARKER}".encode()
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"message.sent", "message.read", "message.attachment_downloaded"} <= actions
    assert not any(MARKER in str(entry.details) for entry in AuditEntry.objects.all())


def test_a_copy_of_the_database_and_the_mail_store_reveals_no_health_data(
    cabinet: dict[str, object],
) -> None:
    doctor, mailbox, physio_box = cabinet["doctor"], cabinet["mailbox"], cabinet["physio_box"]
    assert (
        isinstance(doctor, User)
        and isinstance(mailbox, Mailbox)
        and isinstance(physio_box, Mailbox)
    )
    services.send(doctor, mailbox, draft(physio_box.address, subject=f"Objet {MARKER}"))
    with connection.cursor() as cursor:  # every byte of every table, as an attacker would dump it
        tables = connection.introspection.table_names(cursor)
        for table in tables:
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names come from the schema
            for row in cursor.fetchall():
                for value in row:
                    data = (
                        bytes(value)
                        if isinstance(value, (bytes, memoryview))
                        else str(value).encode()
                    )
                    assert MARKER.encode() not in data, f"{table} holds the marker in clear"
    stored = list(Path(settings.EGIDE_MAIL_DIR).rglob("*"))
    assert any(path.is_file() for path in stored)
    for path in stored:
        if path.is_file():
            assert MARKER.encode() not in path.read_bytes()
    if connection.vendor == "sqlite":
        database = Path(settings.DATABASES["default"]["NAME"])
        if database.exists():  # the test database may live in memory
            assert MARKER.encode() not in database.read_bytes()


def test_a_delegated_secretary_reads_and_sends_and_is_audited_as_a_delegate(
    cabinet: dict[str, object],
) -> None:
    doctor, secretary, mailbox = cabinet["doctor"], cabinet["secretary"], cabinet["mailbox"]
    physio_box = cabinet["physio_box"]
    assert isinstance(doctor, User) and isinstance(secretary, User)
    assert isinstance(mailbox, Mailbox) and isinstance(physio_box, Mailbox)
    with pytest.raises(services.InboxError):
        services.send(secretary, mailbox, draft(physio_box.address))
    services.delegate(mailbox, secretary, can_send=True, by=doctor)
    sent = services.send(secretary, mailbox, draft(physio_box.address))
    services.read(secretary, sent)
    entries = AuditEntry.objects.filter(
        actor="secretariat", action__in=["message.sent", "message.read"]
    )
    assert entries.count() == 2 and {e.on_behalf_of for e in entries} == {"dr.martin"}


def test_only_the_owner_can_delegate_a_personal_mailbox(cabinet: dict[str, object]) -> None:
    secretary, physio, mailbox = cabinet["secretary"], cabinet["physio"], cabinet["mailbox"]
    assert isinstance(secretary, User) and isinstance(physio, User) and isinstance(mailbox, Mailbox)
    with pytest.raises(services.InboxError, match="titulaire"):
        services.delegate(mailbox, secretary, can_send=True, by=physio)


def test_address_and_type_of_a_mailbox_never_change(cabinet: dict[str, object]) -> None:
    mailbox = Mailbox.objects.get(address="claire.martin@tilleuls.egide.test")
    mailbox.address = "autre@tilleuls.egide.test"
    with pytest.raises(ImmutableFieldError):
        mailbox.save()
    mailbox = Mailbox.objects.get(pk=mailbox.pk)
    mailbox.kind = MailboxKind.ORGANISATIONAL
    with pytest.raises(ImmutableFieldError):
        mailbox.save()


def test_an_unreadable_message_is_kept_in_the_quarantine_folder(cabinet: dict[str, object]) -> None:
    mailbox = cabinet["mailbox"]
    assert isinstance(mailbox, Mailbox)
    garbage = b"\x00\xff" * 10 + b"\r\n\r\n" + b"\xff" * (settings.EGIDE_MAX_MESSAGE_BYTES + 1)
    message = services.store(mailbox, garbage)
    assert message.folder == Folder.QUARANTINE and message.problem
    assert services.raw_of(message) == garbage  # nothing lost


def test_sending_outside_egide_is_refused_with_an_explanation(cabinet: dict[str, object]) -> None:
    doctor, mailbox = cabinet["doctor"], cabinet["mailbox"]
    assert isinstance(doctor, User) and isinstance(mailbox, Mailbox)
    with pytest.raises(services.InboxError, match=r"Envoi impossible"):
        services.send(doctor, mailbox, draft("quelquun@gmail.com"))


def test_the_web_inbox_shows_unread_counts_and_scopes_mailboxes(
    cabinet: dict[str, object],
    client: Client,
    make_practice: Callable[..., Practice],
    make_member: Callable[..., User],
) -> None:
    doctor, physio = cabinet["doctor"], cabinet["physio"]
    mailbox, physio_box = cabinet["mailbox"], cabinet["physio_box"]
    assert isinstance(doctor, User) and isinstance(physio, User)
    assert isinstance(mailbox, Mailbox) and isinstance(physio_box, Mailbox)
    services.send(doctor, mailbox, draft(physio_box.address))
    client.force_login(physio)
    page = client.get(f"/messagerie/bal/{physio_box.pk}/inbox/").content.decode()
    assert "Compte rendu" in page and 'class="count"' in page
    assert client.get(f"/messagerie/bal/{mailbox.pk}/inbox/").status_code == 404
    message = Message.objects.get(mailbox=physio_box)
    stranger = make_member(make_practice("Autre cabinet", "autre"), "dr.autre")
    client.force_login(stranger)
    assert client.get(f"/messagerie/message/{message.pk}/").status_code == 404
    assert client.get(f"/messagerie/message/{message.pk}/piece/0").status_code == 404


def test_composing_in_the_browser_form_sends_the_message(
    cabinet: dict[str, object], client: Client
) -> None:
    doctor, physio_box = cabinet["doctor"], cabinet["physio_box"]
    mailbox = cabinet["mailbox"]
    assert (
        isinstance(doctor, User)
        and isinstance(physio_box, Mailbox)
        and isinstance(mailbox, Mailbox)
    )
    client.force_login(doctor)
    response = client.post(
        "/messagerie/nouveau",
        {
            "mailbox": mailbox.pk,
            "to": physio_box.address,
            "subject": "Lettre",
            "body": "Cher confrère",
        },
    )
    assert response.status_code == 302
    assert Message.objects.filter(mailbox=physio_box).count() == 1
    bad = client.post(
        "/messagerie/nouveau",
        {"mailbox": mailbox.pk, "to": "pas une adresse", "subject": "x", "body": "y"},
    )
    assert "Adresse invalide" in bad.content.decode()


def test_a_cda_uploaded_in_the_form_leaves_as_an_xdm_package(
    cabinet: dict[str, object], client: Client
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    doctor, physio_box, mailbox = cabinet["doctor"], cabinet["physio_box"], cabinet["mailbox"]
    assert isinstance(doctor, User) and isinstance(physio_box, Mailbox)
    assert isinstance(mailbox, Mailbox)
    cda = Path(__file__).parents[2] / "data/messaging/cda/BIO-CR-BIO_2024.01_TSH_2.xml"
    client.force_login(doctor)
    response = client.post(
        "/messagerie/nouveau",
        {
            "mailbox": mailbox.pk,
            "to": physio_box.address,
            "subject": "",
            "body": "Compte rendu de biologie.",
            "cda": SimpleUploadedFile("tsh.xml", cda.read_bytes(), "text/xml"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    received = Message.objects.get(mailbox=physio_box)
    assert services.summary_of(received).subject.startswith("XDM/1.0/DDM+")
    assert "IHE_XDM.ZIP" in services.summary_of(received).attachments


def test_the_compose_form_suggests_hosted_mailboxes_and_directory_entries(
    cabinet: dict[str, object], client: Client, settings: object, tmp_path: Path
) -> None:
    from egide.messaging.directory import import_file, open_index

    sample = (
        Path(__file__).parents[2] / "data/directory/Extraction_Correspondance_MSSante_sample.txt"
    )
    index = open_index(tmp_path)
    import_file(index, sample)
    index.close()
    settings.DATA_DIR = tmp_path  # type: ignore[attr-defined]
    settings.DATABASE_URL = "sqlite:///unused"  # type: ignore[attr-defined]
    doctor = cabinet["doctor"]
    assert isinstance(doctor, User)
    client.force_login(doctor)
    hosted = client.get("/messagerie/destinataires", {"q": "karim"}).json()["suggestions"]
    assert hosted[0]["address"] == "karim.bernard@tilleuls.egide.test"
    found = client.get("/messagerie/destinataires", {"q": "dupont ma"}).json()["suggestions"]
    assert found and all("@" in s["address"] for s in found)
    assert "DUPONT" in found[0]["label"]
    compose = client.get("/messagerie/nouveau").content.decode()
    assert 'list="annuaire"' in compose and "inbox/compose.js" in compose
