"""The account page: identity, second factor, recent sign-ins."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from egide.console.audit.models import AuditEntry

from . import services
from .models import ApiToken
from .queries import current_user


@login_required
def account(request: HttpRequest) -> HttpResponse:
    user = current_user(request)
    factors = Authenticator.objects.filter(user=user).order_by("type")
    logins = AuditEntry.objects.filter(
        actor_id=user.pk, action__in=["login.succeeded", "logout"]
    ).order_by("-at")[:10]
    return render(
        request,
        "accounts/account.html",
        {
            "member": user,
            "factors": factors,
            "logins": logins,
            "session_expiry": request.session.get_expiry_date(),
            "api_tokens": ApiToken.objects.filter(user=user, revoked_at__isnull=True),
        },
    )


@login_required
@require_POST
def create_token(request: HttpRequest) -> HttpResponse:
    user = current_user(request)
    name = request.POST.get("name", "").strip()[:120]
    if not name:
        messages.error(request, _("Donnez un nom au jeton (par exemple le nom de votre logiciel)."))
        return redirect("account")
    api_token, token = services.create_api_token(user, name)
    return render(request, "accounts/token_created.html", {"api_token": api_token, "token": token})


@login_required
@require_POST
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    user = current_user(request)
    api_token = get_object_or_404(ApiToken, pk=token_id, user=user, revoked_at__isnull=True)
    services.revoke_api_token(api_token, by=user)
    messages.success(request, _("Jeton révoqué."))
    return redirect("account")
