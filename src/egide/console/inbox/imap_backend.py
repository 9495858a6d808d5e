"""What the IMAP server reads and changes: the `MailStore` of `egide.messaging.imap_server`.

Plain functions over the database, run in the server's thread pool. The folder tree of a user:
- the mailbox that is «theirs» (their personal mailbox, otherwise the practice's first shared
  one) as INBOX, «Envoyés», «Corbeille», «À traiter»;
- every other mailbox they may reach (the practice's shared mailboxes, a practitioner's mailbox
  delegated to them) as a tree under its address: `adresse/Réception`, `adresse/Envoyés`…
Access is `access.mailboxes_for`, the web inbox's rule: nothing of another practice is listed,
and a folder outside it is answered like a missing one.

A successful login is audited `login.succeeded` (channel imap), as a web sign-in is. Flags are
the `Message` fields the web inbox shows: `\\Seen` is `not unread`, `\\Flagged` is `flagged`,
`\\Deleted` is `imap_deleted`. Reading a body is audited as `message.read`, flag changes,
copies, moves and deletions too, on the owner's behalf when a delegate acts. EXPUNGE
moves the deleted messages to «Corbeille», as the web inbox's delete does; only an EXPUNGE in
«Corbeille» removes them for good (audited `message.purged`).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from egide.console.accounts import services as accounts
from egide.console.accounts.models import User
from egide.messaging.imap_mailbox import DELIMITER, Entry, FolderView
from egide.messaging.imap_server import ImapServer
from egide.messaging.smtp_server import Peer, server_tls_context

from . import outbound, services, storage
from .access import mailboxes_for
from .inbound import SubmissionSink
from .models import Folder, ImapFolderState, Mailbox, MailboxKind, Message
from .protection import ProtectionError

log = logging.getLogger(__name__)

HOME_NAMES = {
    Folder.INBOX: "INBOX",
    Folder.SENT: "Envoyés",
    Folder.TRASH: "Corbeille",
    Folder.QUARANTINE: "À traiter",
}
TREE_NAMES = {**HOME_NAMES, Folder.INBOX: "Réception"}
# Only the home folders: a client has one Sent and one Trash per account.
SPECIAL_USES = {HOME_NAMES[Folder.SENT]: "Sent", HOME_NAMES[Folder.TRASH]: "Trash"}


class ImapNotConfigured(Exception):
    """TLS material is missing: IMAP never runs in clear, so it does not run at all."""


# How long the folder tree computed by a LIST, SELECT or status refresh serves the message
# commands that follow (a FETCH of 500 messages resolves its folder 500 times). Every command
# ends with a refresh that recomputes it, so a withdrawn delegation is seen at the next command.
TREE_REUSE_SECONDS = 1.0
# Messages looked up per query when a command names many UIDs (SQLite's variable limit).
UIDS_PER_QUERY = 500


@dataclass(frozen=True)
class ImapAccount:
    user: User
    ip: str
    trees: dict[str, tuple[float, dict[str, tuple[Mailbox, Folder]]]] = field(
        default_factory=dict, compare=False
    )


class _Authenticator(SubmissionSink):
    """Submission's checks (application token, OIDC access token), lock-out and audit, with
    IMAP named in refusals."""

    channel = "imap"
    audit_channel = "imap"


def _db_ready() -> None:
    """Keep this pool thread's connection unless it broke (as the SMTP sinks do)."""
    if connection.connection is not None and not connection.is_usable():
        connection.close()


def _home(user: User, boxes: list[Mailbox]) -> Mailbox | None:
    # Their own mailbox, else a shared one of the practice; never a delegated one, so that
    # INBOX does not change when a delegation is granted or withdrawn.
    own = [b for b in boxes if b.kind == MailboxKind.PERSONAL and b.owner_id == user.pk]
    candidates = own or [b for b in boxes if b.kind != MailboxKind.PERSONAL]
    return candidates[0] if candidates else None


