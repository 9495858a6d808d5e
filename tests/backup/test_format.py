"""Formats 1 and 2 are frozen: golden vectors, a golden repository, and bad input."""

from __future__ import annotations

import ctypes
import mmap
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
PACK_V2_LENGTH = 474
PACK_V2_BLAKE3 = "e5a764c3760b8e349fa2d9e443961c052b846569fcc7159059b43b6d5edfc5a2"
INDEX_V2_HEX = (
    "4547495802" + "ab" * 32 + "03000000"
    + "00" + "25000000" + "50000000" + "0100" + "00" * 32 + "05000000"
    + "00" + "75000000" + "50000000" + "0200" + "02" * 32 + "05000000" + "03" * 32 + "04000000"
    + "01" + "c5000000" + "50000000" + "0100" + "01" * 32 + "1a000000"
)  # fmt: skip


def _golden_pack() -> PackWriter:
    writer = PackWriter(MASTER, salt=bytes(32), version=1)
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
    encoded = encode_index([("ab" * 32, entries)], version=1)

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


def _golden_pack_v2() -> PackWriter:
    writer = PackWriter(MASTER, salt=bytes(32), version=2)
    writer.add(BlobType.DATA, bytes(32), encode_frame(b"egide", False), 5)
    members = [(bytes([2]) * 32, 5), (bytes([3]) * 32, 4)]
    writer.add_group(BlobType.DATA, members, encode_frame(b"alphabeta", False))
    tree_line = b'{"path":"a","type":"dir"}\n'
    writer.add(BlobType.TREE, bytes([1]) * 32, encode_frame(tree_line, False), len(tree_line))
    return writer


def test_pack_encoding_v2_is_frozen() -> None:
    data = bytes(_golden_pack_v2().finish())

    assert len(data) == PACK_V2_LENGTH
    assert blake3.blake3(data).hexdigest() == PACK_V2_BLAKE3
    reader = PackReader(MASTER, data[:64])
    entries = reader.read_trailer(data[-300:])
    assert entries == _golden_pack_v2().entries
    single, first, second, tree = entries
    assert (first.start, first.group, second.start, second.group) == (0, 9, 5, 9)
    group = reader.open_group([first, second], data[first.offset : first.offset + first.length])
    assert bytes(group) == b"alphabeta"
    assert reader.open_blob(single, data[single.offset : single.offset + single.length]) == b"egide"
    assert reader.open_blob(tree, data[tree.offset : tree.offset + tree.length]).endswith(b"}\n")


def test_index_encoding_v2_is_frozen() -> None:
    entries = _golden_pack_v2().entries
    encoded = encode_index([("ab" * 32, entries)])

    assert encoded.hex() == INDEX_V2_HEX
    assert list(decode_index(encoded)) == [("ab" * 32, entries)]


def test_a_group_frame_binds_its_chunks_ids_and_order() -> None:
    data = bytes(_golden_pack_v2().finish())
    reader = PackReader(MASTER, data[:64])
    _, first, second, _ = reader.read_trailer(data[-300:])
    sealed = data[first.offset : first.offset + first.length]
    swapped = [first._replace(blob_id=second.blob_id), second._replace(blob_id=first.blob_id)]
    for members in ([first], [second, first], swapped, [first, second._replace(raw_length=3)]):
        with pytest.raises(RepositoryCorrupted):
            reader.open_group(members, sealed)


def test_a_pack_is_the_same_bytes_whether_its_buffer_grew_or_was_reused() -> None:
    # The writer's buffer is a page-aligned map (ADR 0039), reused from pack to pack without
    # being cleared and replaced by a larger one when a blob does not fit.
    frames = [encode_frame(bytes([n]) * (3000 + 997 * n), False) for n in range(6)]

    def pack(buffer: mmap.mmap | None, capacity: int) -> tuple[bytes, PackWriter]:
        writer = PackWriter(MASTER, salt=bytes(32), buffer=buffer, capacity=capacity)
        for n, frame in enumerate(frames):
            writer.add(BlobType.DATA, bytes([n]) * 32, frame, 3000 + 997 * n)
        with writer.finish() as view:
            assert ctypes.addressof(ctypes.c_char.from_buffer(view)) % mmap.PAGESIZE == 0
            return bytes(view), writer

    ample, _ = pack(None, 1 << 20)
    grown, writer = pack(None, 4096)
    assert len(writer.buffer) > 4096
    dirty = mmap.mmap(-1, 1 << 20)
    dirty[:] = b"\xff" * len(dirty)
    reused, writer = pack(dirty, 1 << 20)
    assert writer.buffer is dirty
    assert grown == ample == reused
    reader = PackReader(MASTER, grown[:64])
    entries = reader.read_trailer(grown[-400:])
    assert [reader.open_blob(e, grown[e.offset : e.offset + e.length]) for e in entries] == [
        bytes([n]) * (3000 + 997 * n) for n in range(6)
    ]
