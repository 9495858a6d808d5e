"""CMS encryption: AuthEnvelopedData with AES-256-GCM (RFC 5083, RFC 5084), and EnvelopedData
with AES-256-CBC (RFC 5652 §6, RFC 3565) for software that cannot read GCM.

AuthEnvelopedData is the default and the only one read without asking: GCM authenticates the
content. CBC has no integrity of its own (its content must be signed inside) and is read only when
the caller passes `allow_unauthenticated=True`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from asn1crypto import cms, core
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding as symmetric_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import contentinfo
from .errors import CmsError, CryptoError, DecryptionFailed, InvalidKeyMaterial
from .recipients import recipient_info, unwrap_content_key
from .x509 import Certificate, Identity

ContentCipher = Literal["aes256-gcm", "aes256-cbc"]

_KEY_SIZE = 32
_GCM_NONCE_SIZE = 12
_GCM_TAG_SIZE = 16
_CBC_IV_SIZE = 16


class GcmParameters(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """GCMParameters (RFC 5084 §3.2); absent from asn1crypto 1.5."""

    _fields = [  # noqa: RUF012  # asn1crypto's declarative schema
        ("aes_nonce", core.OctetString),
        ("aes_icvlen", core.Integer, {"default": 12}),
    ]


@dataclass(frozen=True)
class Decrypted:
    """Decrypted content, and whether the encryption itself authenticated it (GCM)."""

    content: bytes
    authenticated: bool


def encrypt(
    content: bytes, recipients: Sequence[Certificate], *, cipher: ContentCipher = "aes256-gcm"
) -> bytes:
    """A DER ContentInfo encrypting `content` for every certificate in `recipients`.

    Check the recipients' certificates first (`x509.verify_certificate(..., usage="encryption")`):
    this function trusts them.
    """
    if not recipients:
        raise InvalidKeyMaterial("at least one recipient is needed")
    content_key = os.urandom(_KEY_SIZE)
    infos = [recipient_info(certificate, content_key) for certificate in recipients]
    if cipher == "aes256-gcm":
        nonce = os.urandom(_GCM_NONCE_SIZE)
        sealed = AESGCM(content_key).encrypt(nonce, content, None)
        auth_enveloped = cms.AuthEnvelopedData(
            {
                "version": "v0",
                "recipient_infos": infos,
                "auth_encrypted_content_info": {
                    "content_type": "data",
                    "content_encryption_algorithm": {
                        "algorithm": "aes256_gcm",
                        "parameters": GcmParameters(
                            {"aes_nonce": nonce, "aes_icvlen": _GCM_TAG_SIZE}
                        ),
                    },
                    "encrypted_content": sealed[:-_GCM_TAG_SIZE],
                },
                "mac": sealed[-_GCM_TAG_SIZE:],
            }
        )
        return contentinfo.dump("authenticated_enveloped_data", auth_enveloped)
    iv = os.urandom(_CBC_IV_SIZE)
    padder = symmetric_padding.PKCS7(128).padder()
    padded = padder.update(content) + padder.finalize()
    encryptor = Cipher(algorithms.AES(content_key), modes.CBC(iv)).encryptor()
    enveloped = cms.EnvelopedData(
        {
            # RFC 5652 §6.1: version 2 as soon as a RecipientInfo is not version 0 (kari is v3).
            "version": "v0" if all(info.name == "ktri" for info in infos) else "v2",
            "recipient_infos": infos,
            "encrypted_content_info": {
                "content_type": "data",
                "content_encryption_algorithm": {"algorithm": "aes256_cbc", "parameters": iv},
                "encrypted_content": encryptor.update(padded) + encryptor.finalize(),
            },
        }
    )
    return contentinfo.dump("enveloped_data", enveloped)


def decrypt(der: bytes, recipient: Identity, *, allow_unauthenticated: bool = False) -> Decrypted:
    """Decrypt an AuthEnvelopedData (or, if allowed, an EnvelopedData) meant for `recipient`.

    Raises DecryptionFailed (altered or wrong key), KeyNotFound (not addressed to this
    certificate) or CmsError (malformed, unsupported, or CBC without `allow_unauthenticated`).
    """
    kind, content = contentinfo.load(der, "authenticated_enveloped_data", "enveloped_data")
    if kind == "enveloped_data" and not allow_unauthenticated:
        raise CmsError("EnvelopedData (no integrity) refused: expected AuthEnvelopedData")
    try:
        if kind == "authenticated_enveloped_data":
            return Decrypted(_open_gcm(content, recipient), authenticated=True)
        return Decrypted(_open_cbc(content, recipient), authenticated=False)
    except CryptoError:
        raise
    except contentinfo.PARSE_ERRORS as exc:
        raise CmsError(f"malformed encrypted CMS: {exc}") from None


def _encrypted_content(info: Any, algorithm_name: str) -> tuple[bytes, Any]:
    if info["content_type"].native != "data":
        raise CmsError("only encrypted content of type id-data is supported")
    algorithm = info["content_encryption_algorithm"]
    if algorithm["algorithm"].native != algorithm_name:
        raise CmsError(f"unsupported content encryption {algorithm['algorithm'].native}")
    if not info["encrypted_content"]:
        raise CmsError("detached encrypted content is not supported")
    return bytes(info["encrypted_content"].native), algorithm["parameters"]


def _open_gcm(auth_enveloped: Any, recipient: Identity) -> bytes:
    if auth_enveloped["version"].native != "v0":
        raise CmsError("AuthEnvelopedData version must be 0")
    ciphertext, parameters = _encrypted_content(
        auth_enveloped["auth_encrypted_content_info"], "aes256_gcm"
    )
    gcm = GcmParameters.load(parameters.dump(), strict=True)
    nonce = gcm["aes_nonce"].native
    tag = auth_enveloped["mac"].native
    if len(nonce) != _GCM_NONCE_SIZE or gcm["aes_icvlen"].native != _GCM_TAG_SIZE:
        raise CmsError("only 12-byte nonces and 16-byte tags are accepted")
    if len(tag) != _GCM_TAG_SIZE:
        raise DecryptionFailed("the authentication tag has the wrong length")
    auth_attrs = auth_enveloped["auth_attrs"]
    # RFC 5083 §2.2: authenticated attributes are the AAD, DER-encoded as a SET (tag 0x31).
    aad = b"\x31" + auth_attrs.dump()[1:] if auth_attrs else None
    content_key = unwrap_content_key(list(auth_enveloped["recipient_infos"]), recipient)
    if len(content_key) != _KEY_SIZE:
        raise DecryptionFailed("the content key has the wrong length")
    try:
        return AESGCM(content_key).decrypt(nonce, ciphertext + tag, aad)
    except InvalidTag:
        raise DecryptionFailed("authentication failed: the message was altered") from None


def _open_cbc(enveloped: Any, recipient: Identity) -> bytes:
    if enveloped["version"].native not in ("v0", "v2"):
        raise CmsError(f"unsupported EnvelopedData version {enveloped['version'].native}")
    ciphertext, parameters = _encrypted_content(enveloped["encrypted_content_info"], "aes256_cbc")
    iv = parameters.native
    if len(iv) != _CBC_IV_SIZE or not ciphertext or len(ciphertext) % _CBC_IV_SIZE:
        raise CmsError("malformed AES-256-CBC parameters or content")
    content_key = unwrap_content_key(list(enveloped["recipient_infos"]), recipient)
    if len(content_key) != _KEY_SIZE:
        raise DecryptionFailed("the content key has the wrong length")
    decryptor = Cipher(algorithms.AES(content_key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = symmetric_padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise DecryptionFailed("wrong key or altered content (bad padding)") from None
