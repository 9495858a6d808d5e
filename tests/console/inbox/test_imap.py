"""IMAP for mail clients: real sockets on 127.0.0.1, Python's imaplib and IMAPClient as clients.

The practitioner's mailbox is INBOX; a delegated or shared mailbox is a tree under its address.
What IMAP shows and changes is what the web inbox shows (unread, flagged, folder), and every
read, flag, move and deletion is audited, on the owner's behalf when a delegate acts.
"""

from __future__ import annotations

import imaplib
import logging
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from egide.console.accounts.models import Practice, Role, User
from egide.console.accounts.services import create_api_token
from egide.console.audit.models import AuditEntry
from egide.console.config import OidcSettings
from egide.console.inbox import imap_backend, services
from egide.console.inbox.models import Delegation, Folder, Mailbox, MailboxKind, Message
from egide.messaging import mime
from egide.messaging.imap_server import ImapServer

from ..accounts.oidc_issuer import AUDIENCE, ISSUER, RPPS, Issuer
from .smtp_fixtures import Pki, free_port

pytestmark = pytest.mark.django_db(transaction=True)
DELEGATED = "claire.martin@tilleuls.egide.test/Réception"


@pytest.fixture
def imap(smtp_settings: Any, pki: Pki) -> Iterator[dict[str, int]]:
    smtp_settings.EGIDE_IMAP_CERT_FILE = pki.server.cert
    smtp_settings.EGIDE_IMAP_KEY_FILE = pki.server.key
    server = imap_backend.start(host="127.0.0.1", port=free_port(), starttls_port=free_port())
    yield server.ports
    server.stop()


@pytest.fixture
def context(pki: Pki) -> ssl.SSLContext:
    """What a careful client does: verify our certificate and its name («localhost»)."""
    return ssl.create_default_context(cafile=pki.root)


def deliver(box: Mailbox, subject: str, body: str = "Bonjour, voici le compte rendu.") -> Message:
    draft = mime.Draft(
        sender="dr.durand@medecin.mssante.test",
        recipients=(box.address,),
        subject=subject,
        body=body,
    )
    return services.store(box, mime.compose_message(draft, domain="medecin.mssante.test"))


def token_for(user: User) -> str:
    return create_api_token(user, "Thunderbird")[1]


def connect(imap: dict[str, int], context: ssl.SSLContext) -> IMAPClient:
    return IMAPClient("localhost", port=imap["tls"], ssl=True, ssl_context=context, timeout=10)


def owner(box: Mailbox) -> User:
    assert isinstance(box.owner, User)
    return box.owner


def colleague_box(hosted: Mailbox, make_member: Callable[..., User]) -> Mailbox:
    """Dr Bernard's personal mailbox, in the same practice as `hosted`."""
    practice = hosted.practice
    assert isinstance(practice, Practice)
    return services.create_mailbox(
        practice,
        address="paul.bernard@tilleuls.egide.test",
        kind=MailboxKind.PERSONAL,
        display_name="Dr Paul Bernard",
        owner=make_member(practice, "dr.bernard"),
    )


