"""The account page: identity, second factor, recent sign-ins."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from egide.console.audit.models import AuditEntry

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
        },
    )
