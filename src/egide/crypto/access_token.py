"""OIDC access tokens (JWT, RFC 9068) checked against the issuer's published keys (JWKS).

Used for SASL XOAUTH2 on submission (and later IMAP), so that a practice's software can send
with a Pro Santé Connect access token instead of an application password. The JOSE work is
PyJWT's (ADR 0016); this recipe fixes the policy so that no caller can weaken it:

- only asymmetric algorithms (RS*, PS*, ES*): an `HS256` token signed with the public key as
  a shared secret, or an unsigned `none` token, is refused (algorithm confusion);
- the key is chosen by the token's `kid` among the issuer's keys, never taken from the token;
- `iss`, `aud`, `exp` are required and checked, `nbf` and `iat` when present; a small leeway
  absorbs clock skew between the identity provider and us.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from .errors import AccessTokenRejected

__all__ = ["ALGORITHMS", "AccessTokenPolicy", "verify_access_token"]

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
_REQUIRED = ["iss", "aud", "exp"]


@dataclass(frozen=True)
class AccessTokenPolicy:
    """What a token must say to be accepted: who issued it, for whom, with which keys."""

    issuer: str
    audience: str
    jwks: str  # the issuer's JSON Web Key Set, as published (JSON text)
    leeway_seconds: int = 30


def _key(token: str, jwks: str) -> jwt.PyJWK:
    try:
        header = jwt.get_unverified_header(token)
        keys = jwt.PyJWKSet.from_json(jwks)
    except jwt.PyJWKSetError as error:
        raise AccessTokenRejected("jwks", f"the issuer's key set is unusable: {error}") from None
    except jwt.PyJWTError as error:
        raise AccessTokenRejected("malformed", f"not a JWT: {error}") from None
    if header.get("alg") not in ALGORITHMS:
        raise AccessTokenRejected("algorithm", f"algorithm {header.get('alg')!r} not allowed")
    kid = header.get("kid")
    if isinstance(kid, str):
        try:
            return keys[kid]
        except KeyError:
            raise AccessTokenRejected("unknown_key", f"no key {kid!r} at the issuer") from None
    if len(keys.keys) == 1:
        return keys.keys[0]
    raise AccessTokenRejected("unknown_key", "the token names no key (kid)")


def verify_access_token(token: str, policy: AccessTokenPolicy) -> Mapping[str, Any]:
    """The claims of `token` once its signature, issuer, audience and dates check out.

    Raises `AccessTokenRejected` whose `reason` is one of: malformed, algorithm, unknown_key,
    jwks, signature, expired, not_yet_valid, issuer, audience, claims.
    """
    key = _key(token, policy.jwks)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=list(ALGORITHMS),
            audience=policy.audience,
            issuer=policy.issuer,
            leeway=policy.leeway_seconds,
            options={"require": _REQUIRED, "verify_signature": True},
        )
    except jwt.ExpiredSignatureError:
        raise AccessTokenRejected("expired", "the token has expired") from None
    except jwt.ImmatureSignatureError:
        raise AccessTokenRejected("not_yet_valid", "the token is not valid yet") from None
    except jwt.InvalidAudienceError:
        raise AccessTokenRejected("audience", "the token is meant for another service") from None
    except jwt.InvalidIssuerError:
        raise AccessTokenRejected("issuer", "the token comes from another issuer") from None
    except jwt.InvalidSignatureError:
        raise AccessTokenRejected("signature", "the signature does not verify") from None
    except jwt.MissingRequiredClaimError as error:
        raise AccessTokenRejected("claims", str(error)) from None
    except jwt.PyJWTError as error:
        raise AccessTokenRejected("malformed", str(error)) from None
    return claims
