"""A throwaway OIDC identity provider for the tests: an RSA key published as a JWKS, and tokens."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://auth.esw.esante.gouv.test/auth/realms/esante-wallet"
AUDIENCE = "egide-smtp"
RPPS = "99700367909"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    public: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return public


class Issuer:
    """A throwaway identity provider: an RSA key published as a JWKS file, and token minting."""

    def __init__(self, directory: Path) -> None:
        self.key = new_key()
        self.jwks = directory / "jwks.json"
        self.jwks.write_text(json.dumps({"keys": [public_jwk(self.key, "psc-1")]}))

    def token(self, key: Any = None, kid: str = "psc-1", **changes: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:899700367909",
            "SubjectNameID": "8" + RPPS,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        }
        claims.update(changes)
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid})