def _tree(user: User) -> dict[str, tuple[Mailbox, Folder]]:
    """Every folder name the user may open, and the mailbox and folder it stands for.

    Read again at every LIST, SELECT and folder refresh (every command ends with one): a
    delegation withdrawn or an account deactivated during an IMAP session takes effect at the
    next command.
    """
    if not User.objects.filter(pk=user.pk, is_active=True).exists():
        return {}
    boxes = sorted(mailboxes_for(user).select_related("owner"), key=lambda b: b.address)
    home = _home(user, boxes)
    names: dict[str, tuple[Mailbox, Folder]] = {}
    for box in boxes:
        for folder in Folder:
            if box == home:
                names[HOME_NAMES[folder]] = (box, folder)
            else:
                names[f"{box.address}{DELIMITER}{TREE_NAMES[folder]}"] = (box, folder)
    return names


def _fresh_tree(account: ImapAccount) -> dict[str, tuple[Mailbox, Folder]]:
    tree = _tree(account.user)
    account.trees["tree"] = (time.monotonic(), tree)
    return tree


def _resolve(account: ImapAccount, name: str, *, fresh: bool = False) -> tuple[Mailbox, Folder]:
    cached = account.trees.get("tree")
    if fresh or cached is None or time.monotonic() - cached[0] > TREE_REUSE_SECONDS:
        tree = _fresh_tree(account)
    else:
        tree = cached[1]
    found = tree.get(name)
    if found is None:
        raise KeyError(name)
    return found


def _state(box: Mailbox, folder: str) -> ImapFolderState:
    state, _ = ImapFolderState.objects.select_for_update().get_or_create(
        mailbox=box,
        folder=folder,
        defaults={"uid_validity": 1 + secrets.randbelow(2**31 - 1)},
    )
    return state


def _give_uids(box: Mailbox, folder: str) -> None:
    """UIDs for the folder's messages that have none there yet, in arrival order."""
    with transaction.atomic():
        state = _state(box, folder)
        waiting = Message.objects.filter(mailbox=box, folder=folder).exclude(imap_folder=folder)
        pending = list(waiting.order_by("received_at", "pk"))
        for message in pending:
            message.imap_uid, message.imap_folder = state.uid_next, folder
            state.uid_next += 1
        Message.objects.bulk_update(pending, ["imap_uid", "imap_folder"])
        state.save(update_fields=["uid_next"])


def _rows(box: Mailbox, folder: str) -> list[tuple[str, int | None, bool, bool, bool, datetime]]:
    """The folder's messages, by UID: the folder their UID belongs to, UID, flags, arrival."""
    return list(
        Message.objects.filter(mailbox=box, folder=folder)
        .order_by("imap_uid")
        .values_list("imap_folder", "imap_uid", "unread", "flagged", "imap_deleted", "received_at")
    )


def _flag_set(unread: bool, flagged: bool, deleted: bool) -> frozenset[str]:
    return _FLAG_SETS[(unread, flagged, deleted)]


_FLAG_SETS = {
    (unread, flagged, deleted): frozenset(
        name
        for name, on in (("\\Seen", not unread), ("\\Flagged", flagged), ("\\Deleted", deleted))
        if on
    )
    for unread in (False, True)
    for flagged in (False, True)
    for deleted in (False, True)
}


def _flags(message: Message) -> frozenset[str]:
    return _flag_set(message.unread, message.flagged, message.imap_deleted)


def _message(account: ImapAccount, name: str, uid: int) -> Message | None:
    box, folder = _resolve(account, name)
    return (
        Message.objects.select_related("mailbox", "mailbox__owner")
        .filter(mailbox=box, folder=folder, imap_folder=folder, imap_uid=uid)
        .first()
    )


def _audit(account: ImapAccount, message: Message, action: str, **details: object) -> None:
    services.audit_access(
        account.user, message, action, ip=account.ip, details={"via": "imap", **details}
    )


def _readable(message: Message) -> bytes:
    """The decrypted message; one that cannot be opened (kept «à traiter») as received."""
    try:
        return services.plain_of(message)
    except ProtectionError:
        return services.raw_of(message)


