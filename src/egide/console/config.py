"""Typed readers that turn environment variables into settings values.

Every reader fails loudly with `ImproperlyConfigured`, naming the variable, what was wrong and
what to write instead, so a misconfigured process refuses to start rather than run unsafely.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def read_str(env: Mapping[str, str], name: str, default: str) -> str:
    """The raw value of `name`, stripped, or `default` when unset."""
    return env.get(name, default).strip()


def read_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean written as 1/0, true/false, yes/no or on/off."""
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean: write 1 or 0 (true/false).")


def read_int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    """An integer between `low` and `high` inclusive."""
    raw = env.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None
    if not low <= value <= high:
        raise ImproperlyConfigured(f"{name}={value} is out of range: use {low}–{high}.")
    return value


def read_list(env: Mapping[str, str], name: str, default: list[str]) -> list[str]:
    """A comma-separated list; empty items are ignored."""
    raw = env.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def read_directory(env: Mapping[str, str], name: str, default: Path) -> Path:
    """A directory, created with owner-only permissions when missing."""
    raw = env.get(name)
    path = Path(raw).expanduser() if raw else default
    if not path.is_absolute():
        path = Path.cwd() / path
    if path.exists() and not path.is_dir():
        raise ImproperlyConfigured(f"{name}={str(path)!r} exists but is not a directory.")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise ImproperlyConfigured(f"{name}: cannot create {path} ({error.strerror}).") from None
    return path


def read_secret_file(env: Mapping[str, str], name: str) -> str | None:
    """The content of the file named by `name`, or None when the variable is unset.

    Secrets live in files (mounted by the operator's secret store), never in the environment
    itself, so they do not leak through `ps e`, crash reports or child processes.
    """
    raw = env.get(name)
    if raw is None:
        return None
    path = Path(raw).expanduser()
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ImproperlyConfigured(f"{name}: cannot read {path} ({error.strerror}).") from None
    if not value:
        raise ImproperlyConfigured(f"{name}: the file {path} is empty.")
    return value


def ensure_secret_file(path: Path, nbytes: int = 50) -> str:
    """The secret stored in `path`, generated with owner-only permissions on first use.

    Used by the embedded default only: a single practice gets a stable key without any setup.
    """
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(nbytes))
    return path.read_text(encoding="utf-8").strip()


def read_database_url(env: Mapping[str, str], name: str, default: str) -> str:
    """A database URL: sqlite:///PATH or postgres://USER@HOST:PORT/NAME."""
    value = env.get(name, default).strip()
    scheme = value.split(":", 1)[0]
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(
            f"{name}={value!r}: unsupported database. Use sqlite:///path/egide.sqlite3 or "
            "postgresql://user@host:5432/name."
        )
    return value


def read_json_file(
    env: Mapping[str, str], name: str, *, required: tuple[str, ...]
) -> dict[str, object] | None:
    """A JSON object read from the secret file named by `name`, with its required keys."""
    text = read_secret_file(env, name)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name}: the file is not valid JSON ({error}).") from None
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{name}: a JSON object is expected.")
    missing = [key for key in required if key not in value]
    if missing:
        raise ImproperlyConfigured(f"{name}: missing keys {', '.join(missing)}.")
    return value


OIDC_USER_CLAIMS = ("SubjectNameID", "email", "preferred_username")


@dataclass(frozen=True)
class OidcSettings:
    """An OIDC issuer whose access tokens open SMTP submission (and later IMAP) via XOAUTH2.

    `jwks` is where the issuer's keys are read: an `https://` URL (fetched, cached for
    `jwks_cache_seconds`) or a local file (re-read when it changes). `user_claim` names the claim
    that designates the Égide user: Pro Santé Connect's `SubjectNameID` (the national identifier,
    «8» followed by the RPPS number), `email` or `preferred_username` (the Égide login).
    """

    issuer: str
    audience: str
    jwks: str
    user_claim: str = "SubjectNameID"
    jwks_cache_seconds: int = 3600
    jwks_ca_file: str = ""  # CA bundle for the JWKS download; the system's when empty


def read_oidc(env: Mapping[str, str], prefix: str = "EGIDE_OIDC") -> OidcSettings | None:
    """The OIDC issuer trusted for access tokens, or None when `{prefix}_ISSUER` is unset."""
    issuer = read_str(env, f"{prefix}_ISSUER", "")
    if not issuer:
        return None
    audience = read_str(env, f"{prefix}_AUDIENCE", "")
    jwks = read_str(env, f"{prefix}_JWKS", "")
    if not audience or not jwks:
        raise ImproperlyConfigured(
            f"{prefix}_ISSUER is set: {prefix}_AUDIENCE (our client id at the issuer) and "
            f"{prefix}_JWKS (the issuer's JWKS URL https://… or a file) are needed too."
        )
    if "://" in jwks and not jwks.startswith("https://"):
        raise ImproperlyConfigured(f"{prefix}_JWKS={jwks!r}: only https:// URLs or a file.")
    if "://" not in jwks and not Path(jwks).expanduser().is_file():
        raise ImproperlyConfigured(f"{prefix}_JWKS={jwks!r}: no such file.")
    claim = read_str(env, f"{prefix}_USER_CLAIM", "SubjectNameID")
    if claim not in OIDC_USER_CLAIMS:
        raise ImproperlyConfigured(
            f"{prefix}_USER_CLAIM={claim!r}: use one of {', '.join(OIDC_USER_CLAIMS)}."
        )
    return OidcSettings(
        issuer=issuer,
        audience=audience,
        jwks=jwks if "://" in jwks else str(Path(jwks).expanduser()),
        user_claim=claim,
        jwks_cache_seconds=read_int(
            env, f"{prefix}_JWKS_CACHE_SECONDS", 3600, low=60, high=7 * 24 * 3600
        ),
        jwks_ca_file=read_str(env, f"{prefix}_JWKS_CA_FILE", ""),
    )
