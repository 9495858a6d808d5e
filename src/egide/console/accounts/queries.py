"""Tenant scoping: every practice-owned query starts from the signed-in user's practice."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from .models import Practice, Role, User


def current_user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def current_practice(request: HttpRequest) -> Practice:
    """The practice of the signed-in user; operator staff have none and are refused."""
    user = current_user(request)
    if user.practice is None:
        raise PermissionDenied("Cette page est réservée aux membres d'un cabinet.")
    return user.practice


def require_role(request: HttpRequest, *roles: Role) -> User:
    user = current_user(request)
    if user.role not in roles:
        raise PermissionDenied("Votre rôle ne permet pas d'ouvrir cette page.")
    return user