def test_a_mail_client_lists_selects_and_fetches_envelope_structure_and_body(
    imap: dict[str, int], context: ssl.SSLContext, hosted: Mailbox
) -> None:
    message = deliver(hosted, "Compte rendu opératoire", "Intervention sans complication.")
    deliver(hosted, "Résultats biologiques")
    with connect(imap, context) as client:
        client.login(owner(hosted).username, token_for(owner(hosted)))
        flags = {name: set(flags) for flags, _, name in client.list_folders()}
        assert {"INBOX", "Envoyés", "Corbeille", "À traiter"} <= set(flags)
        assert b"\\Sent" in flags["Envoyés"] and b"\\Trash" in flags["Corbeille"]
        assert client.select_folder("INBOX")[b"EXISTS"] == 2
        listing = client.fetch(
            client.search(["ALL"]), ["RFC822.SIZE", "FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]
        )
        assert len(listing) == 2
        assert not AuditEntry.objects.filter(action="message.read").exists(), "a list is no read"
        uids = client.search(["SUBJECT", "opératoire"], charset="UTF-8")
        assert len(uids) == 1
        data = client.fetch(uids, ["ENVELOPE", "FLAGS", "BODYSTRUCTURE", "BODY.PEEK[]"])[uids[0]]
        assert b"Intervention sans complication." in data[b"BODY[]"]
        envelope = data[b"ENVELOPE"]
        assert envelope.from_[0].mailbox == b"dr.durand"
        assert b"\\Seen" not in data[b"FLAGS"]
        assert data[b"BODYSTRUCTURE"] is not None
    message.refresh_from_db()
    assert message.unread, "BODY.PEEK must not mark the message read"
    login = AuditEntry.objects.get(action="login.succeeded", actor=owner(hosted).username)
    assert (login.ip, login.details) == ("127.0.0.1", {"channel": "imap"})
    read = AuditEntry.objects.filter(action="message.read", object_id=str(message.pk))
    assert read.count() == 1
    assert read.get().details == {"via": "imap"}


def test_a_message_protected_end_to_end_is_served_opened_to_recipient_and_sender(
    imap: dict[str, int],
    context: ssl.SSLContext,
    hosted: Mailbox,
    make_member: Callable[..., User],
) -> None:
    box = colleague_box(hosted, make_member)
    colleague = owner(box)
    draft = mime.Draft(
        sender=hosted.address,
        recipients=(box.address,),
        subject="Avis",
        body="Patient vu ce matin, pas de contre-indication.",
    )
    services.send(owner(hosted), hosted, draft)
    received = Message.objects.get(mailbox=box)
    assert b"pkcs7-mime" in services.raw_of(received), "stored S/MIME, encrypted end to end"
    for user, folder in ((colleague, "INBOX"), (owner(hosted), "Envoyés")):
        with connect(imap, context) as client:
            client.login(user.username, token_for(user))
            client.select_folder(folder, readonly=True)
            [uid] = client.search(["ALL"])
            body = client.fetch([uid], ["BODY.PEEK[TEXT]"])[uid][b"BODY[TEXT]"]
            assert b"pas de contre-indication" in body


def test_opening_a_message_in_the_mail_client_answers_its_read_receipt_once(
    imap: dict[str, int],
    context: ssl.SSLContext,
    hosted: Mailbox,
    make_member: Callable[..., User],
) -> None:
    box = colleague_box(hosted, make_member)
    colleague = owner(box)
    draft = mime.Draft(
        sender=hosted.address,
        recipients=(box.address,),
        subject="Lettre",
        body="Cher confrère",
        headers={"Disposition-Notification-To": hosted.address},
    )
    services.send(owner(hosted), hosted, draft)
    with connect(imap, context) as client:
        client.login(colleague.username, token_for(colleague))
        client.select_folder("INBOX")
        [uid] = client.search(["ALL"])
        client.fetch([uid], ["BODY.PEEK[]"])
        assert not Message.objects.filter(mailbox=hosted, folder=Folder.INBOX).exists()
        client.fetch([uid], ["BODY[]"])  # opened: \Seen, and the receipt leaves
        client.fetch([uid], ["BODY[]"])
    [mdn] = Message.objects.filter(mailbox=hosted, folder=Folder.INBOX)
    assert b"disposition-notification" in services.raw_of(mdn)


def test_reading_through_imap_marks_the_message_read_in_the_web_inbox_and_back(
    imap: dict[str, int], context: ssl.SSLContext, hosted: Mailbox
) -> None:
    first, second = deliver(hosted, "Premier"), deliver(hosted, "Second")
    with connect(imap, context) as client:
        client.login(owner(hosted).username, token_for(owner(hosted)))
        client.select_folder("INBOX")
        uid_of = {
            data[b"ENVELOPE"].subject: uid
            for uid, data in client.fetch(client.search(["ALL"]), ["ENVELOPE"]).items()
        }
        client.fetch([uid_of[b"Premier"]], ["BODY[]"])
        first.refresh_from_db()
        assert not first.unread
        services.read(owner(hosted), second)  # read in the web inbox
        flags = client.fetch([uid_of[b"Second"]], ["FLAGS"])[uid_of[b"Second"]][b"FLAGS"]
        assert b"\\Seen" in flags
        client.remove_flags([uid_of[b"Second"]], [b"\\Seen"])
        second.refresh_from_db()
        assert second.unread


def test_flags_moves_and_expunge_change_the_web_inbox_and_are_audited(
    imap: dict[str, int], context: ssl.SSLContext, hosted: Mailbox
) -> None:
    flagged, moved, deleted = (
        deliver(hosted, "Drapeau"),
        deliver(hosted, "À classer"),
        deliver(hosted, "À supprimer"),
    )
    with connect(imap, context) as client:
        client.login(owner(hosted).username, token_for(owner(hosted)))
        client.select_folder("INBOX")
        uid_of = {
            data[b"ENVELOPE"].subject.decode(): uid
            for uid, data in client.fetch(client.search(["ALL"]), ["ENVELOPE"]).items()
        }
        client.add_flags([uid_of["Drapeau"]], [b"\\Flagged"])
        client.move([uid_of[mime_subject(moved)]], "Corbeille")
        client.add_flags([uid_of[mime_subject(deleted)]], [b"\\Deleted"])
        client.expunge()
        assert client.select_folder("INBOX")[b"EXISTS"] == 1
        assert client.select_folder("Corbeille")[b"EXISTS"] == 2
        client.copy(client.search(["ALL"])[:1], "INBOX")
        assert client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 2
        trash = client.search(["ALL"])
        client.add_flags(trash, [b"\\Deleted"])
        client.expunge()
        assert client.select_folder("Corbeille")[b"EXISTS"] == 0
    flagged.refresh_from_db()
    assert flagged.flagged and flagged.folder == Folder.INBOX
    assert not Message.objects.filter(pk__in=[moved.pk, deleted.pk]).exists()
    assert Message.objects.filter(mailbox=hosted, folder=Folder.INBOX).count() == 2
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"message.flags_changed", "message.moved", "message.deleted"} <= actions
    assert {"message.copied", "message.purged"} <= actions


