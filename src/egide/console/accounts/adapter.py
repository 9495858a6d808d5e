"""How django-allauth behaves for Égide: no self sign-up, and an audited lock-out."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django import forms
from django.http import HttpRequest

from egide.console.audit import services as audit

from .models import User


class AccountAdapter(DefaultAccountAdapter):  # type: ignore[misc]
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # Accounts are created by the practice or the operator, never by visitors.
        return False

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        try:
            super().pre_authenticate(request, **credentials)
        except forms.ValidationError:
            username = str(credentials.get("username", ""))[:150]
            target = User.objects.filter(username=username).only("id", "practice_id").first()
            audit.record(
                "login.locked",
                practice_id=target.practice_id if target else None,
                object_type="user",
                object_id=target.pk if target else "",
                ip=audit.client_ip(request),
                details={"username": username},
            )
            raise
