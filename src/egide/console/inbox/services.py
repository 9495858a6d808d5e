"""Use cases of the messaging inbox: mailboxes, delegation, delivery, sending, reading.

Every read, send, download and delete of a message is audited (who, which message, on whose
behalf), never its content.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from egide.console.accounts.models import Practice, User
from egide.console.audit import services as audit
from egide.crypto import envelope
from egide.messaging import mime
from egide.messaging.dsn_request import DsnRequest
from egide.messaging.errors import MessagingError
from egide.messaging.health_message import HealthMail, compose_health_message

from . import identities, outbound, storage, trustspace
from .access import acting_for, may_send
from .models import Delegation, Folder, Mailbox, MailboxKind, Message
from .protection import ProtectionError, open_protected, protect

SNIPPET_CHARS = 160


class InboxError(Exception):
    """A refused action; the message is shown to the person, in French."""


@dataclass(frozen=True)
class Summary:
    subject: str
    snippet: str
    attachments: list[str]

    def encode(self) -> bytes:
        return json.dumps(self.__dict__, ensure_ascii=False).encode()


@transaction.atomic
def create_mailbox(
    practice: Practice,
    *,
    address: str,
    kind: MailboxKind,
    display_name: str,
    owner: User | None = None,
    unlisted: bool = False,
    by: User | None = None,
) -> Mailbox:
    """Create a mailbox with its own key, wrapped by the operator's master key."""
    address = address.strip().lower()
    if Mailbox.objects.filter(address=address).exists():
        raise InboxError(f"L'adresse {address} existe déjà.")
    if kind == MailboxKind.PERSONAL and (owner is None or owner.practice_id != practice.pk):
        raise InboxError("Une BAL personnelle appartient à un membre du cabinet.")
    mailbox = Mailbox(
        practice=practice,
        address=address,
        kind=kind,
        display_name=display_name,
        owner=owner,
        rpps=owner.rpps if owner else "",
        unlisted=unlisted,
    )
    mailbox.wrapped_key = storage.new_wrapped_mailbox_key(address)
    mailbox.certificate, mailbox.sealed_identity_key = identities.issue(address, _key(mailbox))
    mailbox.save()
    audit.record(
        "mailbox.created",
        practice_id=practice.pk,
        actor_id=by.pk if by else None,
        actor=by.username if by else "system",
        object_type="mailbox",
        object_id=mailbox.pk,
        details={"address": address, "kind": str(kind)},
    )
    return mailbox


@transaction.atomic
def delegate(mailbox: Mailbox, to: User, *, can_send: bool, by: User) -> Delegation:
    if mailbox.kind != MailboxKind.PERSONAL or mailbox.owner_id != by.pk:
        raise InboxError("Seul le titulaire d'une BAL personnelle peut la déléguer.")
    if to.practice_id != mailbox.practice_id or to.pk == by.pk:
        raise InboxError("La délégation se fait à un autre membre du cabinet.")
    delegation, _ = Delegation.objects.update_or_create(
        mailbox=mailbox, delegate=to, defaults={"can_send": can_send, "granted_by": by}
    )
    audit.record(
        "mailbox.delegated",
        practice_id=mailbox.practice_id,
        actor_id=by.pk,
        actor=by.username,
        object_type="mailbox",
        object_id=mailbox.pk,
        details={"delegate": to.username, "can_send": can_send},
    )
    return delegation


def _key(mailbox: Mailbox) -> envelope.MailboxKey:
    return storage.mailbox_key(bytes(mailbox.wrapped_key), mailbox.address)


def _summarise(parsed: mime.ReceivedMessage) -> Summary:
    snippet = " ".join(parsed.body.split())[:SNIPPET_CHARS]
    return Summary(parsed.subject, snippet, [a.filename for a in parsed.attachments])


@dataclass(frozen=True)
class Reading:
    """What the full parse of a message says: its folder, list summary and routing fields."""

    folder: Folder
    problem: str
    signed_by: str
    summary: Summary
    sender: str
    recipients: list[str]
    message_id: str
    in_reply_to: str
    thread: str
    attachments: int


def _reading(mailbox: Mailbox, raw: bytes, key: envelope.MailboxKey, folder: Folder) -> Reading:
    try:
        opened = open_protected(raw, mailbox, key)
        parsed = mime.parse_message(opened.raw, max_bytes=settings.EGIDE_MAX_MESSAGE_BYTES)
    except (MessagingError, ProtectionError) as error:
        return Reading(
            Folder.QUARANTINE,
            str(error)[:300],
            "",
            Summary("(message illisible)", "", []),
            "",
            [],
            "",
            "",
            "",
            0,
        )
    message_id, in_reply_to = parsed.message_id or "", parsed.in_reply_to or ""
    return Reading(
        folder,
        "",
        opened.signer or "",
        _summarise(parsed),
        parsed.sender,
        list(parsed.recipients),
        message_id,
        in_reply_to,
        (parsed.references[0] if parsed.references else in_reply_to) or message_id,
        len(parsed.attachments),
    )


