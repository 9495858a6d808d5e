"""Key slots: the random master key, wrapped once per passphrase (format version 1).

`keys/<slot id>` is a JSON document, readable without any key:

    {"format": "egide-backup-key", "version": 1, "id": "<16 hex>", "label": "...",
     "created": "<ISO 8601 UTC>",
     "kdf": {"name": "argon2id", "time_cost": 3, "memory_kib": 65536, "parallelism": 2,
             "salt": "<base64, 16 bytes>"},
     "wrapped": "<base64: nonce || AES-256-GCM(master key) || tag>"}

The wrapping key is Argon2id(passphrase, salt) and is used once (fresh salt per slot, rewritten
on every change). The AAD binds the wrap to the slot id. Adding, removing or changing a passphrase
rewrites only slots: the master key, and so every pack and snapshot, stay as they are.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from egide.crypto import aead, kdf
from egide.crypto.errors import DecryptionFailed

from .errors import KeySlotError, RepositoryCorrupted, UnsupportedFormat, WrongPassphrase
from .storage import Storage

PREFIX = "keys/"
_FORMAT = "egide-backup-key"
_VERSION = 1


@dataclass(frozen=True)
class KeySlot:
    """What `key list` shows about a slot (never the wrapped key)."""

    slot_id: str
    label: str
    created: str
    memory_kib: int
    time_cost: int


def _aad(slot_id: str) -> bytes:
    return f"egide-backup key slot v1 {slot_id}".encode()


def add_slot(
    storage: Storage, master: bytes, passphrase: bytes, params: kdf.Argon2Params, label: str = ""
) -> str:
    """Wrap `master` under `passphrase` in a new slot; returns the slot id."""
    slot_id = secrets.token_hex(8)
    salt = kdf.new_salt()
    wrapping = kdf.derive_from_passphrase(passphrase, salt, params)
    document = {
        "format": _FORMAT,
        "version": _VERSION,
        "id": slot_id,
        "label": label,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "kdf": {
            "name": "argon2id",
            "time_cost": params.time_cost,
            "memory_kib": params.memory_kib,
            "parallelism": params.parallelism,
            "salt": base64.b64encode(salt).decode(),
        },
        "wrapped": base64.b64encode(aead.seal(wrapping, master, _aad(slot_id))).decode(),
    }
    storage.put(PREFIX + slot_id, json.dumps(document, indent=1).encode())
    return slot_id


def _load(storage: Storage, name: str) -> dict[str, object]:
    try:
        document = json.loads(storage.get(name))
    except (ValueError, UnicodeDecodeError):
        raise RepositoryCorrupted(f"{name}: key slot is not JSON", name) from None
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise RepositoryCorrupted(f"{name}: not a key slot", name)
    if document.get("version") != _VERSION:
        raise UnsupportedFormat(f"{name}: key slot version {document.get('version')} is unknown")
    return document


def _slots(storage: Storage) -> list[tuple[str, dict[str, object]]]:
    return [(info.name, _load(storage, info.name)) for info in storage.list(PREFIX)]


def _unwrap(document: dict[str, object], passphrase: bytes) -> bytes:
    try:
        spec = document["kdf"]
        assert isinstance(spec, dict)
        params = kdf.Argon2Params(
            int(spec["time_cost"]), int(spec["memory_kib"]), int(spec["parallelism"])
        )
        salt = base64.b64decode(str(spec["salt"]), validate=True)
        wrapped = base64.b64decode(str(document["wrapped"]), validate=True)
        slot_id = str(document["id"])
    except (KeyError, ValueError, AssertionError, TypeError):
        raise RepositoryCorrupted("key slot has malformed fields") from None
    wrapping = kdf.derive_from_passphrase(passphrase, salt, params)
    return aead.open_sealed(wrapping, wrapped, _aad(slot_id))


def open_master(storage: Storage, passphrase: bytes) -> tuple[bytes, str]:
    """The master key and the id of the slot that `passphrase` opens."""
    slots = _slots(storage)
    if not slots:
        raise RepositoryCorrupted("the repository has no key slot")
    for _name, document in slots:
        try:
            return _unwrap(document, passphrase), str(document["id"])
        except DecryptionFailed:
            continue
    raise WrongPassphrase("the passphrase opens none of the key slots")


def list_slots(storage: Storage) -> list[KeySlot]:
    """Every key slot, oldest first."""
    found = []
    for _name, document in _slots(storage):
        spec = document.get("kdf")
        spec = spec if isinstance(spec, dict) else {}
        found.append(
            KeySlot(
                str(document.get("id")),
                str(document.get("label", "")),
                str(document.get("created", "")),
                int(spec.get("memory_kib", 0)),
                int(spec.get("time_cost", 0)),
            )
        )
    return sorted(found, key=lambda slot: (slot.created, slot.slot_id))


def remove_slot(storage: Storage, slot_id: str) -> None:
    """Delete a slot; refuses to delete the last one (the repository would be lost)."""
    ids = [slot.slot_id for slot in list_slots(storage)]
    if slot_id not in ids:
        raise KeySlotError(f"no key slot {slot_id}")
    if len(ids) == 1:
        raise KeySlotError("refusing to remove the last key slot")
    storage.delete(PREFIX + slot_id)
