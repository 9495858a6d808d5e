"""Golden vectors freezing docs/formats/message-at-rest.md (version 1).

`_encode_*` below is a second, independent encoder written from the format page with fixed nonces;
its output is pinned as hex, and the library must open it. If one of these tests fails, the format
changed: add a version instead of editing the vectors.
"""

from __future__ import annotations

import hashlib
import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from egide.crypto import envelope

# Fixed, public test keys (never used outside tests).
MASTER = bytes(range(32))
MAILBOX = bytes(range(32, 64))
DATA_KEY = bytes(range(64, 96))
NONCE_1 = bytes.fromhex("000102030405060708090a0b")
NONCE_2 = bytes.fromhex("101112131415161718191a1b")
MAILBOX_ID = "dr.martin@tilleuls.egide.test"
MESSAGE_ID = "msg-0001"
PLAINTEXT = b"Compte rendu : TA 12/8, patient stable."

GOLDEN_MASTER_KEY_ID = "30df3a6bac1e2490"
GOLDEN_WRAPPED_MAILBOX_KEY = (
    "45474d4b0130df3a6bac1e2490000102030405060708090a0b6723f438e1c0e43ca568bda09dc45642b3e7b507"
    "c44e694b005edfbe21543e8dced3c5d75d5604da6f2a252fd7556a50"
)
GOLDEN_MESSAGE_BLOB = (
    "45474d42010c9fa7a170f7f190000102030405060708090a0b1c131fe40e70adabf4b0838d6a3e10734321bb37"
    "3e44f0467c5489e1e7dc95c7f785f917c2069e8926f0521602521c15101112131415161718191a1b3a5550a122"
    "f43451cbc8b225cbc22fe24437b5fb2929662b080fbdb8be07c6f09080739900966d32e3ca96b32e9dfa5f1ba7"
    "9c61078ad1"
)


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"egide/key-id/v1\x00" + key).digest()[:8]


def _owner(*parts: str) -> bytes:
    return b"".join(struct.pack(">H", len(p.encode())) + p.encode() for p in parts)


def _seal(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _encode_wrapped_mailbox_key() -> bytes:
    header = b"EGMK\x01" + _key_id(MASTER)
    aad = header + b"egide/mailbox-key/v1\x00" + _owner(MAILBOX_ID)
    return header + _seal(MASTER, NONCE_1, MAILBOX, aad)


def _encode_message_blob() -> bytes:
    header = b"EGMB\x01" + _key_id(MAILBOX)
    owner = _owner(MAILBOX_ID, MESSAGE_ID)
    wdk = _seal(MAILBOX, NONCE_1, DATA_KEY, header + b"egide/data-key/v1\x00" + owner)
    body = _seal(DATA_KEY, NONCE_2, PLAINTEXT, header + b"egide/message/v1\x00" + owner)
    return header + wdk + body


def test_the_key_id_is_pinned() -> None:
    assert envelope.MasterKey(MASTER).key_id.hex() == GOLDEN_MASTER_KEY_ID


def test_the_independent_encoder_still_gives_the_golden_wrapped_mailbox_key() -> None:
    assert _encode_wrapped_mailbox_key().hex() == GOLDEN_WRAPPED_MAILBOX_KEY


def test_the_library_opens_the_golden_wrapped_mailbox_key() -> None:
    key = envelope.unwrap_mailbox_key(
        envelope.MasterKey(MASTER),
        bytes.fromhex(GOLDEN_WRAPPED_MAILBOX_KEY),
        mailbox_id=MAILBOX_ID,
    )
    assert key.secret == MAILBOX


def test_the_independent_encoder_still_gives_the_golden_message_blob() -> None:
    assert _encode_message_blob().hex() == GOLDEN_MESSAGE_BLOB


def test_the_library_opens_the_golden_message_blob() -> None:
    plaintext = envelope.open_message(
        envelope.MailboxKey(MAILBOX),
        bytes.fromhex(GOLDEN_MESSAGE_BLOB),
        mailbox_id=MAILBOX_ID,
        message_id=MESSAGE_ID,
    )
    assert plaintext == PLAINTEXT


def test_the_library_writes_the_documented_sizes() -> None:
    master = envelope.MasterKey(MASTER)
    wrapped = envelope.wrap_mailbox_key(master, envelope.MailboxKey(MAILBOX), mailbox_id="x")
    assert len(wrapped) == 73
    blob = envelope.seal_message(
        envelope.MailboxKey(MAILBOX), PLAINTEXT, mailbox_id="x", message_id="y"
    )
    assert len(blob) == len(PLAINTEXT) + 101
    assert blob[:13] == b"EGMB\x01" + _key_id(MAILBOX)