def _seal_summary(mailbox: Mailbox, key: envelope.MailboxKey, blob: str, summary: Summary) -> bytes:
    return envelope.seal_message(
        key, summary.encode(), mailbox_id=mailbox.address, message_id=blob + "/summary"
    )


@transaction.atomic
def store(
    mailbox: Mailbox, raw: bytes, *, folder: Folder = Folder.INBOX, actor: str = "system"
) -> Message:
    """Keep a message, encrypted; one that cannot be parsed goes to «À traiter», never away."""
    blob = f"{mailbox.pk}-{secrets.token_hex(16)}"
    key = _key(mailbox)
    reading = _reading(mailbox, raw, key, folder)
    storage.write_blob(
        blob, envelope.seal_message(key, raw, mailbox_id=mailbox.address, message_id=blob)
    )
    message = Message.objects.create(
        mailbox=mailbox,
        folder=reading.folder,
        message_id=reading.message_id[:250],
        in_reply_to=reading.in_reply_to[:250],
        thread=reading.thread[:250],
        sender=reading.sender[:254],
        recipients=reading.recipients,
        size=len(raw),
        blob=blob,
        summary=_seal_summary(mailbox, key, blob, reading.summary),
        attachment_count=reading.attachments,
        problem=reading.problem,
        unread=reading.folder != Folder.SENT,
        signed_by=reading.signed_by,
    )
    audit.record(
        "message.stored",
        practice_id=mailbox.practice_id,
        actor=actor,
        object_type="message",
        object_id=message.pk,
        details={"mailbox": mailbox.address, "folder": str(reading.folder)},
    )
    return message


PENDING_SNIPPET = "(contenu en cours d'analyse)"


def pending_row(
    mailbox: Mailbox,
    raw: bytes,
    headers: mime.ReceivedMessage | None,
    *,
    blob: str,
    envelope_from: str,
) -> Message:
    """The unsaved routing row of a message kept before its full parse (SMTP group commit).

    Only the header section was read: the subject is known, the snippet and attachments are
    not yet; `summarise` completes the row in the background (ADR 0015).
    """
    key = _key(mailbox)
    if headers is None:
        headers = mime.ReceivedMessage(None, "", "", (), None, None, (), {}, "", [], [])
    message_id, in_reply_to = headers.message_id or "", headers.in_reply_to or ""
    thread = (headers.references[0] if headers.references else in_reply_to) or message_id
    summary = Summary(headers.subject, PENDING_SNIPPET, [])
    return Message(
        mailbox=mailbox,
        folder=Folder.INBOX,
        message_id=message_id[:250],
        in_reply_to=in_reply_to[:250],
        thread=thread[:250],
        sender=headers.sender[:254],
        recipients=list(headers.recipients),
        size=len(raw),
        blob=blob,
        summary=_seal_summary(mailbox, key, blob, summary),
        summarised=False,
        envelope_from=envelope_from[:254],
    )


def summarise(message: Message) -> Message:
    """Complete a row kept before its full parse: summary, routing, «À traiter» if unreadable.

    The caller holds the transaction; a message moved by its reader meanwhile stays where it
    is (only an unreadable one still in the inbox goes to «À traiter»).
    """
    mailbox = message.mailbox
    key = _key(mailbox)
    reading = _reading(mailbox, raw_of(message), key, Folder(message.folder))
    if reading.problem and message.folder == Folder.INBOX:
        message.folder = Folder.QUARANTINE
    message.message_id = reading.message_id[:250]
    message.in_reply_to = reading.in_reply_to[:250]
    message.thread = reading.thread[:250]
    message.sender = reading.sender[:254]
    message.recipients = reading.recipients
    message.summary = _seal_summary(mailbox, key, message.blob, reading.summary)
    message.attachment_count = reading.attachments
    message.problem = reading.problem
    message.signed_by = reading.signed_by
    message.summarised = True
    message.save(
        update_fields=[
            "folder",
            "message_id",
            "in_reply_to",
            "thread",
            "sender",
            "recipients",
            "summary",
            "attachment_count",
            "problem",
            "signed_by",
            "summarised",
        ]
    )
    return message


def summary_of(message: Message) -> Summary:
    data = envelope.open_message(
        _key(message.mailbox),
        bytes(message.summary),
        mailbox_id=message.mailbox.address,
        message_id=message.blob + "/summary",
    )
    return Summary(**json.loads(data))


