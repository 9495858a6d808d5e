"""Envelope encryption at rest: round trips, rotation, tampering and misuse."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egide.crypto import envelope
from egide.crypto.errors import DecryptionFailed, InvalidKeyMaterial, KeyNotFound

MAILBOX_ID = "secretariat@tilleuls.egide.test"


@pytest.fixture
def master() -> envelope.MasterKey:
    return envelope.generate_master_key()


@pytest.fixture
def mailbox_key() -> envelope.MailboxKey:
    return envelope.generate_mailbox_key()


def test_a_message_round_trips_through_a_wrapped_mailbox_key(master: envelope.MasterKey) -> None:
    wrapped = envelope.wrap_mailbox_key(master, envelope.generate_mailbox_key(), mailbox_id="m1")
    key = envelope.unwrap_mailbox_key(master, wrapped, mailbox_id="m1")
    blob = envelope.seal_message(key, b"INS 1 84 12 75 123 456", mailbox_id="m1", message_id="a")
    assert b"INS" not in blob
    assert envelope.open_message(key, blob, mailbox_id="m1", message_id="a") == (
        b"INS 1 84 12 75 123 456"
    )


def test_two_seals_of_the_same_message_differ(mailbox_key: envelope.MailboxKey) -> None:
    one = envelope.seal_message(mailbox_key, b"x", mailbox_id="m", message_id="1")
    two = envelope.seal_message(mailbox_key, b"x", mailbox_id="m", message_id="1")
    assert one != two


def test_master_key_rotation_keeps_every_blob_readable(
    master: envelope.MasterKey, mailbox_key: envelope.MailboxKey
) -> None:
    wrapped = envelope.wrap_mailbox_key(master, mailbox_key, mailbox_id=MAILBOX_ID)
    blob = envelope.seal_message(mailbox_key, b"corps", mailbox_id=MAILBOX_ID, message_id="7")
    new_master = envelope.generate_master_key()

    rewrapped = envelope.rewrap_mailbox_key(master, new_master, wrapped, mailbox_id=MAILBOX_ID)

    assert envelope.wrapping_master_key_id(rewrapped) == new_master.key_id
    with pytest.raises(KeyNotFound):
        envelope.unwrap_mailbox_key(master, rewrapped, mailbox_id=MAILBOX_ID)
    key = envelope.unwrap_mailbox_key([master, new_master], rewrapped, mailbox_id=MAILBOX_ID)
    assert envelope.open_message(key, blob, mailbox_id=MAILBOX_ID, message_id="7") == b"corps"


def test_it_refuses_a_mailbox_key_moved_to_another_mailbox(
    master: envelope.MasterKey, mailbox_key: envelope.MailboxKey
) -> None:
    wrapped = envelope.wrap_mailbox_key(master, mailbox_key, mailbox_id="a")
    with pytest.raises(DecryptionFailed):
        envelope.unwrap_mailbox_key(master, wrapped, mailbox_id="b")


@pytest.mark.parametrize(
    ("mailbox_id", "message_id"), [("other", "1"), (MAILBOX_ID, "2"), (MAILBOX_ID + "1", "")]
)
def test_it_refuses_a_blob_moved_to_another_message_or_mailbox(
    mailbox_key: envelope.MailboxKey, mailbox_id: str, message_id: str
) -> None:
    blob = envelope.seal_message(mailbox_key, b"x", mailbox_id=MAILBOX_ID, message_id="1")
    with pytest.raises(DecryptionFailed):
        envelope.open_message(mailbox_key, blob, mailbox_id=mailbox_id, message_id=message_id)


def test_it_refuses_a_blob_under_another_mailbox_key(mailbox_key: envelope.MailboxKey) -> None:
    blob = envelope.seal_message(mailbox_key, b"x", mailbox_id="m", message_id="1")
    assert envelope.message_key_id(blob) == mailbox_key.key_id
    with pytest.raises(KeyNotFound):
        envelope.open_message(envelope.generate_mailbox_key(), blob, mailbox_id="m", message_id="1")


def test_flipping_any_byte_of_a_blob_is_detected(mailbox_key: envelope.MailboxKey) -> None:
    blob = envelope.seal_message(mailbox_key, b"ordonnance", mailbox_id="m", message_id="1")
    for index in range(len(blob)):
        altered = bytearray(blob)
        altered[index] ^= 0x01
        with pytest.raises(DecryptionFailed):
            envelope.open_message(mailbox_key, bytes(altered), mailbox_id="m", message_id="1")


def test_flipping_any_byte_of_a_wrapped_mailbox_key_is_detected(
    master: envelope.MasterKey, mailbox_key: envelope.MailboxKey
) -> None:
    wrapped = envelope.wrap_mailbox_key(master, mailbox_key, mailbox_id="m")
    for index in range(len(wrapped)):
        altered = bytearray(wrapped)
        altered[index] ^= 0x80
        with pytest.raises(DecryptionFailed):
            envelope.unwrap_mailbox_key(master, bytes(altered), mailbox_id="m")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_open_and_never_crash(data: bytes) -> None:
    key = envelope.MailboxKey(bytes(32))
    with pytest.raises(DecryptionFailed):
        envelope.open_message(key, data, mailbox_id="m", message_id="1")
    with pytest.raises(DecryptionFailed):
        envelope.unwrap_mailbox_key(envelope.MasterKey(bytes(32)), data, mailbox_id="m")


def test_the_master_key_file_round_trips(master: envelope.MasterKey) -> None:
    text = envelope.export_master_key(master)
    assert text.startswith(b"egide-master-key-v1:")
    assert envelope.load_master_key(text) == master
    assert envelope.load_master_key(master.secret) == master


@pytest.mark.parametrize(
    "content", [b"", b"short", b"egide-master-key-v1:!!!", b"egide-master-key-v1:AAAA", bytes(31)]
)
def test_it_refuses_a_malformed_master_key_file(content: bytes) -> None:
    with pytest.raises(InvalidKeyMaterial):
        envelope.load_master_key(content)


def test_a_key_never_appears_in_its_repr(master: envelope.MasterKey) -> None:
    assert master.secret.hex() not in repr(master)
    assert repr(master.secret) not in repr(master)
