"""Envelope encryption of messages at rest: master key → mailbox keys → one data key per message.

Three levels, so that the database and the blob storage never hold a usable key:

- the operator's **master key** (32 bytes, read from a key file by the caller) wraps
- each **mailbox key** (32 bytes, random), stored wrapped next to the mailbox row, which wraps
- a fresh **data key** per message, stored wrapped inside the message blob.

Rotating the master key rewraps the (few) mailbox keys and never touches the (many) message blobs.
Every wrapped value is AES-256-GCM (`aead.seal`) whose associated data binds it to its header and
to its owner (mailbox id, message id), so a blob or a wrapped key copied onto another mailbox or
message fails to open instead of decrypting under the wrong name.

Byte formats (version 1) are specified in docs/formats/message-at-rest.md and frozen by golden
vectors in tests/crypto/test_envelope_format.py. Change them only by adding a version.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import aead
from .errors import DecryptionFailed, InvalidKeyMaterial, KeyNotFound

#: Magic of a wrapped mailbox key: "Égide Mailbox Key".
MAILBOX_KEY_MAGIC = b"EGMK"
#: Magic of a message blob: "Égide Message Blob".
MESSAGE_MAGIC = b"EGMB"
#: The only format version written; readers refuse any other.
FORMAT_VERSION = 1
#: Length of a key id: a truncated, domain-separated SHA-256 of the key (never the key itself).
KEY_ID_SIZE = 8
#: Header = magic (4) || version (1) || key id (8).
HEADER_SIZE = 4 + 1 + KEY_ID_SIZE
#: A data key sealed under the mailbox key: nonce (12) || 32-byte key encrypted || tag (16).
WRAPPED_DATA_KEY_SIZE = aead.OVERHEAD + aead.KEY_SIZE
#: Prefix of the text form of a master key file.
MASTER_KEY_FILE_PREFIX = b"egide-master-key-v1:"

_KEY_ID_DOMAIN = b"egide/key-id/v1\x00"
_MAILBOX_KEY_CONTEXT = b"egide/mailbox-key/v1\x00"
_DATA_KEY_CONTEXT = b"egide/data-key/v1\x00"
_MESSAGE_CONTEXT = b"egide/message/v1\x00"


def _key_id(secret: bytes) -> bytes:
    return hashlib.sha256(_KEY_ID_DOMAIN + secret).digest()[:KEY_ID_SIZE]


def _checked(secret: bytes) -> bytes:
    if len(secret) != aead.KEY_SIZE:
        raise InvalidKeyMaterial(f"a key must be {aead.KEY_SIZE} bytes, got {len(secret)}")
    return secret


@dataclass(frozen=True)
class MasterKey:
    """The operator's key-encryption key. `secret` never appears in a repr."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _checked(self.secret)

    @property
    def key_id(self) -> bytes:
        """Public identifier recorded in every wrapped mailbox key."""
        return _key_id(self.secret)


@dataclass(frozen=True)
class MailboxKey:
    """One mailbox's key-encryption key (unwrapped, in memory only)."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _checked(self.secret)

    @property
    def key_id(self) -> bytes:
        """Public identifier recorded in every message blob sealed under this key."""
        return _key_id(self.secret)


def generate_master_key() -> MasterKey:
    """A fresh random master key (write it with `export_master_key`)."""
    return MasterKey(aead.generate_key())


def export_master_key(key: MasterKey) -> bytes:
    """The key file content: `egide-master-key-v1:` + base64 of the 32 bytes + newline."""
    return MASTER_KEY_FILE_PREFIX + base64.b64encode(key.secret) + b"\n"


def load_master_key(data: bytes) -> MasterKey:
    """Read a master key file's content: the text form above, or exactly 32 raw bytes."""
    text = data.strip()
    if text.startswith(MASTER_KEY_FILE_PREFIX):
        try:
            secret = base64.b64decode(text[len(MASTER_KEY_FILE_PREFIX) :], validate=True)
        except binascii.Error:
            raise InvalidKeyMaterial("the master key file is not valid base64") from None
        return MasterKey(secret)
    if len(data) == aead.KEY_SIZE:
        return MasterKey(data)
    raise InvalidKeyMaterial(
        "the master key file must hold 'egide-master-key-v1:<base64>' or 32 raw bytes"
    )


def generate_mailbox_key() -> MailboxKey:
    """A fresh random mailbox key (store only its wrapped form)."""
    return MailboxKey(aead.generate_key())


def _owner(*parts: str) -> bytes:
    # Length-prefixed so that ("ab", "c") and ("a", "bc") never give the same bytes.
    out = b""
    for part in parts:
        raw = part.encode("utf-8")
        if len(raw) > 0xFFFF:
            raise InvalidKeyMaterial("identifier longer than 65535 bytes")
        out += struct.pack(">H", len(raw)) + raw
    return out


