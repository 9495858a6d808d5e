"""Opening, creating and reading a repository: config, keys, index cache, blobs.

`config` (plain JSON, format version 1) says what the repository is and how it chunks:

    {"format": "egide-backup", "version": 1, "id": "<32 hex>", "created": "...",
     "chunker": {"large_avg": 1048576, "small_avg": 16384, "db_block": 16384},
     "pack_size": 8388608, "mac": "<keyed BLAKE3 of the fields above>"}

Secrets are never in it: the chunk-id key, the chunker seed and every encryption key are derived
from the master key (HKDF-SHA256 with distinct labels); the `mac`, checked after unlocking, stops
anyone without the key from changing the chunking parameters.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import blake3

from egide.crypto import aead, kdf

from . import keys, sealed
from .errors import (
    ObjectMissing,
    RepositoryCorrupted,
    RepositoryExists,
    RepositoryNotFound,
    UnsupportedFormat,
)
from .index import PREFIX as INDEX_PREFIX
from .index import BlobLocation, IndexCache, decode_index, encode_index
from .pack import HEADER_SIZE, PackEntry, PackReader, pack_name
from .storage import Storage

CONFIG = "config"
FORMAT = "egide-backup"
VERSION = 1


@dataclass(frozen=True)
class ChunkerSettings:
    """Chunk sizes: CDC average for ordinary files and for databases/dumps, fixed SQLite block."""

    large_avg: int = 1 << 20
    small_avg: int = 16 << 10
    db_block: int = 16 << 10


@dataclass(frozen=True)
class RepositorySettings:
    """What `init` fixes for the life of the repository."""

    chunker: ChunkerSettings = ChunkerSettings()
    pack_size: int = 8 << 20


def _subkey(master: bytes, label: str) -> bytes:
    return aead.derive_key(master, b"", f"egide-backup v1 {label}".encode())


def _config_mac(id_key: bytes, fields: dict[str, object]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return blake3.blake3(canonical, key=id_key).hexdigest()


class Repository:
    """An unlocked repository. Create with `init_repository` or `open_repository`."""

    def __init__(
        self,
        storage: Storage,
        master: bytes,
        slot_id: str,
        config: dict[str, object],
        cache_dir: Path | None,
    ) -> None:
        self.storage = storage
        self.master = master
        self.slot_id = slot_id
        self.repo_id = str(config["id"])
        chunker = config["chunker"]
        assert isinstance(chunker, dict)
        self.settings = RepositorySettings(
            ChunkerSettings(
                int(chunker["large_avg"]), int(chunker["small_avg"]), int(chunker["db_block"])
            ),
            int(str(config["pack_size"])),
        )
        self.id_key = _subkey(master, "chunk-id")
        seed = int.from_bytes(_subkey(master, "chunker-seed")[:8], "big")
        self.chunker_seed = (seed & (2**63 - 1)) | 1
        path = None if cache_dir is None else cache_dir / self.repo_id / "index.sqlite"
        self.index = IndexCache(path)
        self._readers: OrderedDict[str, PackReader] = OrderedDict()
        self._readers_lock = threading.Lock()

    def close(self) -> None:
        """Release the index cache."""
        self.index.close()

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def blob_id(self, data: bytes | memoryview) -> bytes:
        """The keyed BLAKE3 id of a chunk's plaintext (reveals nothing without the key)."""
        return blake3.blake3(data, key=self.id_key).digest()

    # --- index -----------------------------------------------------------------------------

    def sync_index(self) -> set[str]:
        """Bring the cache in step with `index/`; returns the names of index files present."""
        present = {info.name for info in self.storage.list(INDEX_PREFIX)}
        loaded = self.index.loaded_files()
        self.index.drop_files(loaded - present)
        for name in sorted(present - loaded):
            try:
                plaintext = sealed.open_object(
                    self.master, sealed.Kind.INDEX, self.storage.get(name), name
                )
            except ObjectMissing:
                continue  # removed by a concurrent prune since the listing
            self.index.add_file(name, list(decode_index(plaintext, name)))
        return present

    def write_index(self, packs: list[tuple[str, list[PackEntry]]]) -> tuple[str, int]:
        """Store an index file for `packs`, record it in the cache; returns its name and size."""
        data = sealed.seal_object(self.master, sealed.Kind.INDEX, encode_index(packs))
        name = INDEX_PREFIX + sealed.object_name(data)
        self.storage.put(name, data)
        self.index.add_file(name, packs)
        return name, len(data)

    # --- blobs -----------------------------------------------------------------------------

    def pack_reader(self, pack_id: str, header: bytes | None = None) -> PackReader:
        """A reader for a pack, from a small cache of pack headers."""
        with self._readers_lock:
            reader = self._readers.get(pack_id)
            if reader is not None:
                self._readers.move_to_end(pack_id)
                return reader
        if header is None:
            header = self.storage.get(pack_name(pack_id), 0, HEADER_SIZE)
        reader = PackReader(self.master, header, pack_name(pack_id))
        with self._readers_lock:
            self._readers[pack_id] = reader
            if len(self._readers) > 4096:
                self._readers.popitem(last=False)
        return reader

    def read_blob(self, blob_id: bytes) -> bytes:
        """The verified plaintext of a blob."""
        location = self.index.locate(blob_id)
        if location is None:
            raise RepositoryCorrupted(f"blob {blob_id.hex()[:16]} is not in any index")
        return self.read_located(location)

    def read_located(
        self, location: BlobLocation, sealed_bytes: bytes | memoryview | None = None
    ) -> bytes:
        """Open a blob at a known place; re-hash it against its id."""
        entry = location.entry
        if sealed_bytes is None:
            sealed_bytes = self.storage.get(pack_name(location.pack_id), entry.offset, entry.length)
        data = self.pack_reader(location.pack_id).open_blob(entry, sealed_bytes)
        if self.blob_id(data) != entry.blob_id:
            raise RepositoryCorrupted(
                f"blob {entry.blob_id.hex()[:16]} does not match its id", location.pack_id
            )
        return data

    def open_verified(
        self, reader: PackReader, entry: PackEntry, sealed_bytes: bytes | memoryview
    ) -> bytes | memoryview:
        """A blob's plaintext from its sealed bytes (no copy), authenticated and re-hashed."""
        data = reader.open_content(entry, sealed_bytes)
        if len(data) != entry.raw_length or self.blob_id(data) != entry.blob_id:
            raise RepositoryCorrupted(
                f"blob {entry.blob_id.hex()[:16]} does not match its id", reader.name
            )
        return data