def raw_of(message: Message) -> bytes:
    """The message exactly as received (S/MIME-protected when it came from a hosted mailbox)."""
    return envelope.open_message(
        _key(message.mailbox),
        storage.read_blob(message.blob),
        mailbox_id=message.mailbox.address,
        message_id=message.blob,
    )


def plain_of(message: Message) -> bytes:
    """The readable message: S/MIME layers removed and the signature verified."""
    return open_protected(raw_of(message), message.mailbox, _key(message.mailbox)).raw


def audit_access(
    user: User,
    message: Message,
    action: str,
    *,
    ip: str | None,
    details: dict[str, object] | None = None,
) -> None:
    """Journal who touched which message, on whose behalf when delegated; never its content."""
    audit.record(
        action,
        practice_id=message.mailbox.practice_id,
        actor_id=user.pk,
        actor=user.username,
        on_behalf_of=acting_for(user, message.mailbox),
        object_type="message",
        object_id=message.pk,
        ip=ip,
        details=details,
    )


def _parse(message: Message) -> mime.ReceivedMessage:
    return mime.parse_message(plain_of(message), max_bytes=settings.EGIDE_MAX_MESSAGE_BYTES)


def read(user: User, message: Message, *, ip: str | None = None) -> mime.ReceivedMessage | None:
    """Decrypt and parse a message for `user` (already authorised), audit it, mark it read."""
    audit_access(user, message, "message.read", ip=ip)
    # Conditional update: only the first reading (even among concurrent ones) sends the MDN.
    if Message.objects.filter(pk=message.pk, unread=True).update(unread=False):
        message.unread = False
        outbound.send_mdn(message, plain_of(message), disposition=outbound.MDN_DISPLAYED)
    try:
        return _parse(message)
    except (MessagingError, ProtectionError):
        return None


def attachment(
    user: User, message: Message, index: int, *, ip: str | None = None
) -> mime.Attachment:
    parsed = _parse(message)
    if not 0 <= index < len(parsed.attachments):
        raise InboxError("Cette pièce jointe n'existe pas.")
    audit_access(user, message, "message.attachment_downloaded", ip=ip, details={"index": index})
    return parsed.attachments[index]


def trash(user: User, message: Message, *, ip: str | None = None) -> None:
    Message.objects.filter(pk=message.pk).update(folder=Folder.TRASH)
    audit_access(user, message, "message.deleted", ip=ip)


def _split_recipients(recipients: list[str]) -> tuple[dict[str, Mailbox], list[str]]:
    """Recipients hosted here, and remote ones (all in the trust space, else InboxError)."""
    wanted = [r.strip().lower() for r in recipients]
    hosted = {m.address: m for m in Mailbox.objects.filter(address__in=wanted)}
    remote = [r for r in dict.fromkeys(wanted) if r not in hosted]
    if remote:
        space = trustspace.current()
        if space is None:
            raise InboxError(
                "Envoi impossible vers " + ", ".join(remote) + " : la liste blanche MSSanté "
                "n'est pas encore chargée sur ce serveur, l'espace de confiance est donc inconnu. "
                "Prévenez l'administrateur (commande « egide smtp refresh-trust-list »)."
            )
        outside = space.outside(remote)
        if outside:
            raise InboxError(trustspace.explain_outside(outside))
    return hosted, remote


def check_recipients(recipients: list[str]) -> None:
    """Raise InboxError with the French explanation if a recipient is outside the trust space."""
    _split_recipients(recipients)


def dispatch(
    user: User,
    mailbox: Mailbox,
    raw: bytes,
    recipients: list[str],
    *,
    ip: str | None = None,
    dsn: DsnRequest | None = None,
) -> Message:
    """Keep the «Envoyés» copy, deliver to hosted mailboxes, queue the others for SMTP.

    Between mailboxes hosted here the message is signed and encrypted end to end (S/MIME); the
    sender's copy is encrypted to the sender too. Other operators get the plain message over
    verified TLS (their users' certificates are not ours to hold).
    """
    if not may_send(user, mailbox):
        raise InboxError("Vous ne pouvez pas envoyer depuis cette boîte aux lettres.")
    hosted, remote = _split_recipients(recipients)
    plain = raw
    if hosted:
        raw = protect(raw, mailbox, _key(mailbox), list(hosted.values()))
    with transaction.atomic():
        sent = store(mailbox, raw, folder=Folder.SENT, actor=user.username)
        for recipient in hosted.values():
            store(recipient, raw, actor=f"delivery:{mailbox.address}")
        if remote:
            outbound.queue(sent, remote, dsn)
        if dsn is not None and hosted:
            outbound.report_local_delivery(sent, plain, list(hosted), dsn)
        audit.record(
            "message.sent",
            practice_id=mailbox.practice_id,
            actor_id=user.pk,
            actor=user.username,
            on_behalf_of=acting_for(user, mailbox),
            object_type="message",
            object_id=sent.pk,
            ip=ip,
            details={
                "recipients": len(recipients),
                "remote": len(remote),
                "at": timezone.now().isoformat(),
            },
        )
    if remote:
        transaction.on_commit(_kick_queue)
    return sent


