"""S/MIME (RFC 8551) MIME parts around the CMS layer: sign-then-encrypt, and the way back.

What we write: an `application/pkcs7-mime` part, base64, `smime.p7m`, whose smime-type says what
the DER inside is (`signed-data`, `authEnveloped-data`, `enveloped-data`). Sign-then-encrypt nests
an opaque signed-data part inside the encrypted one, so the signature (and who signed) is hidden
from anyone but the recipients.

What we read: the same, plus `multipart/signed` (detached signatures, what most mail clients
send), nested up to a few layers. The caller puts the message headers (From, To, Subject, Date,
Message-ID) around the outer part and checks that From is among the signer's addresses.
"""

from __future__ import annotations

import base64
import datetime
import email
import email.policy
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message

from . import contentinfo
from .envelopeddata import ContentCipher, decrypt, encrypt
from .errors import CmsError
from .signeddata import RsaPadding, VerifiedSignature, sign, verify_signed
from .x509 import (
    Certificate,
    CertificateRevocationList,
    Identity,
    Usage,
    verify_certificate,
)

#: How many S/MIME layers `open_smime` peels at most (sign-then-encrypt is two).
MAX_LAYERS = 4


@dataclass(frozen=True)
class OpenedMessage:
    """The innermost MIME entity, with what protected it on the way."""

    entity: bytes
    signature: VerifiedSignature | None
    encrypted: bool
    authenticated_encryption: bool


def canonical(entity: bytes) -> bytes:
    """Line ends as CRLF (RFC 8551 §3.1.1), which is what is signed and what OpenSSL checks."""
    return re.sub(rb"\r?\n", b"\r\n", entity)


def _pkcs7_part(der: bytes, smime_type: str) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return (
        b"Content-Type: application/pkcs7-mime; smime-type="
        + smime_type.encode()
        + b'; name="smime.p7m"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="smime.p7m"\r\n'
        b"\r\n" + body
    )


def signed_part(entity: bytes, signer: Identity, *, rsa_padding: RsaPadding = "pkcs1v15") -> bytes:
    """An opaque `application/pkcs7-mime; smime-type=signed-data` part signing `entity`."""
    return _pkcs7_part(sign(canonical(entity), signer, rsa_padding=rsa_padding), "signed-data")


def encrypted_part(
    entity: bytes, recipients: Sequence[Certificate], *, cipher: ContentCipher = "aes256-gcm"
) -> bytes:
    """An `application/pkcs7-mime` part encrypting `entity` (authEnveloped-data by default)."""
    smime_type = "authEnveloped-data" if cipher == "aes256-gcm" else "enveloped-data"
    return _pkcs7_part(encrypt(canonical(entity), recipients, cipher=cipher), smime_type)


def sign_and_encrypt(
    entity: bytes,
    signer: Identity,
    recipients: Sequence[Certificate],
    *,
    anchors: Sequence[Certificate],
    intermediates: Sequence[Certificate] = (),
    crls: Sequence[CertificateRevocationList] = (),
    cipher: ContentCipher = "aes256-gcm",
    rsa_padding: RsaPadding = "pkcs1v15",
) -> bytes:
    """Sign `entity` (a MIME entity: Content-* headers, blank line, body), then encrypt it.

    Every recipient's certificate, and the signer's, is first checked against `anchors` (and
    `crls`): a message is never encrypted to a key the operator's CA did not certify.
    Include the sender's own certificate in `recipients` to read the message back later.
    """
    checks: list[tuple[Certificate, Usage]] = [(signer.certificate, "signing")]
    checks += [(certificate, "encryption") for certificate in recipients]
    for certificate, usage in checks:
        verify_certificate(
            certificate,
            anchors=anchors,
            intermediates=intermediates,
            crls=crls,
            usage=usage,
        )
    signed = signed_part(entity, signer, rsa_padding=rsa_padding)
    return encrypted_part(signed, recipients, cipher=cipher)


def open_smime(
    data: bytes,
    recipient: Identity,
    *,
    anchors: Sequence[Certificate],
    intermediates: Sequence[Certificate] = (),
    crls: Sequence[CertificateRevocationList] = (),
    at: datetime.datetime | None = None,
    allow_unauthenticated: bool = False,
) -> OpenedMessage:
    """Peel S/MIME layers off a message or entity: decrypt, verify, until plain MIME remains.

    Every signature met is verified with its certificate chain (errors raise); the outermost
    valid one is reported. Plain content with no S/MIME layer comes back unchanged.
    """
    entity = data
    signature: VerifiedSignature | None = None
    encrypted = False
    authenticated = True
    for _ in range(MAX_LAYERS):
        message = email.message_from_bytes(entity, policy=email.policy.compat32)
        content_type = message.get_content_type()
        if content_type in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
            der = _decoded_payload(message)
            # The smime-type parameter is advisory (often missing or wrong): the OID decides.
            if contentinfo.content_type(der) == "signed_data":
                verified = verify_signed(
                    der, anchors=anchors, intermediates=intermediates, crls=crls, at=at
                )
                signature = signature or verified
                entity = verified.content
            else:
                decrypted = decrypt(der, recipient, allow_unauthenticated=allow_unauthenticated)
                encrypted = True
                authenticated = authenticated and decrypted.authenticated
                entity = decrypted.content
        elif content_type == "multipart/signed":
            content, der = _detached_parts(entity, message)
            verified = verify_signed(
                der,
                anchors=anchors,
                intermediates=intermediates,
                crls=crls,
                at=at,
                detached_content=content,
            )
            signature = signature or verified
            entity = content
        else:
            return OpenedMessage(entity, signature, encrypted, encrypted and authenticated)
    raise CmsError(f"more than {MAX_LAYERS} S/MIME layers")


def _decoded_payload(message: Message) -> bytes:
    payload = message.get_payload(decode=True)
    if not isinstance(payload, bytes) or not payload:
        raise CmsError("empty or undecodable S/MIME part")
    return payload


def _detached_parts(raw: bytes, message: Message) -> tuple[bytes, bytes]:
    """The signed first part exactly as transmitted, and the decoded signature part."""
    boundary = message.get_boundary()
    if not boundary:
        raise CmsError("multipart/signed without a boundary")
    text = canonical(raw)
    delimiter = b"\r\n--" + boundary.encode("ascii", "replace")
    # The body starts after the first empty line; a delimiter may open the body directly.
    body_start = text.find(b"\r\n\r\n")
    if body_start < 0:
        raise CmsError("multipart/signed without a body")
    body = b"\r\n" + text[body_start + 4 :]
    pieces = body.split(delimiter)
    if len(pieces) < 4:
        raise CmsError("multipart/signed must hold a content part and a signature part")
    # pieces[0] is the preamble; each part starts with the rest of its delimiter line.
    content = pieces[1].split(b"\r\n", 1)[-1] if b"\r\n" in pieces[1] else b""
    signature_part = pieces[2].split(b"\r\n", 1)[-1] if b"\r\n" in pieces[2] else b""
    signature_message = email.message_from_bytes(signature_part, policy=email.policy.compat32)
    if signature_message.get_content_type() not in (
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
    ):
        raise CmsError("the second part of multipart/signed is not a PKCS#7 signature")
    return content, _decoded_payload(signature_message)
