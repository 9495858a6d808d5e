"""Mailboxes (BAL), delegations and stored messages.

What stays in clear: routing (addresses, Message-ID, dates, sizes, folder, flags). Everything else —
subject, body, attachments, other headers — is inside encrypted blobs (`egide.crypto.envelope`):
the full message in the blob store, a small summary (subject, snippet, attachment names) in
`Message.summary`. A copy of the database and of the blob store reveals no health data.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

from egide.console.accounts.models import Practice, User


class MailboxKind(models.TextChoices):
    PERSONAL = "PER", _("Personnelle")
    ORGANISATIONAL = "ORG", _("Organisationnelle")
    APPLICATIVE = "APP", _("Applicative")


class ImmutableFieldError(ValueError):
    """An MSSanté mailbox's address and type never change after creation."""


class Mailbox(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.PROTECT, related_name="mailboxes")
    address = models.EmailField(_("adresse"), unique=True)
    kind = models.CharField(_("type"), max_length=3, choices=MailboxKind.choices)
    display_name = models.CharField(_("nom affiché"), max_length=200)
    owner = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="personal_mailboxes"
    )
    rpps = models.CharField(max_length=11, blank=True)
    unlisted = models.BooleanField(_("liste rouge"), default=False)
    wrapped_key = models.BinaryField()
    certificate = models.TextField(blank=True)
    sealed_identity_key = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["practice", "kind", "address"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=~models.Q(kind="PER") | models.Q(owner__isnull=False),
                name="personal_mailbox_has_owner",
            )
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._frozen = (self.address, self.kind) if self.pk else None

    def __str__(self) -> str:
        return f"{self.display_name} <{self.address}>"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._frozen is not None and self._frozen != (self.address, self.kind):
            raise ImmutableFieldError("l'adresse et le type d'une BAL ne changent jamais")
        super().save(*args, **kwargs)
        self._frozen = (self.address, self.kind)


class Delegation(models.Model):
    """A practitioner lets someone (usually the secretary) read, and maybe send, from a mailbox."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="delegations")
    delegate = models.ForeignKey(User, on_delete=models.CASCADE, related_name="delegations")
    can_send = models.BooleanField(_("peut envoyer"), default=False)
    granted_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["mailbox", "delegate"], name="one_delegation_per_person"
            )
        ]

    def __str__(self) -> str:
        return f"{self.delegate} → {self.mailbox}"


class Folder(models.TextChoices):
    INBOX = "inbox", _("Réception")
    SENT = "sent", _("Envoyés")
    TRASH = "trash", _("Corbeille")
    QUARANTINE = "quarantine", _("À traiter")


class Message(models.Model):
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="messages")
    folder = models.CharField(max_length=16, choices=Folder.choices, default=Folder.INBOX)
    message_id = models.CharField(max_length=250, blank=True, db_index=True)
    in_reply_to = models.CharField(max_length=250, blank=True)
    thread = models.CharField(max_length=250, blank=True, db_index=True)
    sender = models.CharField(max_length=254)
    recipients = models.JSONField(default=list)
    received_at = models.DateTimeField(auto_now_add=True)
    size = models.PositiveIntegerField()
    unread = models.BooleanField(default=True)
    flagged = models.BooleanField(default=False)
    blob = models.CharField(max_length=120, unique=True)
    summary = models.BinaryField()
    attachment_count = models.PositiveSmallIntegerField(default=0)
    problem = models.CharField(max_length=300, blank=True)
    signed_by = models.EmailField(blank=True)
    integrated_at = models.DateTimeField(null=True, blank=True)
    # Kept by the SMTP group commit before its full parse (ADR 0015): False until the worker
    # wrote its summary; `envelope_from` is the SMTP reverse-path, for the DSN if unreadable.
    summarised = models.BooleanField(default=True)
    envelope_from = models.CharField(max_length=254, blank=True)
    # IMAP: the UID given in `imap_folder`. A message found in another folder than the one its
    # UID was given in (moved by the web inbox) gets a new UID there, as IMAP requires.
    imap_uid = models.PositiveIntegerField(null=True, blank=True)
    imap_folder = models.CharField(max_length=16, blank=True)
    imap_deleted = models.BooleanField(default=False)  # IMAP \Deleted, until EXPUNGE

    class Meta:
        ordering: ClassVar = ["-received_at"]
        indexes: ClassVar = [
            models.Index(fields=["mailbox", "folder", "-received_at"]),
            models.Index(
                fields=["id"], condition=models.Q(summarised=False), name="message_to_summarise"
            ),
        ]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["mailbox", "imap_folder", "imap_uid"],
                condition=models.Q(imap_uid__isnull=False),
                name="one_imap_uid_per_folder",
            )
        ]

    def __str__(self) -> str:
        return f"{self.mailbox.address} #{self.pk}"


class ImapFolderState(models.Model):
    """IMAP bookkeeping of one folder of a mailbox: its UIDVALIDITY and the next UID to give."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="imap_folders")
    folder = models.CharField(max_length=16, choices=Folder.choices)
    uid_validity = models.PositiveIntegerField()
    uid_next = models.PositiveIntegerField(default=1)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["mailbox", "folder"], name="one_imap_state_per_folder")
        ]

    def __str__(self) -> str:
        return f"{self.mailbox.address}/{self.folder} (UIDVALIDITY {self.uid_validity})"


class DeliveryState(models.TextChoices):
    QUEUED = "queued", _("En file d'attente")
    DEFERRED = "deferred", _("Différé (nouvel essai prévu)")
    DELIVERED = "delivered", _("Accepté par l'opérateur destinataire")
    BOUNCED = "bounced", _("Échec définitif")


class OutboundDelivery(models.Model):
    """One recipient of a sent message hosted by another operator of the trust space.

    The message itself is not copied: the worker decrypts the sender's «Envoyés» copy when it
    delivers. The timeline (accepted → delivered → read → integrated) is filled from the peer's
    SMTP answer and from the DSN and MDN reports that come back.
    """

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="deliveries")
    recipient = models.CharField(max_length=254)
    domain = models.CharField(max_length=253, db_index=True)
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_reply = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    integrated_at = models.DateTimeField(null=True, blank=True)
    # RFC 3461, as the sender asked on submission: NOTIFY ("" = default: failure and delay),
    # ORCPT, RET (FULL/HDRS) and ENVID; when the «delayed» report went out.
    notify = models.CharField(max_length=40, blank=True)
    original_recipient = models.CharField(max_length=500, blank=True)
    dsn_ret = models.CharField(max_length=4, blank=True)
    envelope_id = models.CharField(max_length=100, blank=True)
    delay_notified_at = models.DateTimeField(null=True, blank=True)
    report = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering: ClassVar = ["created_at", "recipient"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["message", "recipient"], name="one_delivery_per_rcpt")
        ]

    def __str__(self) -> str:
        return f"{self.recipient} ({self.state})"
