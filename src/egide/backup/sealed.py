"""Sealed repository objects (config secrets, index files, snapshots): format version 1.

    object := "EGOB" || version u8 (=1) || kind u8 || salt[32] || AES-256-GCM ciphertext || tag

The key is HKDF-SHA256(master, salt, "egide-backup v1 object") and is used for this one object
only, with the all-zero nonce: a fresh random 256-bit salt per object makes (key, nonce) reuse
impossible by construction. The header (magic, version, kind) is the AAD, so an index cannot pass
for a snapshot. Plaintext is zstd-compressed. Objects are named by the BLAKE3 hash of their bytes,
which lets `check` verify them without the key.
"""

from __future__ import annotations

import os
from enum import IntEnum

import blake3
import zstandard

from egide.crypto.aead import CounterCipher, derive_key
from egide.crypto.errors import DecryptionFailed

from .errors import RepositoryCorrupted, UnsupportedFormat

MAGIC = b"EGOB"
VERSION = 1
SALT_SIZE = 32
_HEADER = len(MAGIC) + 2 + SALT_SIZE
_INFO = b"egide-backup v1 object"
_MAX_PLAINTEXT = 1 << 31


class Kind(IntEnum):
    """What a sealed object holds."""

    INDEX = 1
    SNAPSHOT = 2


def seal_object(master: bytes, kind: Kind, plaintext: bytes, salt: bytes | None = None) -> bytes:
    """Compress and seal `plaintext`; `salt` is only passed by golden-vector tests."""
    salt = os.urandom(SALT_SIZE) if salt is None else salt
    header = MAGIC + bytes([VERSION, kind]) + salt
    body = zstandard.ZstdCompressor(level=3).compress(plaintext)
    return header + CounterCipher(derive_key(master, salt, _INFO)).seal(0, body, header)


def open_object(master: bytes, kind: Kind, data: bytes, name: str = "") -> bytes:
    """Authenticate, decrypt and decompress a sealed object."""
    if len(data) < _HEADER or data[:4] != MAGIC:
        raise RepositoryCorrupted(f"{name}: not a sealed repository object", name)
    if data[4] != VERSION:
        raise UnsupportedFormat(f"{name}: object format version {data[4]} is unknown")
    if data[5] != kind:
        raise RepositoryCorrupted(f"{name}: unexpected object kind {data[5]}", name)
    header, salt = data[:_HEADER], data[6:_HEADER]
    try:
        body = CounterCipher(derive_key(master, salt, _INFO)).open(0, data[_HEADER:], header)
    except DecryptionFailed:
        raise RepositoryCorrupted(f"{name}: authentication failed (altered bytes)", name) from None
    try:
        return zstandard.ZstdDecompressor().decompress(body, max_output_size=_MAX_PLAINTEXT)
    except zstandard.ZstdError as error:
        raise RepositoryCorrupted(f"{name}: cannot decompress: {error}", name) from None


def object_name(data: bytes | bytearray | memoryview) -> str:
    """The content address of stored bytes: hex BLAKE3-256 of the ciphertext."""
    return blake3.blake3(data).hexdigest()