def test_marking_a_whole_folder_read_is_one_command_audited_per_message(
    imap: dict[str, int], context: ssl.SSLContext, hosted: Mailbox
) -> None:
    messages = [deliver(hosted, f"Résultat {n}") for n in range(5)]
    with connect(imap, context) as client:
        client.login(owner(hosted).username, token_for(owner(hosted)))
        client.select_folder("INBOX")
        answered = client.add_flags(client.search(["ALL"]), [b"\\Seen"])
        assert all(b"\\Seen" in flags for flags in answered.values())
        assert len(answered) == 5
        assert client.search(["UNSEEN"]) == []
    assert Message.objects.filter(pk__in=[m.pk for m in messages], unread=True).count() == 0
    changed = AuditEntry.objects.filter(action="message.flags_changed")
    assert sorted(changed.values_list("object_id", flat=True)) == sorted(
        str(m.pk) for m in messages
    )


def mime_subject(message: Message) -> str:
    return services.summary_of(message).subject


def test_a_secretary_sees_the_delegated_mailbox_as_its_own_tree_and_acts_as_a_delegate(
    imap: dict[str, int],
    context: ssl.SSLContext,
    hosted: Mailbox,
    make_member: Callable[..., User],
) -> None:
    practice = hosted.practice
    assert isinstance(practice, Practice)
    secretary = make_member(practice, "secretariat", Role.SECRETARY)
    shared = services.create_mailbox(
        practice,
        address="secretariat@tilleuls.egide.test",
        kind=MailboxKind.ORGANISATIONAL,
        display_name="Secrétariat",
    )
    deliver(shared, "Demande de rendez-vous")
    message = deliver(hosted, "Courrier du Dr Durand")
    token = token_for(secretary)
    with connect(imap, context) as client:
        client.login(secretary.username, token)
        names = {name for _, _, name in client.list_folders()}
        assert "INBOX" in names
        assert DELEGATED not in names, "no delegation yet"
        services.delegate(hosted, secretary, can_send=False, by=owner(hosted))
        names = {name for _, _, name in client.list_folders()}
        assert {DELEGATED, "claire.martin@tilleuls.egide.test/Corbeille"} <= names, names
        assert client.select_folder("INBOX")[b"EXISTS"] == 1  # the secretariat's mailbox
        client.select_folder(DELEGATED)
        [uid] = client.search(["UNSEEN"])
        body = client.fetch([uid], ["BODY[]"])[uid][b"BODY[]"]
        assert b"Bonjour" in body
        # Thunderbird deletes into its account's Trash: the message goes to the trash of the
        # practitioner's mailbox, not into the secretariat's.
        client.move([uid], "Corbeille")
        assert client.folder_status("Corbeille", [b"MESSAGES"])[b"MESSAGES"] == 0
        Delegation.objects.filter(mailbox=hosted, delegate=secretary).delete()
        with pytest.raises(IMAPClient.Error):
            client.select_folder(DELEGATED)
    message.refresh_from_db()
    assert message.folder == Folder.TRASH and not message.unread
    assert Message.objects.filter(mailbox=shared).count() == 1
    entries = AuditEntry.objects.filter(
        object_type="message", object_id=str(message.pk), actor=secretary.username
    )
    assert {e.action for e in entries} >= {"message.read", "message.deleted"}
    assert {e.on_behalf_of for e in entries} == {owner(hosted).username}


