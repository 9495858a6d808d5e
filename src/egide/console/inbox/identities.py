"""Certificates of hosted mailboxes, issued by the operator's CA, for end-to-end S/MIME.

The CA's key and certificate live in `EGIDE_KEY_DIR` beside the master key (owner-only files),
created on first use for the embedded default; in production the operator installs IGC-Santé
material there. Each mailbox's private key is stored sealed under its mailbox key, like a message.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from pathlib import Path

from django.conf import settings

from egide.crypto import envelope, x509

from .models import Mailbox

_lock = threading.Lock()
KEY_TYPE: x509.KeyType = "p256"
_SEAL_ID = "smime-key"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@cache
def operator_ca() -> x509.Identity:
    """The operator's CA identity, created once (embedded default) and then only read."""
    directory = Path(settings.EGIDE_MASTER_KEY_FILE).parent
    certificate_path, key_path = directory / "operator-ca.pem", directory / "operator-ca.key"
    with _lock:
        if not certificate_path.exists():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            ca = x509.create_ca("Égide — AC opérateur de messagerie", key_type=KEY_TYPE)
            _write_private(key_path, x509.private_key_pem(ca.private_key))
            certificate_path.write_bytes(x509.certificate_pem(ca.certificate))
    return x509.Identity(
        x509.load_certificate(certificate_path.read_bytes()),
        x509.load_private_key(key_path.read_bytes()),
    )


def anchors() -> list[x509.Certificate]:
    return [operator_ca().certificate]


def issue(address: str, key: envelope.MailboxKey) -> tuple[str, bytes]:
    """(certificate PEM, private key sealed under the mailbox key) for a new mailbox."""
    identity = x509.issue_mailbox_certificate(operator_ca(), address, key_type=KEY_TYPE)
    sealed = envelope.seal_message(
        key, x509.private_key_pem(identity.private_key), mailbox_id=address, message_id=_SEAL_ID
    )
    return x509.certificate_pem(identity.certificate).decode(), sealed


def certificate_of(mailbox: Mailbox) -> x509.Certificate:
    return x509.load_certificate(mailbox.certificate.encode())


class MissingIdentity(LookupError):
    """The mailbox has no S/MIME identity (created before end-to-end protection existed)."""


def identity_of(mailbox: Mailbox, key: envelope.MailboxKey) -> x509.Identity:
    if mailbox.sealed_identity_key is None:
        raise MissingIdentity(f"la BAL {mailbox.address} n'a pas de certificat S/MIME")
    pem = envelope.open_message(
        key, bytes(mailbox.sealed_identity_key), mailbox_id=mailbox.address, message_id=_SEAL_ID
    )
    return x509.Identity(certificate_of(mailbox), x509.load_private_key(pem))
