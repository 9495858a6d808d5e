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
import binascii
import datetime
import email
import email.policy
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

_BASE64_LINE = 76  # RFC 2045 §6.8

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
    return entity.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _pkcs7_part(der: bytes, smime_type: str) -> bytes:
    encoded = base64.b64encode(der)
    lines = [encoded[i : i + _BASE64_LINE] for i in range(0, len(encoded), _BASE64_LINE)]
    body = b"\r\n".join(lines) + b"\r\n"
    return (
        b"Content-Type: application/pkcs7-mime; smime-type="
        + smime_type.encode()
        + b'; name="smime.p7m"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="smime.p7m"\r\n'
        b"\r\n" + body
    )


def signed_part(
    entity: bytes,
    signer: Identity,
    *,
    rsa_padding: RsaPadding = "pkcs1v15",
    chain: Sequence[Certificate] = (),
) -> bytes:
    """An opaque `application/pkcs7-mime; smime-type=signed-data` part signing `entity`."""
    der = sign(canonical(entity), signer, rsa_padding=rsa_padding, chain=chain)
    return _pkcs7_part(der, "signed-data")


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
    `crls`): a message is never encrypted to a key the operator's CA did not certify. The
    `intermediates` are also embedded in the signature for the recipient's path building.
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
    signed = signed_part(entity, signer, rsa_padding=rsa_padding, chain=intermediates)
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
        headers, body = _split(entity)
        content_type = headers.get_content_type()
        if content_type in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
            der = _decoded(headers, body)
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
            content, der = _detached_parts(headers, body)
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


def _split(raw: bytes) -> tuple[Message, bytes]:
    """Headers parsed by the email package; body kept as raw bytes.

    The email package's parser reads line by line in Python, far too slow for a 25 MB part, and
    only the headers are needed from it. Base64 decoding ignores line ends, so the body is not
    rewritten; multipart/signed canonicalises its own.
    """
    ends = [(raw.find(sep), sep) for sep in (b"\r\n\r\n", b"\n\n")]
    found = [(index, sep) for index, sep in ends if index >= 0]
    if raw.startswith((b"\r\n", b"\n")):
        return Message(), raw[2:] if raw.startswith(b"\r\n") else raw[1:]
    if not found:
        return email.message_from_bytes(raw, policy=email.policy.compat32), b""
    index, sep = min(found)
    head = raw[: index + len(sep) // 2]
    return email.message_from_bytes(head, policy=email.policy.compat32), raw[index + len(sep) :]


def _decoded(headers: Message, body: bytes) -> bytes:
    encoding = str(headers.get("Content-Transfer-Encoding", "7bit")).strip().lower()
    if encoding == "base64":
        try:
            payload = binascii.a2b_base64(body)
        except binascii.Error:
            raise CmsError("the S/MIME part is not valid base64") from None
    elif encoding in ("7bit", "8bit", "binary"):
        payload = body
    else:
        raise CmsError(f"unsupported transfer encoding {encoding!r} for an S/MIME part")
    if not payload:
        raise CmsError("empty S/MIME part")
    return payload


def _detached_parts(headers: Message, body: bytes) -> tuple[bytes, bytes]:
    """The signed first part exactly as transmitted, and the decoded signature part."""
    boundary = headers.get_boundary()
    if not boundary:
        raise CmsError("multipart/signed without a boundary")
    delimiter = b"\r\n--" + boundary.encode("ascii", "replace")
    # A delimiter may open the body directly: give it the CRLF it would follow.
    pieces = (b"\r\n" + canonical(body)).split(delimiter)
    if len(pieces) < 4:
        raise CmsError("multipart/signed must hold a content part and a signature part")
    # pieces[0] is the preamble; each part starts with the rest of its delimiter line.
    content = pieces[1].split(b"\r\n", 1)[-1] if b"\r\n" in pieces[1] else b""
    signature_part = pieces[2].split(b"\r\n", 1)[-1] if b"\r\n" in pieces[2] else b""
    signature_headers, signature_body = _split(signature_part)
    if signature_headers.get_content_type() not in (
        "application/pkcs7-signature",
        "application/x-pkcs7-signature",
    ):
        raise CmsError("the second part of multipart/signed is not a PKCS#7 signature")
    return content, _decoded(signature_headers, signature_body)