class ImapStore:
    """The console's `MailStore`."""

    def authenticate(self, ip: str, login: str, password: str) -> ImapAccount | None:
        _db_ready()
        user = _Authenticator().authenticate(Peer(ip=ip, tls_version="imap"), login, password)
        return self._signed_in(user, ip)

    def authenticate_bearer(self, ip: str, login: str, token: str) -> ImapAccount | None:
        _db_ready()
        user = _Authenticator().authenticate_bearer(Peer(ip=ip, tls_version="imap"), login, token)
        return self._signed_in(user, ip)

    def _signed_in(self, user: User | None, ip: str) -> ImapAccount | None:
        if not isinstance(user, User):
            return None
        accounts.audit_session("login.succeeded", user, ip=ip, channel="imap")
        return ImapAccount(user, ip)

    def folders(self, account: ImapAccount) -> dict[str, str]:
        _db_ready()
        return {name: SPECIAL_USES.get(name, "") for name in _fresh_tree(account)}

    def view(self, account: ImapAccount, folder: str) -> FolderView:
        _db_ready()
        if folder == "INBOX" and folder not in _fresh_tree(account):
            return FolderView(1, 1, ())  # a user with no mailbox at all still has an INBOX
        box, kind = _resolve(account, folder, fresh=True)
        # One read of the folder's rows; a message new to it (arrived, moved in from the web
        # inbox) first gets its UID, then the rows are read again.
        rows = _rows(box, kind)
        state = ImapFolderState.objects.filter(mailbox=box, folder=kind).first()
        if state is None or any(row[0] != kind for row in rows):
            _give_uids(box, kind)
            rows = _rows(box, kind)
            state = ImapFolderState.objects.get(mailbox=box, folder=kind)
        entries = tuple(
            Entry(uid, _flag_set(unread, flagged, deleted), received_at)
            for uid_folder, uid, unread, flagged, deleted, received_at in rows
            if uid_folder == kind and uid is not None  # not one arrived since: the next view
        )
        return FolderView(state.uid_validity, state.uid_next, entries)

    def content(
        self, account: ImapAccount, folder: str, uid: int, *, reading: bool
    ) -> bytes | None:
        _db_ready()
        message = _message(account, folder, uid)
        if message is None:
            return None
        if reading:
            _audit(account, message, "message.read")
        return _readable(message)

    def set_flags(
        self, account: ImapAccount, folder: str, changes: Mapping[int, frozenset[str]]
    ) -> dict[int, frozenset[str] | None]:
        _db_ready()
        box, kind = _resolve(account, folder)
        found: dict[int, Message] = {}
        uids = list(changes)
        for start in range(0, len(uids), UIDS_PER_QUERY):
            found.update(
                (message.imap_uid or 0, message)
                for message in Message.objects.select_related("mailbox", "mailbox__owner").filter(
                    mailbox=box,
                    folder=kind,
                    imap_folder=kind,
                    imap_uid__in=uids[start : start + UIDS_PER_QUERY],
                )
            )
        kept: dict[int, frozenset[str] | None] = dict.fromkeys(changes)
        first_readings: list[Message] = []
        with transaction.atomic():  # one commit (one fsync) for every change and its audit entry
            for uid, flags in changes.items():
                message = found.get(uid)
                if message is None:
                    continue
                kept[uid] = flags
                if self._flag(account, message, flags):
                    first_readings.append(message)
        for message in first_readings:
            outbound.send_mdn(message, _readable(message), disposition=outbound.MDN_DISPLAYED)
        return kept

    def _flag(self, account: ImapAccount, message: Message, flags: frozenset[str]) -> bool:
        """Give one message these flags, audited; whether this was its first reading."""
        before = _flags(message)
        if before == flags:
            return False
        fields = {"flagged": "\\Flagged" in flags, "imap_deleted": "\\Deleted" in flags}
        rows = Message.objects.filter(pk=message.pk)
        first_reading = False
        if "\\Seen" in flags:
            # Conditional update, as in the web inbox: only the first reading sends the MDN.
            first_reading = bool(rows.filter(unread=True).update(unread=False, **fields))
            if not first_reading:
                rows.update(**fields)
        else:
            rows.update(unread=True, **fields)
        _audit(
            account,
            message,
            "message.flags_changed",
            added=sorted(flags - before),
            removed=sorted(before - flags),
        )
        return first_reading

    def transfer(
        self, account: ImapAccount, folder: str, uid: int, destination: str, *, move: bool
    ) -> int | None:
        _db_ready()
        message = _message(account, folder, uid)
        if message is None:
            return None
        box, target = _resolve(account, destination)
        if move and target == Folder.TRASH and box != message.mailbox:
            # A client deletes into its account's one Trash: the message goes to the trash of
            # its own mailbox instead, never into another mailbox (a delegate's, a shared one).
            with transaction.atomic():
                self._remove(account, message)
            return None
        with transaction.atomic():
            if move and box == message.mailbox:
                copy = message
            else:
                # Another mailbox has another key (and S/MIME recipient): it gets the opened
                # message; the same mailbox keeps the bytes as received (signature included).
                raw = services.raw_of(message) if box == message.mailbox else _readable(message)
                copy = services.store(box, raw, folder=target, actor=account.user.username)
            state = _state(box, target)
            Message.objects.filter(pk=copy.pk).update(
                folder=target,
                imap_folder=target,
                imap_uid=state.uid_next,
                unread=message.unread,
                flagged=message.flagged,
                imap_deleted=False,
            )
            new_uid = state.uid_next
            state.uid_next += 1
            state.save(update_fields=["uid_next"])
            if move and copy is not message:
                self._remove(account, message)
            _audit(
                account,
                message,
                "message.moved" if move else "message.copied",
                to=f"{box.address}/{target}",
                copy=copy.pk,
            )
        return new_uid

    def _remove(self, account: ImapAccount, message: Message) -> None:
        """Out of its folder: to «Corbeille» like the web's delete, or for good from there."""
        if message.folder != Folder.TRASH:
            services.trash(account.user, message, ip=account.ip)
            Message.objects.filter(pk=message.pk).update(imap_deleted=False)
            return
        blob = message.blob
        # The blob's name in the entry: should this process die between the commit and the
        # zeroing, the recovery pass knows the record was purged, not lost (ADR 0015).
        _audit(account, message, "message.purged", blob=blob)
        Message.objects.filter(pk=message.pk).delete()
        transaction.on_commit(lambda: storage.delete_blob(blob))

    def expunge(self, account: ImapAccount, folder: str, uids: list[int]) -> None:
        if not uids:
            return
        _db_ready()
        box, kind = _resolve(account, folder)
        doomed = Message.objects.select_related("mailbox", "mailbox__owner").filter(
            mailbox=box, folder=kind, imap_folder=kind, imap_uid__in=uids, imap_deleted=True
        )
        with transaction.atomic():
            for message in doomed:
                self._remove(account, message)


