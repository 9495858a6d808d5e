"""Passphrase-based key derivation with Argon2id (RFC 9106) through argon2-cffi.

The parameters travel with what they protect (a key slot records its own salt, time cost, memory
cost and parallelism), so they can be raised later without breaking old slots.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw

from .errors import InvalidKeyMaterial

SALT_SIZE = 16


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost parameters; `memory_kib` in KiB. Defaults follow RFC 9106's second choice."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 2

    def __post_init__(self) -> None:
        if self.time_cost < 1 or self.parallelism < 1 or self.memory_kib < 8 * self.parallelism:
            raise InvalidKeyMaterial("Argon2id parameters out of range")


def new_salt() -> bytes:
    """A fresh random salt for one derivation."""
    return os.urandom(SALT_SIZE)


def derive_from_passphrase(
    passphrase: bytes, salt: bytes, params: Argon2Params, length: int = 32
) -> bytes:
    """A `length`-byte key from `passphrase` and `salt` with Argon2id."""
    if len(salt) < 8:
        raise InvalidKeyMaterial("Argon2id salt must be at least 8 bytes")
    return hash_secret_raw(
        secret=passphrase,
        salt=salt,
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        hash_len=length,
        type=Type.ID,
    )
