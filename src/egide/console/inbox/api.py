"""JSON API for practice software (LPS): send, list, fetch, mark read, acknowledge integration.

Authentication: `Authorization: Bearer egide-api.…` (an application password of one person, created
on the account page); the same access rules as the web inbox apply. Errors are problem details
(RFC 9457). Schema: `GET /api/v1/openapi.json`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from egide.console.accounts.models import User
from egide.console.accounts.services import user_for_request
from egide.console.audit import services as audit
from egide.messaging import mime

from . import outbound, services
from .access import mailbox_for, mailboxes_for, message_for
from .models import Folder, Message
from .openapi import SCHEMA

View = Callable[..., HttpResponse]


def problem(status: int, title: str, detail: str) -> JsonResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    response = JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})
    response["Content-Type"] = "application/problem+json"
    return response


def token_required(view: Callable[..., HttpResponse]) -> View:
    @csrf_exempt  # bearer tokens, not cookies: no cross-site request can carry them
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = user_for_request(request)
        if user is None:
            response = problem(
                401, "Non authentifié", "Jeton d'application absent, inconnu ou révoqué."
            )
            response["WWW-Authenticate"] = 'Bearer realm="egide-api"'
            return response
        try:
            return view(request, user, *args, **kwargs)
        except Http404 as error:
            return problem(404, "Introuvable", str(error))
        except services.InboxError as error:
            return problem(422, "Action refusée", str(error))
        except (ValueError, KeyError, TypeError) as error:
            return problem(400, "Requête invalide", str(error))

    return wrapper


def _summary(message: Message) -> dict[str, Any]:
    summary = services.summary_of(message)
    return {
        "id": message.pk,
        "mailbox": message.mailbox.address,
        "folder": message.folder,
        "message_id": message.message_id,
        "from": message.sender,
        "to": message.recipients,
        "subject": summary.subject,
        "received_at": message.received_at.isoformat(),
        "size": message.size,
        "unread": message.unread,
        "attachment_names": summary.attachments,
        "integrated_at": message.integrated_at.isoformat() if message.integrated_at else None,
        "problem": message.problem or None,
    }


def openapi(request: HttpRequest) -> JsonResponse:
    return JsonResponse(SCHEMA, json_dumps_params={"ensure_ascii": False})


@token_required
def mailboxes(request: HttpRequest, user: User) -> JsonResponse:
    rows = [
        {"id": box.pk, "address": box.address, "kind": box.kind, "name": box.display_name}
        for box in mailboxes_for(user)
    ]
    return JsonResponse({"mailboxes": rows})


@token_required
def messages(request: HttpRequest, user: User) -> HttpResponse:
    if request.method == "POST":
        return _send(request, user)
    mailbox = mailbox_for(user, int(request.GET["mailbox"]))
    folder = request.GET.get("folder", Folder.INBOX)
    if folder not in Folder.values:
        raise ValueError(f"dossier inconnu : {folder}")
    rows = Message.objects.filter(mailbox=mailbox, folder=folder).select_related("mailbox")
    if request.GET.get("unread") == "1":
        rows = rows.filter(unread=True)
    if request.GET.get("integrated") == "0":
        rows = rows.filter(integrated_at__isnull=True)
    return JsonResponse({"messages": [_summary(message) for message in rows[:200]]})


def _send(request: HttpRequest, user: User) -> HttpResponse:
    if len(request.body) > settings.EGIDE_MAX_MESSAGE_BYTES * 4 // 3 + 65536:
        return problem(413, "Message trop volumineux", "La taille maximale est dépassée.")
    data = json.loads(request.body)
    mailbox = mailboxes_for(user).filter(address=str(data["from"]).lower()).first()
    if mailbox is None:
        return problem(
            403, "Expéditeur refusé", "Vous n'êtes ni titulaire ni délégué de cette BAL."
        )
    try:
        attachments = tuple(
            mime.Attachment(
                str(a["filename"]),
                str(a.get("content_type", "application/octet-stream")),
                base64.b64decode(a["data_base64"], validate=True),
            )
            for a in data.get("attachments", [])
        )
    except binascii.Error:
        raise ValueError("pièce jointe : base64 invalide") from None
    draft = mime.Draft(
        sender=mailbox.address,
        recipients=tuple(str(r) for r in data["to"]),
        subject=str(data["subject"]),
        body=str(data.get("body", "")),
        attachments=attachments,
        headers={str(k): str(v) for k, v in data.get("headers", {}).items()},
    )
    sent = services.send(user, mailbox, draft, ip=audit.client_ip(request))
    return JsonResponse(_summary(sent), status=201)


@token_required
def message(request: HttpRequest, user: User, message_id: int) -> HttpResponse:
    found = message_for(user, message_id)
    parsed = services.read(user, found, ip=audit.client_ip(request))
    body = _summary(found)
    if parsed is not None:
        body |= {
            "body": parsed.body,
            "headers": parsed.headers,
            "warnings": parsed.warnings,
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "data_base64": base64.b64encode(a.data).decode(),
                }
                for a in parsed.attachments
            ],
        }
    return JsonResponse(body, json_dumps_params={"ensure_ascii": False})


@token_required
def raw(request: HttpRequest, user: User, message_id: int) -> HttpResponse:
    found = message_for(user, message_id)
    services.read(user, found, ip=audit.client_ip(request))
    return HttpResponse(services.plain_of(found), content_type="message/rfc822")


@token_required
def mark_read(request: HttpRequest, user: User, message_id: int) -> HttpResponse:
    if request.method != "POST":
        return problem(405, "Méthode refusée", "Utilisez POST.")
    found = message_for(user, message_id)
    Message.objects.filter(pk=found.pk).update(unread=False)
    return HttpResponse(status=204)


@token_required
def acknowledge(request: HttpRequest, user: User, message_id: int) -> HttpResponse:
    """The practice software says it integrated the message into the patient record."""
    if request.method != "POST":
        return problem(405, "Méthode refusée", "Utilisez POST.")
    found = message_for(user, message_id)
    with transaction.atomic():
        Message.objects.filter(pk=found.pk).update(integrated_at=timezone.now(), unread=False)
        if found.integrated_at is None:
            outbound.send_mdn(found, services.plain_of(found), disposition=outbound.MDN_PROCESSED)
        services.audit_access(user, found, "message.integrated", ip=audit.client_ip(request))
    return HttpResponse(status=204)
