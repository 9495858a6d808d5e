"""Agent tokens `egide-agent.<key id>.<secret>`: shown once; only the secret's SHA-256 is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

PREFIX = "egide-agent"


def new_token() -> tuple[str, str, str]:
    """A fresh (token, key id, secret hash)."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return f"{PREFIX}.{key_id}.{secret}", key_id, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
