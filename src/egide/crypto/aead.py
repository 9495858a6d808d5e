"""Authenticated encryption with AES-256-GCM.

`seal` output format (version 1): 12-byte random nonce || ciphertext || 16-byte tag. A random 96-bit
nonce is safe for up to 2**32 messages under one key (NIST SP 800-38D); callers that encrypt more
under one key derive a fresh key per object (see `derive_key`), which makes nonce reuse impossible
by construction.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import DecryptionFailed, InvalidKeyMaterial

KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
OVERHEAD = NONCE_SIZE + TAG_SIZE


def generate_key() -> bytes:
    """A fresh random 256-bit key."""
    return os.urandom(KEY_SIZE)


def _cipher(key: bytes) -> AESGCM:
    if len(key) != KEY_SIZE:
        raise InvalidKeyMaterial(f"AES-256-GCM needs a {KEY_SIZE}-byte key, got {len(key)}")
    return AESGCM(key)


def seal(key: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """Encrypt and authenticate `plaintext`, binding `aad` (not stored) to it."""
    nonce = os.urandom(NONCE_SIZE)
    return nonce + _cipher(key).encrypt(nonce, plaintext, aad or None)


def open_sealed(key: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    """Decrypt what `seal` produced; raise DecryptionFailed if anything was altered."""
    if len(sealed) < OVERHEAD:
        raise DecryptionFailed("ciphertext too short")
    try:
        return _cipher(key).decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], aad or None)
    except InvalidTag:
        raise DecryptionFailed("authentication failed: wrong key or altered data") from None


def derive_key(master: bytes, salt: bytes, info: bytes) -> bytes:
    """A 256-bit subkey of `master` for one purpose (`info`) and one object (`salt`) (HKDF)."""
    if len(master) != KEY_SIZE:
        raise InvalidKeyMaterial(f"master key must be {KEY_SIZE} bytes")
    return HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=salt, info=info).derive(master)


class CounterCipher:
    """AES-256-GCM under one key with caller-numbered nonces, for a single container (a pack file).

    The nonce is the 96-bit big-endian encoding of `counter`. It is safe only when the key is fresh
    for the container (derived with `derive_key` from a random salt) and every counter is used
    once: then no (key, nonce) pair can repeat, by construction. Output has no nonce prefix.
    """

    def __init__(self, key: bytes) -> None:
        self._aead = _cipher(key)

    def seal(self, counter: int, plaintext: bytes, aad: bytes = b"") -> bytes:
        """Encrypt `plaintext` as message number `counter`; returns ciphertext || tag."""
        return self._aead.encrypt(_counter_nonce(counter), plaintext, aad or None)

    def seal_into(
        self, counter: int, plaintext: bytes | memoryview, aad: bytes, out: memoryview
    ) -> None:
        """`seal`, written into `out` (exactly `len(plaintext) + TAG_SIZE` bytes): no new buffer."""
        self._aead.encrypt_into(_counter_nonce(counter), plaintext, aad or None, out)

    def open(self, counter: int, sealed: bytes | memoryview, aad: bytes = b"") -> bytes:
        """Decrypt message number `counter`; raise DecryptionFailed if anything was altered."""
        if len(sealed) < TAG_SIZE:
            raise DecryptionFailed("ciphertext too short")
        try:
            return self._aead.decrypt(_counter_nonce(counter), sealed, aad or None)
        except InvalidTag:
            raise DecryptionFailed("authentication failed: wrong key or altered data") from None


def _counter_nonce(counter: int) -> bytes:
    if not 0 <= counter < 2 ** (8 * NONCE_SIZE):
        raise InvalidKeyMaterial("nonce counter out of range")
    return counter.to_bytes(NONCE_SIZE, "big")