def send(user: User, mailbox: Mailbox, draft: mime.Draft, *, ip: str | None = None) -> Message:
    """Compose and send: hosted mailboxes get it now, other operators through the SMTP queue."""
    if not may_send(user, mailbox):
        raise InboxError("Vous ne pouvez pas envoyer depuis cette boîte aux lettres.")
    _split_recipients(list(draft.recipients))  # explain before composing anything
    try:
        raw = mime.compose_message(
            draft,
            domain=mailbox.address.split("@", 1)[1],
            max_bytes=settings.EGIDE_MAX_MESSAGE_BYTES,
        )
    except MessagingError as error:
        raise InboxError(str(error)) from None
    return dispatch(user, mailbox, raw, list(draft.recipients), ip=ip)


def send_health_documents(
    user: User, mailbox: Mailbox, mail: HealthMail, *, ip: str | None = None
) -> Message:
    """Send CDA documents as an IHE_XDM.ZIP with PDF copies, MSSanté subject and headers.

    The confidentiality codes of every document are checked against every recipient first:
    a forbidden pair (MASQUE_PS, INVISIBLE_PATIENT…) blocks the whole send with the reason.
    """
    if not may_send(user, mailbox):
        raise InboxError("Vous ne pouvez pas envoyer depuis cette boîte aux lettres.")
    _split_recipients(list(mail.recipients))
    try:
        raw = compose_health_message(
            mail,
            domain=mailbox.address.split("@", 1)[1],
            max_bytes=settings.EGIDE_MAX_MESSAGE_BYTES,
        )
    except MessagingError as error:
        raise InboxError(str(error)) from None
    return dispatch(user, mailbox, raw, list(mail.recipients), ip=ip)


def _kick_queue() -> None:
    from .tasks import deliver_queue

    deliver_queue()


@dataclass(frozen=True)
class TimelineRow:
    """Where a sent message stands for one recipient: sent → accepted → delivered → read →
    integrated, and the queue state for recipients at other operators."""

    recipient: str
    state: str
    sent_at: object
    accepted_at: object = None
    delivered_at: object = None
    read_at: object = None
    integrated_at: object = None
    detail: str = ""


def timeline(message: Message) -> list[TimelineRow]:
    """The per-recipient receipt timeline of a message in «Envoyés» (empty for others)."""
    if message.folder != Folder.SENT:
        return []
    rows = [
        TimelineRow(
            d.recipient,
            d.get_state_display(),
            d.created_at,
            d.accepted_at,
            d.delivered_at,
            d.read_at,
            d.integrated_at,
            d.report or (d.last_reply if d.state != "delivered" else ""),
        )
        for d in message.deliveries.all()
    ]
    if message.message_id:
        copies = (
            Message.objects.filter(message_id=message.message_id)
            .exclude(folder=Folder.SENT)
            .select_related("mailbox")
        )
        for copy in copies:
            rows.append(
                TimelineRow(
                    copy.mailbox.address,
                    "Remis dans Égide",
                    message.received_at,
                    copy.received_at,
                    copy.received_at,
                    None if copy.unread else copy.received_at,
                    copy.integrated_at,
                    "lu (date exacte non conservée)" if not copy.unread else "",
                )
            )
    return rows


DEMO_DOMAIN = "tilleuls.egide.test"


def create_demo_mailboxes(practice: Practice) -> list[Mailbox]:
    """Personal mailboxes for the demo practitioners, the secretariat's, and one delegation."""
    if Mailbox.objects.filter(practice=practice).exists():
        return []
    members = {user.username: user for user in User.objects.filter(practice=practice)}
    created = []
    for user in members.values():
        if user.rpps:
            local = f"{user.first_name}.{user.last_name}".lower()
            created.append(
                create_mailbox(
                    practice,
                    address=f"{local}@{DEMO_DOMAIN}",
                    kind=MailboxKind.PERSONAL,
                    display_name=f"Dr {user.first_name} {user.last_name}",
                    owner=user,
                )
            )
    created.append(
        create_mailbox(
            practice,
            address=f"secretariat@{DEMO_DOMAIN}",
            kind=MailboxKind.ORGANISATIONAL,
            display_name=f"Secrétariat — {practice.name}",
        )
    )
    doctor, secretary = members.get("dr.martin"), members.get("secretariat")
    if doctor and secretary:
        delegate(
            created[0] if created[0].owner == doctor else Mailbox.objects.get(owner=doctor),
            secretary,
            can_send=True,
            by=doctor,
        )
    return created
