"""The web inbox: mailboxes and folders, reading, composing, attachments."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from egide.console.accounts.queries import current_user
from egide.console.audit.services import client_ip
from egide.messaging import mime
from egide.messaging.health_message import HealthMail

from . import services
from .access import mailbox_for, mailboxes_for, may_send, message_for
from .directory_search import suggest
from .documents import find_documents
from .forms import ComposeForm
from .models import Folder, Message


def _sidebar(request: HttpRequest) -> list[tuple[object, int]]:
    user = current_user(request)
    boxes = mailboxes_for(user).annotate(
        unread_count=Count(
            "messages", filter=Q(messages__unread=True, messages__folder=Folder.INBOX)
        )
    )
    return [(box, box.unread_count) for box in boxes]


@login_required
def index(request: HttpRequest) -> HttpResponse:
    boxes = mailboxes_for(current_user(request))
    first = boxes.first()
    if first is None:
        return render(request, "inbox/empty.html")
    return redirect("inbox:folder", mailbox_id=first.pk, folder=Folder.INBOX)


@login_required
def folder(request: HttpRequest, mailbox_id: int, folder: str) -> HttpResponse:
    user = current_user(request)
    mailbox = mailbox_for(user, mailbox_id)
    if folder not in Folder.values:
        folder = Folder.INBOX
    query = request.GET.get("q", "").strip().lower()
    rows = []
    for message in Message.objects.filter(mailbox=mailbox, folder=folder).select_related("mailbox")[
        :500
    ]:
        summary = services.summary_of(message)
        haystack = f"{summary.subject} {summary.snippet} {message.sender}".lower()
        if not query or query in haystack:
            rows.append((message, summary))
    return render(
        request,
        "inbox/folder.html",
        {
            "sidebar": _sidebar(request),
            "mailbox": mailbox,
            "folder": folder,
            "folders": Folder.choices,
            "rows": rows,
            "query": query,
        },
    )


@login_required
def read(request: HttpRequest, message_id: int) -> HttpResponse:
    user = current_user(request)
    message = message_for(user, message_id)
    parsed = services.read(user, message, ip=client_ip(request))
    thread = (
        Message.objects.filter(mailbox=message.mailbox, thread=message.thread).exclude(
            pk=message.pk
        )
        if message.thread
        else Message.objects.none()
    )
    found = (
        find_documents(services.plain_of(message), settings.EGIDE_MAX_MESSAGE_BYTES)
        if parsed is not None
        else None
    )
    return render(
        request,
        "inbox/message.html",
        {
            "sidebar": _sidebar(request),
            "mailbox": message.mailbox,
            "message": message,
            "parsed": parsed,
            "thread": [(m, services.summary_of(m)) for m in thread],
            "documents": found,
            "timeline": services.timeline(message),
        },
    )


@login_required
def download(request: HttpRequest, message_id: int, index: int) -> HttpResponse:
    user = current_user(request)
    message = message_for(user, message_id)
    try:
        part = services.attachment(user, message, index, ip=client_ip(request))
    except services.InboxError as error:
        flash.error(request, str(error))
        return redirect("inbox:read", message_id=message.pk)
    response = HttpResponse(part.data, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{part.filename}"'
    return response


@login_required
@require_POST
def delete(request: HttpRequest, message_id: int) -> HttpResponse:
    user = current_user(request)
    message = message_for(user, message_id)
    services.trash(user, message, ip=client_ip(request))
    flash.success(request, _("Message placé dans la corbeille."))
    return redirect("inbox:folder", mailbox_id=message.mailbox_id, folder=Folder.INBOX)


@login_required
def compose(request: HttpRequest) -> HttpResponse:
    user = current_user(request)
    senders = [(box.pk, str(box)) for box in mailboxes_for(user) if may_send(user, box)]
    if not senders:
        flash.error(request, _("Vous n'avez aucune boîte aux lettres depuis laquelle envoyer."))
        return redirect("inbox:index")
    form = ComposeForm(request.POST or None, request.FILES or None, mailboxes=senders)
    if request.method == "POST" and form.is_valid():
        mailbox = mailbox_for(user, form.cleaned_data["mailbox"])
        upload = form.cleaned_data.get("attachment")
        attachments: tuple[mime.Attachment, ...] = ()
        if upload is not None:
            attachments = (
                mime.Attachment(
                    upload.name, upload.content_type or "application/octet-stream", upload.read()
                ),
            )
        recipients = tuple(form.cleaned_data["to"])
        cda = form.cleaned_data.get("cda")
        try:
            if cda is not None:
                mail = HealthMail(
                    sender=mailbox.address,
                    recipients=recipients,
                    body=form.cleaned_data["body"],
                    cda_files=(cda.read(),),
                    nil=settings.EGIDE_MSS_NIL,
                    source_id=settings.EGIDE_MSS_SOURCE_OID,
                    label=form.cleaned_data["subject"] or None,
                )
                services.send_health_documents(user, mailbox, mail, ip=client_ip(request))
            else:
                draft = mime.Draft(
                    sender=mailbox.address,
                    recipients=recipients,
                    subject=form.cleaned_data["subject"],
                    body=form.cleaned_data["body"],
                    attachments=attachments,
                    headers=(
                        {"Disposition-Notification-To": mailbox.address}
                        if form.cleaned_data.get("receipt")
                        else {}
                    ),
                )
                services.send(user, mailbox, draft, ip=client_ip(request))
        except services.InboxError as error:
            form.add_error(None, str(error))
        else:
            flash.success(request, _("Message envoyé."))
            return redirect("inbox:folder", mailbox_id=mailbox.pk, folder=Folder.SENT)
    return render(request, "inbox/compose.html", {"sidebar": _sidebar(request), "form": form})


@login_required
def recipients(request: HttpRequest) -> JsonResponse:
    """Autocomplete for the «À» field of the compose form."""
    current_user(request)
    return JsonResponse({"suggestions": suggest(request.GET.get("q", ""))})
