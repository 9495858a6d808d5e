"""Opening, creating and reading a repository: config, keys, index cache, blobs.

`config` (plain JSON, format version 2; a version 1 repository is still read, and written in
version 1) says what the repository is and how it chunks:

    {"format": "egide-backup", "version": 2, "id": "<32 hex>", "created": "...",
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
    BackupError,
    ObjectMissing,
    RepositoryCorrupted,
    RepositoryExists,
    RepositoryNotFound,
    UnsupportedFormat,
)
from .index import PREFIX as INDEX_PREFIX
from .index import BlobLocation, IndexCache, decode_index, encode_index
from .pack import HEADER_SIZE, PackEntry, PackReader, frame_members, pack_name
from .storage import Storage

CONFIG = "config"
FORMAT = "egide-backup"
VERSION = 2
VERSIONS = (1, 2)


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
        # Version 1 repositories are written in version 1 (no group frames): the clients that
        # made them can still read them.
        self.version = int(str(config["version"]))
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
        self._last_group: tuple[str, int, bytes | memoryview] | None = None

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
        data = sealed.seal_object(self.master, sealed.Kind.INDEX, encode_index(packs, self.version))
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
        reader = self.pack_reader(location.pack_id)
        if not entry.group:
            data = reader.open_blob(entry, sealed_bytes)
        else:
            # The last group opened is kept: chunks read one by one (drill) share their group.
            last = self._last_group
            if last is not None and last[:2] == (location.pack_id, entry.offset):
                content = last[2]
            else:
                members = self.index.frame_members(location.pack_id, [entry.offset])
                content = reader.open_group(members.get(entry.offset, []), sealed_bytes)
                self._last_group = (location.pack_id, entry.offset, content)
            data = bytes(content[entry.start : entry.start + entry.raw_length])
        if self.blob_id(data) != entry.blob_id:
            raise RepositoryCorrupted(
                f"blob {entry.blob_id.hex()[:16]} does not match its id", location.pack_id
            )
        return data

    def open_verified(
        self, reader: PackReader, entry: PackEntry, sealed_bytes: bytes | memoryview
    ) -> bytes | memoryview:
        """A single-chunk blob's plaintext from its sealed bytes (no copy), authenticated and
        re-hashed."""
        data = reader.open_content(entry, sealed_bytes)
        self.verify(reader.name, entry, data)
        return data

    def verify(self, name: str, entry: PackEntry, data: bytes | memoryview) -> None:
        """Raise unless `data` is the chunk `entry` names (its length and keyed hash)."""
        if len(data) != entry.raw_length or self.blob_id(data) != entry.blob_id:
            message = f"blob {entry.blob_id.hex()[:16]} does not match its id"
            raise RepositoryCorrupted(message, name)

    def opener(
        self,
        reader: PackReader,
        entries: list[PackEntry],
        pack_entries: list[PackEntry] | None = None,
    ) -> FrameOpener:
        """Opens `entries` of one pack, each group frame once; the groups' lists come from
        `pack_entries` (all the pack's, when the caller has them) or from the index cache."""
        members = frame_members(entries if pack_entries is None else pack_entries)
        # The groups of which `entries` hold only some chunks are listed by the index cache (a
        # full restore usually asks for every chunk of a group: no query then).
        partial = [
            offset
            for offset, found in members.items()
            if sum(e.raw_length for e in found) != found[0].group
        ]
        if partial:
            pack_id = reader.name.rsplit("/", 1)[-1]
            members.update(self.index.frame_members(pack_id, partial))
        return FrameOpener(self, reader, members)


class FrameOpener:
    """Verified chunks of one pack; a group frame is authenticated and decompressed once for
    all the chunks it holds (callers ask for the chunks in pack order)."""

    def __init__(
        self, repo: Repository, reader: PackReader, members: dict[int, list[PackEntry]]
    ) -> None:
        self._repo = repo
        self._reader = reader
        self._members = members
        self._offset = -1
        self._content: bytes | memoryview = b""
        self._error = ""

    def open(self, entry: PackEntry, sealed_bytes: bytes | memoryview) -> bytes | memoryview:
        """The verified plaintext of `entry` from its frame's sealed bytes."""
        if not entry.group:
            return self._repo.open_verified(self._reader, entry, sealed_bytes)
        if entry.offset != self._offset:
            self._offset, self._content, self._error = entry.offset, b"", ""
            try:
                members = self._members.get(entry.offset, [])
                # A view: each chunk is a slice of it, not a copy.
                self._content = memoryview(self._reader.open_group(members, sealed_bytes))
            except BackupError as error:
                self._error = str(error)
        if self._error:
            raise RepositoryCorrupted(self._error, self._reader.name)
        data = self._content[entry.start : entry.start + entry.raw_length]
        self._repo.verify(self._reader.name, entry, data)
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
    if config.get("version") not in VERSIONS:
        raise UnsupportedFormat(f"repository format version {config.get('version')} is unknown")
    return config


def init_repository(
    storage: Storage,
    passphrase: bytes,
    params: kdf.Argon2Params,
    cache_dir: Path | None = None,
    settings: RepositorySettings = RepositorySettings(),
    label: str = "",
    version: int = VERSION,
) -> Repository:
    """Create a repository with a fresh master key and one key slot for `passphrase`
    (`version` 1 only to test that such repositories stay readable and writable)."""
    try:
        storage.get(CONFIG, 0, 1)
        raise RepositoryExists(f"un dépôt existe déjà à {storage.describe()}")
    except ObjectMissing:
        pass
    master = aead.generate_key()
    fields: dict[str, object] = {
        "format": FORMAT,
        "version": version,
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
