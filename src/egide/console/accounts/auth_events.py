"""Audit of authentication events raised by Django and django-allauth.

These libraries publish logins, logouts, failures and second-factor changes only as signals, so
this module is the one place that listens to them; it only writes audit entries.
"""

from __future__ import annotations

from typing import Any

from allauth.mfa import signals as mfa_signals
from django.contrib.auth import signals as auth_signals
from django.http import HttpRequest

from egide.console.audit import services as audit

from .models import User
from .services import audit_session


def _on_logged_in(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    audit_session("login.succeeded", user, ip=audit.client_ip(request))


def _on_logged_out(sender: Any, request: HttpRequest, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        audit_session("logout", user, ip=audit.client_ip(request))


def _on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = str(credentials.get("username", ""))[:150]
    target = User.objects.filter(username=username).only("id", "practice_id").first()
    audit.record(
        "login.failed",
        practice_id=target.practice_id if target else None,
        object_type="user",
        object_id=target.pk if target else "",
        ip=audit.client_ip(request) if request is not None else None,
        details={"username": username, "factor": "password"},
    )


def _on_second_factor_failed(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    audit.record(
        "login.failed",
        practice_id=user.practice_id,
        object_type="user",
        object_id=user.pk,
        ip=audit.client_ip(request),
        details={"username": user.username, "factor": "second"},
    )


def _on_authenticator_changed(action: str) -> Any:
    def handler(
        sender: Any, request: HttpRequest, user: User, authenticator: Any, **kw: Any
    ) -> None:
        audit.record(
            action,
            practice_id=user.practice_id,
            actor_id=user.pk,
            actor=user.username,
            object_type="authenticator",
            object_id=authenticator.pk,
            ip=audit.client_ip(request) if request is not None else None,
            details={"type": str(authenticator.type)},
        )

    return handler


_added = _on_authenticator_changed("second_factor.added")
_removed = _on_authenticator_changed("second_factor.removed")


def connect() -> None:
    """Subscribe the handlers; called once from AccountsConfig.ready."""
    auth_signals.user_logged_in.connect(_on_logged_in, dispatch_uid="egide-login")
    auth_signals.user_logged_out.connect(_on_logged_out, dispatch_uid="egide-logout")
    auth_signals.user_login_failed.connect(_on_login_failed, dispatch_uid="egide-login-failed")
    mfa_signals.authentication_failed.connect(
        _on_second_factor_failed, dispatch_uid="egide-mfa-failed"
    )
    mfa_signals.authenticator_added.connect(_added, dispatch_uid="egide-mfa-added")
    mfa_signals.authenticator_removed.connect(_removed, dispatch_uid="egide-mfa-removed")
