"""Access tokens from an OIDC issuer (Pro Santé Connect) as a way in for machines and clients.

`user_for_access_token` is what SMTP submission's XOAUTH2 calls (and an IMAP server can call
too): the token is checked by `egide.crypto.access_token` against the keys the issuer publishes
(its JWKS, read from a file or an `https://` URL and cached), then the configured claim names the
Égide user. Every refusal is audited with its reason (expired, wrong audience, bad signature,
unknown user…), never with the token itself.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings

from egide.console.audit import services as audit
from egide.console.config import OidcSettings
from egide.crypto.access_token import AccessTokenPolicy, verify_access_token
from egide.crypto.errors import AccessTokenRejected

from .models import User

log = logging.getLogger(__name__)
MAX_JWKS_BYTES = 256 * 1024
_lock = threading.Lock()
# source -> (stamp: file mtime or fetch time, JWKS text)
_jwks_cache: dict[str, tuple[float, str]] = {}


class JwksUnavailable(Exception):
    """The issuer's keys could not be read and no earlier copy is at hand."""


def _fetch(url: str, ca_file: str) -> str:
    context = ssl.create_default_context(cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        with urllib.request.urlopen(url, context=context, timeout=10) as response:  # noqa: S310
            data: bytes = response.read(MAX_JWKS_BYTES + 1)
    except OSError as error:
        raise JwksUnavailable(f"JWKS download failed: {error}") from None
    if len(data) > MAX_JWKS_BYTES:
        raise JwksUnavailable("JWKS too large")
    return data.decode("utf-8")


def issuer_keys(oidc: OidcSettings, *, refresh: bool = False) -> str:
    """The issuer's JWKS text: a file re-read when it changes, a URL fetched at most hourly.

    A failed download keeps the previous keys in use (the issuer's outage must not lock every
    practice out at once); without any previous copy it raises `JwksUnavailable`.
    """
    source = oidc.jwks
    with _lock:
        cached = _jwks_cache.get(source)
    if "://" not in source:
        try:
            mtime = Path(source).stat().st_mtime
        except OSError as error:
            raise JwksUnavailable(f"JWKS file unreadable: {error}") from None
        if cached and cached[0] == mtime:
            return cached[1]
        text = Path(source).read_text(encoding="utf-8")
        stamp = mtime
    else:
        if cached and not refresh and time.time() - cached[0] < oidc.jwks_cache_seconds:
            return cached[1]
        try:
            text = _fetch(source, oidc.jwks_ca_file)
        except JwksUnavailable:
            if cached:
                log.warning("JWKS refresh failed, keeping the keys fetched before", exc_info=True)
                return cached[1]
            raise
        stamp = time.time()
    with _lock:
        _jwks_cache[source] = (stamp, text)
    return text


def verify(token: str, oidc: OidcSettings) -> Mapping[str, Any]:
    """The token's claims, checked; a key unknown to the cached set triggers one refetch."""
    policy = AccessTokenPolicy(oidc.issuer, oidc.audience, issuer_keys(oidc))
    try:
        return verify_access_token(token, policy)
    except AccessTokenRejected as error:
        if error.reason != "unknown_key" or "://" not in oidc.jwks:
            raise
    # The issuer may have rotated its keys since we cached them.
    policy = AccessTokenPolicy(oidc.issuer, oidc.audience, issuer_keys(oidc, refresh=True))
    return verify_access_token(token, policy)


def user_for_claims(claims: Mapping[str, Any], claim: str) -> User | None:
    """The active user designated by `claim` (RPPS-based SubjectNameID, email or login)."""
    value = claims.get(claim)
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    users = User.objects.filter(is_active=True)
    if claim == "SubjectNameID":
        # Pro Santé Connect: the national identifier, «8» + the 11-digit RPPS number.
        if not (len(value) == 12 and value.isdigit() and value.startswith("8")):
            return None
        found = list(users.filter(rpps=value[1:])[:2])
    elif claim == "email":
        found = list(users.filter(email__iexact=value)[:2])
    else:
        found = list(users.filter(username=value)[:2])
    return found[0] if len(found) == 1 else None  # ambiguous: nobody


def user_for_access_token(
    token: str, *, login: str = "", ip: str | None, channel: str
) -> User | None:
    """The user an access token stands for, or None with the refusal audited.

    `login` is the user name the client sent beside the token (XOAUTH2's `user=`); when given,
    it must be the designated user's login or email, so a token cannot be replayed under
    another name in logs and audit.
    """
    oidc = settings.EGIDE_OIDC
    reason, user = "", None
    if not isinstance(oidc, OidcSettings):
        reason = "not_configured"
    else:
        try:
            claims = verify(token, oidc)
        except AccessTokenRejected as error:
            reason = error.reason
        except JwksUnavailable as error:
            log.error("access token not checked: %s", error)
            reason = "jwks"
        else:
            user = user_for_claims(claims, oidc.user_claim)
            if user is None:
                reason = "unknown_user"
            elif login and login.lower() not in (user.username.lower(), user.email.lower()):
                reason, user = "login_mismatch", None
    if user is not None:
        return user
    audit.record(
        "access_token.refused",
        practice_id=None,
        object_type="access_token",
        ip=ip,
        details={"channel": channel, "reason": reason},
    )
    return None