def _missing(cert: str, key: str) -> list[str]:
    needed = {"EGIDE_IMAP_CERT_FILE": cert, "EGIDE_IMAP_KEY_FILE": key}
    return [name for name, value in needed.items() if not value or not Path(value).is_file()]


def start(
    *, host: str | None = None, port: int | None = None, starttls_port: int | None = None
) -> ImapServer:
    """Start the IMAP listeners from the settings; raise ImapNotConfigured without TLS files."""
    # pymap logs every line of the dialogue at DEBUG — passwords and message text included:
    # never let a debug configuration write health data or secrets to the logs.
    logging.getLogger("pymap").setLevel(logging.WARNING)
    cert = settings.EGIDE_IMAP_CERT_FILE or settings.EGIDE_SMTP_CERT_FILE
    key = settings.EGIDE_IMAP_KEY_FILE or settings.EGIDE_SMTP_KEY_FILE
    missing = _missing(cert, key)
    if missing:
        raise ImapNotConfigured(
            "écoute IMAP non démarrée : TLS obligatoire, fichiers manquants ou illisibles : "
            + ", ".join(missing)
            + " (ou EGIDE_SMTP_CERT_FILE / EGIDE_SMTP_KEY_FILE)"
        )
    server = ImapServer(ImapStore(), server_tls_context(cert, key))
    host = host or settings.EGIDE_IMAP_HOST
    ports = server.start(
        host,
        tls_port=settings.EGIDE_IMAP_PORT if port is None else port,
        starttls_port=settings.EGIDE_IMAP_STARTTLS_PORT if starttls_port is None else starttls_port,
    )
    for name, number in ports.items():
        log.info("IMAP (%s) listening on %s:%s", name, host, number)
    return server
