"""Who may read and send from which mailbox.

- a personal mailbox (PER): its owner, and the people the owner delegated it to;
- an organisational or applicative mailbox (ORG, APP): every member of its practice.
Operator staff reach no mailbox. Anything else answers «not found», never «forbidden», so that
mailbox ids of other practices cannot be probed.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from egide.console.accounts.models import User

from .models import Delegation, Mailbox, MailboxKind, Message


def mailboxes_for(user: User) -> QuerySet[Mailbox]:
    if user.practice_id is None:
        return Mailbox.objects.none()
    shared = Q(practice_id=user.practice_id) & ~Q(kind=MailboxKind.PERSONAL)
    delegated = Q(delegations__delegate=user)
    return Mailbox.objects.filter(shared | Q(owner=user) | delegated).distinct()


def mailbox_for(user: User, mailbox_id: int) -> Mailbox:
    mailbox = mailboxes_for(user).filter(pk=mailbox_id).first()
    if mailbox is None:
        raise Http404("Boîte aux lettres introuvable.")
    return mailbox


def message_for(user: User, message_id: int) -> Message:
    message = (
        Message.objects.select_related("mailbox")
        .filter(pk=message_id, mailbox__in=mailboxes_for(user))
        .first()
    )
    if message is None:
        raise Http404("Message introuvable.")
    return message


def may_send(user: User, mailbox: Mailbox) -> bool:
    if mailbox.kind != MailboxKind.PERSONAL:
        return mailbox.practice_id == user.practice_id
    if mailbox.owner_id == user.pk:
        return True
    return Delegation.objects.filter(mailbox=mailbox, delegate=user, can_send=True).exists()


def acting_for(user: User, mailbox: Mailbox) -> str:
    """The owner's username when `user` acts as a delegate on a personal mailbox, else ''."""
    if mailbox.kind == MailboxKind.PERSONAL and mailbox.owner_id != user.pk and mailbox.owner:
        return mailbox.owner.username
    return ""


def home_card(user: User) -> dict[str, int]:
    """Counts for the home page card: mailboxes reachable, unread and «à traiter» messages."""
    boxes = mailboxes_for(user)
    messages = Message.objects.filter(mailbox__in=boxes)
    return {
        "mailboxes": boxes.count(),
        "unread": messages.filter(folder="inbox", unread=True).count(),
        "quarantined": messages.filter(folder="quarantine").count(),
    }
