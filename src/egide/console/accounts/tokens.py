"""Bearer tokens `<prefix>.<key id>.<secret>` for machines, shown once; only SHA-256(secret) kept.

Used for the agents of the backup service (`egide-agent`) and for the practice software and mail
clients that use the messaging API (`egide-api`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.http import HttpRequest


def new_token(prefix: str) -> tuple[str, str, str]:
    """A fresh (token, key id, secret hash)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return f"{prefix}.{key_id}.{secret}", key_id, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str, prefix: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != prefix or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def bearer(request: HttpRequest, prefix: str) -> tuple[str, str] | None:
    """(key id, secret) from an `Authorization: Bearer …` header, else None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return split_token(token, prefix) if scheme.lower() == "bearer" else None


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