def _header(magic: bytes, key_id: bytes) -> bytes:
    return magic + bytes([FORMAT_VERSION]) + key_id


def _split_header(magic: bytes, blob: bytes, what: str) -> tuple[bytes, bytes]:
    if len(blob) < HEADER_SIZE or blob[:4] != magic:
        raise DecryptionFailed(f"not an Égide {what}")
    if blob[4] != FORMAT_VERSION:
        raise DecryptionFailed(f"unsupported {what} format version {blob[4]}")
    return blob[:HEADER_SIZE], blob[5:HEADER_SIZE]


def wrap_mailbox_key(master: MasterKey, key: MailboxKey, *, mailbox_id: str) -> bytes:
    """Encrypt `key` under `master`, bound to `mailbox_id`; store the result with the mailbox."""
    header = _header(MAILBOX_KEY_MAGIC, master.key_id)
    aad = header + _MAILBOX_KEY_CONTEXT + _owner(mailbox_id)
    return header + aead.seal(master.secret, key.secret, aad)


def wrapping_master_key_id(wrapped: bytes) -> bytes:
    """Which master key wrapped this mailbox key (to find the ones left to rotate)."""
    return _split_header(MAILBOX_KEY_MAGIC, wrapped, "wrapped mailbox key")[1]


def unwrap_mailbox_key(
    masters: MasterKey | Iterable[MasterKey], wrapped: bytes, *, mailbox_id: str
) -> MailboxKey:
    """Decrypt a wrapped mailbox key with whichever of `masters` wrapped it.

    Several master keys are accepted so that reads go on during a rotation. Raises KeyNotFound
    when none of them wrapped it, DecryptionFailed when the bytes or the mailbox id do not match.
    """
    header, key_id = _split_header(MAILBOX_KEY_MAGIC, wrapped, "wrapped mailbox key")
    candidates = [masters] if isinstance(masters, MasterKey) else list(masters)
    master = next((m for m in candidates if m.key_id == key_id), None)
    if master is None:
        raise KeyNotFound(f"no master key with id {key_id.hex()} was given")
    aad = header + _MAILBOX_KEY_CONTEXT + _owner(mailbox_id)
    secret = aead.open_sealed(master.secret, wrapped[HEADER_SIZE:], aad)
    if len(secret) != aead.KEY_SIZE:
        raise DecryptionFailed("the wrapped mailbox key has the wrong length")
    return MailboxKey(secret)


def rewrap_mailbox_key(
    old: MasterKey | Iterable[MasterKey], new: MasterKey, wrapped: bytes, *, mailbox_id: str
) -> bytes:
    """Master-key rotation for one mailbox: unwrap with `old`, wrap again with `new`.

    Message blobs name the mailbox key, not the master key, so they stay valid untouched.
    """
    return wrap_mailbox_key(
        new, unwrap_mailbox_key(old, wrapped, mailbox_id=mailbox_id), mailbox_id=mailbox_id
    )


def _message_aad(header: bytes, mailbox_id: str, message_id: str) -> bytes:
    return header + _MESSAGE_CONTEXT + _owner(mailbox_id, message_id)


def _data_key_aad(header: bytes, mailbox_id: str, message_id: str) -> bytes:
    return header + _DATA_KEY_CONTEXT + _owner(mailbox_id, message_id)


def seal_message(key: MailboxKey, plaintext: bytes, *, mailbox_id: str, message_id: str) -> bytes:
    """Encrypt one message (or attachment) for storage under a fresh data key."""
    header = _header(MESSAGE_MAGIC, key.key_id)
    aad = _message_aad(header, mailbox_id, message_id)
    data_key = aead.generate_key()
    wrapped_data_key = aead.seal(
        key.secret, data_key, _data_key_aad(header, mailbox_id, message_id)
    )
    return header + wrapped_data_key + aead.seal(data_key, plaintext, aad)


def message_key_id(blob: bytes) -> bytes:
    """Which mailbox key sealed this blob (a mailbox may keep older keys after its own rotation)."""
    return _split_header(MESSAGE_MAGIC, blob, "message blob")[1]


def open_message(key: MailboxKey, blob: bytes, *, mailbox_id: str, message_id: str) -> bytes:
    """Decrypt what `seal_message` produced; DecryptionFailed if anything does not match."""
    header, key_id = _split_header(MESSAGE_MAGIC, blob, "message blob")
    if key_id != key.key_id:
        raise KeyNotFound(f"this blob was sealed under mailbox key {key_id.hex()}")
    body_start = HEADER_SIZE + WRAPPED_DATA_KEY_SIZE
    if len(blob) < body_start + aead.OVERHEAD:
        raise DecryptionFailed("message blob truncated")
    data_key = aead.open_sealed(
        key.secret, blob[HEADER_SIZE:body_start], _data_key_aad(header, mailbox_id, message_id)
    )
    return aead.open_sealed(
        data_key, blob[body_start:], _message_aad(header, mailbox_id, message_id)
    )