def test_a_user_of_another_practice_sees_nothing_of_this_one(
    imap: dict[str, int],
    context: ssl.SSLContext,
    hosted: Mailbox,
    make_practice: Callable[..., Practice],
    make_member: Callable[..., User],
) -> None:
    deliver(hosted, "Confidentiel")
    stranger = make_member(make_practice("Cabinet du Port", "port"), "dr.leroy")
    with connect(imap, context) as client:
        client.login(stranger.username, token_for(stranger))
        names = {name for _, _, name in client.list_folders()}
        assert not any("tilleuls" in name for name in names)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
        for name in (DELEGATED, "claire.martin@tilleuls.egide.test/Corbeille"):
            with pytest.raises(IMAPClient.Error):
                client.select_folder(name)
        client.select_folder("INBOX")
        with pytest.raises(IMAPClient.Error):
            client.copy([1], DELEGATED)


def test_a_deactivated_account_loses_its_folders_in_the_open_session(
    imap: dict[str, int], context: ssl.SSLContext, hosted: Mailbox
) -> None:
    deliver(hosted, "Avant départ")
    user = owner(hosted)
    with connect(imap, context) as client:
        client.login(user.username, token_for(user))
        assert client.select_folder("Corbeille")[b"EXISTS"] == 0
        User.objects.filter(pk=user.pk).update(is_active=False)
        with pytest.raises(IMAPClient.Error):
            client.select_folder("Corbeille")
        assert client.select_folder("INBOX")[b"EXISTS"] == 0


def test_neither_the_token_nor_the_message_reaches_the_logs_even_at_debug(
    imap: dict[str, int],
    context: ssl.SSLContext,
    hosted: Mailbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    deliver(hosted, "Bilan", "Marqueur-de-contenu-7f3a")
    token = token_for(owner(hosted))
    caplog.set_level(logging.DEBUG)
    with connect(imap, context) as client:
        client.login(owner(hosted).username, token)
        client.select_folder("INBOX")
        assert b"Marqueur-de-contenu-7f3a" in client.fetch([1], ["BODY[]"])[1][b"BODY[]"]
    server_side = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("imapclient")
    )
    assert token not in server_side
    assert "Marqueur-de-contenu-7f3a" not in server_side


