"""End-to-end protection of messages between mailboxes hosted by Égide (S/MIME, CMS).

The routing headers (From, To, Subject, Date, Message-ID, threading, X-MSS-*) stay outside, as in
any S/MIME mail; the content (Content-* headers and body, attachments included) is signed by the
sender's mailbox key, then encrypted with AES-256-GCM to every recipient and to the sender (for
its «Envoyés» copy). Profile: docs/formats/smime-e2e.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import SMTP

from egide.crypto import cms, envelope
from egide.crypto.errors import CryptoError

from . import identities
from .models import Mailbox

SMIME_TYPES = {"application/pkcs7-mime", "application/x-pkcs7-mime", "multipart/signed"}


class ProtectionError(Exception):
    """A protected message could not be opened or its signature did not verify."""


@dataclass(frozen=True)
class Opened:
    raw: bytes  # the plain message: outer headers + the decrypted, verified content
    signer: str | None  # the verified signer's address, None when the message was not protected


def _split(raw: bytes) -> tuple[list[tuple[str, bytes]], bytes]:
    """Header lines (name, raw bytes with folding) and the body."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = raw.partition(separator)
        if found:
            break
    else:
        head, body = raw, b""
    headers: list[tuple[str, bytes]] = []
    for line in head.replace(b"\r\n", b"\n").split(b"\n"):
        if line[:1] in (b" ", b"\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + b"\r\n" + line)
        elif line:
            headers.append(
                (line.split(b":", 1)[0].decode("ascii", "replace").strip().lower(), line)
            )
    return headers, body


def _is_content(name: str) -> bool:
    return name.startswith("content-") or name == "mime-version"


def protect(
    raw: bytes, sender: Mailbox, sender_key: envelope.MailboxKey, to: list[Mailbox]
) -> bytes:
    """Sign with the sender's mailbox identity, encrypt to the recipients and the sender."""
    headers, body = _split(raw)
    entity = b"\r\n".join(line for name, line in headers if _is_content(name)) + b"\r\n\r\n" + body
    outer = b"\r\n".join(line for name, line in headers if not _is_content(name))
    recipients = [identities.certificate_of(mailbox) for mailbox in [*to, sender]]
    part = cms.sign_and_encrypt(
        entity, identities.identity_of(sender, sender_key), recipients,
        anchors=identities.anchors(),
    )  # fmt: skip
    return outer + b"\r\nMIME-Version: 1.0\r\n" + part


def is_protected(raw: bytes) -> bool:
    header_block = raw.partition(b"\r\n\r\n")[0] or raw.partition(b"\n\n")[0]
    message = BytesHeaderParser(policy=SMTP).parsebytes(header_block + b"\r\n\r\n")
    return message.get_content_type() in SMIME_TYPES


def open_protected(raw: bytes, mailbox: Mailbox, key: envelope.MailboxKey) -> Opened:
    """Decrypt and verify; the signer must be the mailbox named in From."""
    if not is_protected(raw):
        return Opened(raw, None)
    try:
        opened = cms.open_smime(
            raw, identities.identity_of(mailbox, key), anchors=identities.anchors()
        )
    except CryptoError as error:
        raise ProtectionError(f"message protégé illisible : {error}") from None
    if opened.signature is None or not opened.authenticated_encryption:
        raise ProtectionError("message protégé sans signature ou sans chiffrement authentifié")
    headers, _ = _split(raw)
    sender = BytesHeaderParser(policy=SMTP).parsebytes(
        b"\r\n".join(line for name, line in headers if name == "from") + b"\r\n\r\n"
    )["from"]
    signers = [address.lower() for address in opened.signature.signer_addresses]
    if sender is None or sender.addresses[0].addr_spec.lower() not in signers:
        raise ProtectionError("la signature n'est pas celle de l'expéditeur annoncé")
    outer = b"\r\n".join(line for name, line in headers if not _is_content(name))
    return Opened(outer + b"\r\n" + opened.entity, signers[0])
