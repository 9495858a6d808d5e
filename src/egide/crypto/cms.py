"""CMS (RFC 5652) and S/MIME (RFC 8551): the one import for end-to-end message protection.

`cryptography`'s PKCS#7 API cannot do RSA-OAEP, AES-GCM or signature verification, so the CMS
structures are built here from its primitives and asn1crypto's ASN.1 definitions
(docs/decisions/0006-cms-asn1.md). Interoperability with `openssl cms` is tested both ways.

| need | call |
|---|---|
| sign bytes (DER SignedData) | `sign(content, identity)` |
| verify signature + chain | `verify_signed(der, anchors=...)` → `VerifiedSignature` |
| encrypt for recipients | `encrypt(content, [certificate, ...])` → AuthEnvelopedData, AES-256-GCM |
| decrypt | `decrypt(der, identity)` → `Decrypted` |
| S/MIME sign-then-encrypt | `sign_and_encrypt(entity, identity, recipients)` → MIME part |
| S/MIME open and verify | `open_smime(data, identity, anchors=...)` → `OpenedMessage` |

Algorithms written: SHA-256; RSA PKCS#1 v1.5 (default) or PSS, ECDSA P-256 signatures;
AES-256-GCM content (AES-256-CBC on request); RSA-OAEP-SHA-256 key transport for RSA
certificates, ECDH-ES + X9.63-SHA-256 KDF + AES-256 key wrap for EC certificates.
"""

from __future__ import annotations

from .envelopeddata import ContentCipher, Decrypted, decrypt, encrypt
from .signeddata import RsaPadding, VerifiedSignature, sign, verify_signed
from .smime import (
    MAX_LAYERS,
    OpenedMessage,
    canonical,
    encrypted_part,
    open_smime,
    sign_and_encrypt,
    signed_part,
)

__all__ = [
    "MAX_LAYERS",
    "ContentCipher",
    "Decrypted",
    "OpenedMessage",
    "RsaPadding",
    "VerifiedSignature",
    "canonical",
    "decrypt",
    "encrypt",
    "encrypted_part",
    "open_smime",
    "sign",
    "sign_and_encrypt",
    "signed_part",
    "verify_signed",
]
