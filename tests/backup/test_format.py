"""Format version 1 is frozen: golden vectors, a golden repository, and bad input."""

from __future__ import annotations

from pathlib import Path

import blake3
import pytest

from egide.backup import keys, sealed
from egide.backup.checker import check_repository
from egide.backup.errors import RepositoryCorrupted, UnsupportedFormat
from egide.backup.index import decode_index, encode_index
from egide.backup.pack import BlobType, PackReader, PackWriter, encode_frame
from egide.backup.repository import open_repository
from egide.backup.restorer import restore_snapshot
from egide.backup.snapshot import list_snapshots
from egide.backup.storage import Storage
from egide.backup.tree import decode_node

from .golden import GOLDEN, MTIME_NS, PASSPHRASE, SOURCE, expected_files

MASTER = bytes(range(32))
PACK_LENGTH = 307
PACK_BLAKE3 = "7e49517c5353d795a0cbdc1d3c90e1ea7fa9ce2332ab8a521017e20a09ca850e"
INDEX_HEX = (
    "4547495801" + "ab" * 32 + "02000000" + "00" * 33 + "2500000050000000" + "05000000"
    + "01" * 33 + "7500000050000000" + "1a000000"
)  # fmt: skip


def _golden_pack() -> PackWriter:
    writer = PackWriter(MASTER, salt=bytes(32))
    writer.add(BlobType.DATA, bytes(32), encode_frame(b"egide", False), 5)
    tree_line = b'{"path":"a","type":"dir"}\n'
    writer.add(BlobType.TREE, bytes([1]) * 32, encode_frame(tree_line, False), len(tree_line))
    return writer


def test_pack_encoding_is_frozen() -> None:
    data = bytes(_golden_pack().finish())

    assert len(data) == PACK_LENGTH
    assert blake3.blake3(data).hexdigest() == PACK_BLAKE3
    reader = PackReader(MASTER, data[:64])
    entries = reader.read_trailer(data[-200:])
    assert [reader.open_blob(e, data[e.offset : e.offset + e.length]) for e in entries] == [
        b"egide",
        b'{"path":"a","type":"dir"}\n',
    ]


def test_index_encoding_is_frozen() -> None:
    entries = _golden_pack().entries
    encoded = encode_index([("ab" * 32, entries)])

    assert encoded.hex() == INDEX_HEX
    assert list(decode_index(encoded)) == [("ab" * 32, entries)]


def _load_golden(storage: Storage) -> None:
    for path in GOLDEN.rglob("*"):
        if path.is_file():
            storage.put(path.relative_to(GOLDEN).as_posix(), path.read_bytes())


def test_the_golden_repository_still_opens_verifies_and_restores(
    storage: Storage, tmp_path: Path
) -> None:
    _load_golden(storage)
    repo = open_repository(storage, PASSPHRASE, tmp_path / "cache")

    [snapshot] = list_snapshots(repo)
    assert (snapshot.host, snapshot.tags, snapshot.paths) == ("golden-host", ["golden"], [SOURCE])
    assert check_repository(repo, read_data=True).ok
    result = restore_snapshot(repo, snapshot, tmp_path / "out")

    root = tmp_path / "out" / SOURCE.lstrip("/")
    assert result.problems == ()
    for name, content in expected_files().items():
        assert (root / name).read_bytes() == content
        assert (root / name).stat().st_mtime_ns == MTIME_NS
    assert (root / "lien").readlink() == Path("ordonnance.txt")
    repo.close()


@pytest.mark.parametrize(
    "damage",
    [b"", b"EGOB", b"EGOB\x01\x02" + bytes(40), b"nonsense" * 20],
)
def test_a_malformed_sealed_object_is_a_clear_error(damage: bytes) -> None:
    with pytest.raises(RepositoryCorrupted):
        sealed.open_object(MASTER, sealed.Kind.SNAPSHOT, damage, "snapshots/x")


def test_an_unknown_version_is_refused_not_misread() -> None:
    good = sealed.seal_object(MASTER, sealed.Kind.INDEX, b"EGIX\x01")
    with pytest.raises(UnsupportedFormat):
        sealed.open_object(MASTER, sealed.Kind.INDEX, good[:4] + b"\x09" + good[5:])
    with pytest.raises(UnsupportedFormat):
        list(decode_index(b"EGIX\x07"))


@pytest.mark.parametrize("cut", [1, 10, 60, 100])
def test_truncated_packs_and_indexes_are_clear_errors(cut: int) -> None:
    data = bytes(_golden_pack().finish())
    reader = PackReader(MASTER, data[:64])
    with pytest.raises(RepositoryCorrupted):
        reader.read_trailer(data[:-cut])
    with pytest.raises(RepositoryCorrupted):
        list(decode_index(bytes.fromhex(INDEX_HEX)[:-cut]))


@pytest.mark.parametrize(
    "line", [b"", b"{", b"[]", b'{"path": "a"}', b'{"path":"a","type":"file","evil":1}']
)
def test_malformed_tree_lines_are_clear_errors(line: bytes) -> None:
    with pytest.raises(RepositoryCorrupted):
        decode_node(line)


def test_a_garbled_key_slot_is_a_clear_error(storage: Storage) -> None:
    storage.put("keys/0011223344556677", b"{not json")
    with pytest.raises(RepositoryCorrupted):
        keys.open_master(storage, b"whatever")