def test_a_wrong_password_is_refused_audited_and_locked_out_like_submission(
    imap: dict[str, int], context: ssl.SSLContext, hosted: Mailbox
) -> None:
    user = owner(hosted)
    token = token_for(user)
    wrong = token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")
    for attempt in ["not-a-token", wrong, *["x"] * 3]:
        with connect(imap, context) as client, pytest.raises(LoginError):
            client.login(user.username, attempt)
    with connect(imap, context) as client, pytest.raises(LoginError):
        client.login(user.username, token)  # locked out for this address, even the right token
    replies = [e.details["reply"] for e in AuditEntry.objects.filter(action="imap.refused")]
    assert any("too many failures" in reply for reply in replies)
    refused = AuditEntry.objects.filter(action="api_token.refused")
    assert {entry.details["channel"] for entry in refused} == {"imap"}


def test_a_pro_sante_connect_access_token_opens_the_mailbox_over_xoauth2(
    imap: dict[str, int], context: ssl.SSLContext, hosted: Mailbox, tmp_path: Path, settings: Any
) -> None:
    issuer = Issuer(tmp_path)
    settings.EGIDE_OIDC = OidcSettings(ISSUER, AUDIENCE, str(issuer.jwks))
    user = owner(hosted)
    user.rpps = RPPS
    user.save()
    deliver(hosted, "Par jeton")
    with connect(imap, context) as client, pytest.raises(LoginError):
        client.oauth2_login(user.username, issuer.token(aud="someone-else"))
    with connect(imap, context) as client:
        client.oauth2_login(user.username, issuer.token())
        assert client.select_folder("INBOX")[b"EXISTS"] == 1
    assert AuditEntry.objects.filter(action="imap.refused").exists()


def test_plain_text_login_is_refused_before_starttls_and_accepted_after(
    imap: dict[str, int], context: ssl.SSLContext, hosted: Mailbox
) -> None:
    user = owner(hosted)
    token = token_for(user)
    client = imaplib.IMAP4("localhost", imap["starttls"], timeout=10)
    try:
        assert "LOGINDISABLED" in client.capabilities
        assert not [c for c in client.capabilities if c.startswith("AUTH=")]
        with pytest.raises(imaplib.IMAP4.error):
            client.login(user.username, token)
        client.starttls(ssl_context=context)
        assert "LOGINDISABLED" not in client.capabilities
        client.login(user.username, token)
        typ, data = client.select("INBOX")
        assert (typ, data) == ("OK", [b"0"])
    finally:
        client.shutdown()


def test_authenticate_plain_works_over_implicit_tls_and_tls_1_1_is_refused(
    imap: dict[str, int], context: ssl.SSLContext, hosted: Mailbox
) -> None:
    user = owner(hosted)
    with connect(imap, context) as client:
        client.plain_login(user.username, token_for(user))
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises((ssl.SSLError, OSError)):
        imaplib.IMAP4_SSL("127.0.0.1", imap["tls"], ssl_context=old, timeout=10)


def test_append_and_folder_creation_are_refused_with_a_reason(
    imap: dict[str, int], context: ssl.SSLContext, hosted: Mailbox
) -> None:
    with connect(imap, context) as client:
        client.login(owner(hosted).username, token_for(owner(hosted)))
        with pytest.raises(IMAPClient.Error, match="Sent copy"):
            client.append("Envoyés", b"From: a@b\r\nSubject: x\r\n\r\nx\r\n")
        with pytest.raises(IMAPClient.Error, match="fixed"):
            client.create_folder("Patients")
    assert not Message.objects.filter(mailbox=hosted).exists()


def test_without_tls_files_imap_does_not_start(settings: Any) -> None:
    settings.EGIDE_IMAP_CERT_FILE = settings.EGIDE_SMTP_CERT_FILE = ""
    with pytest.raises(imap_backend.ImapNotConfigured, match="TLS obligatoire"):
        imap_backend.start(port=free_port())


def test_the_server_stops_cleanly(smtp_settings: Any, pki: Pki) -> None:
    smtp_settings.EGIDE_IMAP_CERT_FILE = pki.server.cert
    smtp_settings.EGIDE_IMAP_KEY_FILE = pki.server.key
    server = imap_backend.start(host="127.0.0.1", port=free_port())
    assert isinstance(server, ImapServer)
    server.stop()
    with pytest.raises(OSError):
        imaplib.IMAP4_SSL("127.0.0.1", server.ports["tls"], timeout=5)