def _read_config(storage: Storage) -> dict[str, object]:
    try:
        raw = storage.get(CONFIG)
    except ObjectMissing:
        raise RepositoryNotFound(f"aucun dépôt à {storage.describe()}") from None
    try:
        config = json.loads(raw)
    except ValueError:
        raise RepositoryCorrupted("config is not JSON", CONFIG) from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise RepositoryCorrupted("config is not an Égide repository config", CONFIG)
    if config.get("version") != VERSION:
        raise UnsupportedFormat(f"repository format version {config.get('version')} is unknown")
    return config


def init_repository(
    storage: Storage,
    passphrase: bytes,
    params: kdf.Argon2Params,
    cache_dir: Path | None = None,
    settings: RepositorySettings = RepositorySettings(),
    label: str = "",
) -> Repository:
    """Create a repository with a fresh master key and one key slot for `passphrase`."""
    try:
        storage.get(CONFIG, 0, 1)
        raise RepositoryExists(f"un dépôt existe déjà à {storage.describe()}")
    except ObjectMissing:
        pass
    master = aead.generate_key()
    fields: dict[str, object] = {
        "format": FORMAT,
        "version": VERSION,
        "id": secrets.token_hex(16),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "chunker": {
            "large_avg": settings.chunker.large_avg,
            "small_avg": settings.chunker.small_avg,
            "db_block": settings.chunker.db_block,
        },
        "pack_size": settings.pack_size,
    }
    config = {**fields, "mac": _config_mac(_subkey(master, "chunk-id"), fields)}
    slot_id = keys.add_slot(storage, master, passphrase, params, label)
    # The config goes last: a crash before it leaves no half repository that `open` accepts.
    storage.put(CONFIG, json.dumps(config, indent=1).encode())
    return Repository(storage, master, slot_id, config, cache_dir)


def open_repository(
    storage: Storage, passphrase: bytes, cache_dir: Path | None = None
) -> Repository:
    """Unlock a repository with one of its passphrases."""
    config = _read_config(storage)
    master, slot_id = keys.open_master(storage, passphrase)
    fields = {k: v for k, v in config.items() if k != "mac"}
    if config.get("mac") != _config_mac(_subkey(master, "chunk-id"), fields):
        raise RepositoryCorrupted("config was altered (its MAC does not verify)", CONFIG)
    return Repository(storage, master, slot_id, config, cache_dir)


def repository_exists(storage: Storage) -> bool:
    """Whether `storage` holds a repository config."""
    try:
        _read_config(storage)
    except RepositoryNotFound:
        return False
    return True
