"""Files up to a read buffer are read, cut and stored by a worker (ADR 0033): whole from 256 KiB,
smaller ones gathered a buffer at a time. Same chunks as the stream chunker, nodes in walk order,
read errors and changes reported."""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

import pytest

from egide.backup import archiver
from egide.backup.archiver import BackupOptions, run_backup
from egide.backup.chunker import HEAD_SIZE, Chunker, choose_policy
from egide.backup.repository import Repository
from egide.backup.restorer import restore_snapshot
from egide.backup.snapshot import read_tree

from .corpus import digest_tree, make_database

MIB = 1 << 20


def _source(root: Path) -> Path:
    rng = random.Random(11)
    base = root / "cabinet"
    (base / "scans").mkdir(parents=True)
    (base / "notes").mkdir()
    for i, size in enumerate([300 << 10, 700 << 10, 2 * MIB, 5 * MIB + 3, 7 * MIB, 100 << 10]):
        (base / "scans" / f"scan-{i}.pdf").write_bytes(rng.randbytes(size))
    for i in range(40):
        (base / "notes" / f"note-{i}.txt").write_text("Consultation de suivi. " * (i * 50 + 1))
    # Compressible and whole-read: a dump and a database of a few hundred KiB to a few MiB.
    (base / "export.sql").write_text("INSERT INTO t VALUES (1, 'ordonnance');\n" * 40000)
    make_database(base / "agenda.sqlite", rows=2000)
    return base


def _expected_chunks(repo: Repository, path: Path) -> list[str]:
    chunker = Chunker(repo.settings.chunker, repo.chunker_seed)
    with path.open("rb") as stream:
        head = stream.read(HEAD_SIZE)
        stream.seek(0)
        views = chunker.chunks(stream, choose_policy(str(path), head), head)
        return [repo.blob_id(view).hex() for view in views]


def test_whole_read_files_keep_the_chunks_of_the_stream_chunker_and_restore_identical(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _source(tmp_path / "src")
    whole: list[str] = []
    real = archiver._Run._read_whole

    def spy(self: archiver._Run, path: str, buffer: bytearray) -> list[archiver._Outcome]:
        whole.append(os.path.basename(path))  # noqa: PTH119
        return real(self, path, buffer)

    monkeypatch.setattr(archiver._Run, "_read_whole", spy)
    result = run_backup(repo, BackupOptions(paths=(str(source),)))

    assert not result.problems
    # 256 KiB up to a buffer (6 MiB with the default chunker): by a worker; the rest as before.
    assert sorted(whole) == ["agenda.sqlite", "export.sql", "scan-0.pdf", "scan-1.pdf",
                             "scan-2.pdf", "scan-3.pdf"]  # fmt: skip
    nodes = list(read_tree(repo, result.snapshot))
    assert [n.path for n in nodes] == sorted(
        (n.path for n in nodes), key=lambda p: tuple(p.split("/"))
    )
    for node in nodes:
        if node.type == "file":
            assert node.chunks == _expected_chunks(repo, Path("/" + node.path)), node.path
    assert result.snapshot.stats["bytes_read"] == sum(n.size for n in nodes if n.type == "file")
    restore_snapshot(repo, result.snapshot, tmp_path / "out")
    assert digest_tree(tmp_path / "out" / str(source).lstrip("/")) == digest_tree(source)


@pytest.mark.parametrize("name", ["scans/scan-1.pdf", "notes/note-3.txt"])
def test_a_file_read_by_a_worker_that_cannot_be_opened_is_recorded_and_the_run_goes_on(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    source = _source(tmp_path / "src")
    locked = source / name
    real = archiver._Run._open

    def refuse(path: str) -> int:
        if path == str(locked):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(archiver._Run, "_open", staticmethod(refuse))
    result = run_backup(repo, BackupOptions(paths=(str(source),)))

    assert [p.path for p in result.problems] == [str(locked)]
    nodes = {n.path: n for n in read_tree(repo, result.snapshot)}
    assert nodes[str(locked).lstrip("/")].error == "illisible : Permission denied"
    assert nodes[str(locked).lstrip("/")].chunks == []
    assert nodes[str(source / "scans" / "scan-2.pdf").lstrip("/")].chunks
    assert nodes[str(source / "notes" / "note-4.txt").lstrip("/")].chunks
    assert result.snapshot.stats["errors"] == 1
    restore_snapshot(repo, result.snapshot, tmp_path / "out")
    other = source / "notes" / "note-4.txt"
    assert (tmp_path / "out" / str(other).lstrip("/")).read_bytes() == other.read_bytes()


@pytest.mark.parametrize(("name", "size"), [("scan-0.pdf", 300 << 10), ("scan-5.pdf", 100 << 10)])
def test_a_file_read_by_a_worker_that_grows_past_its_buffer_is_stored_whole_and_reported(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, size: int
) -> None:
    # scan-5 (100 KiB) is read among the small files: grown, it no longer fits the room left.
    source = _source(tmp_path / "src")
    growing = source / "scans" / name
    extra = random.Random(5).randbytes(9 * MIB)  # past the 6 MiB buffer
    real = archiver._Run._open

    def grow_then_open(path: str) -> int:
        if path == str(growing):
            with growing.open("ab") as handle:
                handle.write(extra)
        return real(path)

    monkeypatch.setattr(archiver._Run, "_open", staticmethod(grow_then_open))
    result = run_backup(repo, BackupOptions(paths=(str(source),)))

    assert [p.path for p in result.problems] == [str(growing)]
    assert "modifié pendant la lecture" in result.problems[0].message
    node = next(n for n in read_tree(repo, result.snapshot) if n.path.endswith(name))
    assert node.size == growing.stat().st_size == size + 9 * MIB
    for other in read_tree(repo, result.snapshot):  # the files read before it in its job too
        if other.type == "file":
            assert other.chunks == _expected_chunks(repo, Path("/" + other.path)), other.path
    restore_snapshot(repo, result.snapshot, tmp_path / "out")
    restored = tmp_path / "out" / str(growing).lstrip("/")
    assert restored.read_bytes() == growing.read_bytes()


def test_files_for_the_workers_are_prefetched_before_they_are_read(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ADR 0041: a cold file costs its worker the disk's latency; WILLNEED asks for it early.
    source = _source(tmp_path / "src")
    events: list[tuple[str, str]] = []
    real_fadvise, real_whole = os.posix_fadvise, archiver._Run._read_whole

    def fadvise(fd: int, offset: int, length: int, advice: int) -> None:
        if advice == os.POSIX_FADV_WILLNEED:
            events.append(("prefetch", Path(f"/proc/self/fd/{fd}").readlink().name))
        real_fadvise(fd, offset, length, advice)

    def whole(self: archiver._Run, path: str, buffer: bytearray) -> list[archiver._Outcome]:
        events.append(("read", os.path.basename(path)))  # noqa: PTH119
        return real_whole(self, path, buffer)

    monkeypatch.setattr(os, "posix_fadvise", fadvise)
    monkeypatch.setattr(archiver._Run, "_read_whole", whole)
    result = run_backup(repo, BackupOptions(paths=(str(source),)))

    assert not result.problems
    prefetched = [name for what, name in events if what == "prefetch"]
    # Every file up to a buffer (not the 7 MiB scan, streamed by the main thread), once.
    assert sorted(prefetched) == sorted(
        [f"scan-{i}.pdf" for i in (0, 1, 2, 3, 5)]
        + [f"note-{i}.txt" for i in range(40)]
        + ["export.sql", "agenda.sqlite"]
    )
    for name in ("scan-0.pdf", "scan-3.pdf", "agenda.sqlite"):
        assert events.index(("prefetch", name)) < events.index(("read", name))


def test_a_refused_prefetch_changes_nothing(
    repo: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _source(tmp_path / "src")

    def refuse(fd: int, offset: int, length: int, advice: int) -> None:
        raise OSError(errno.EINVAL, "fadvise refused")

    monkeypatch.setattr(os, "posix_fadvise", refuse)
    result = run_backup(repo, BackupOptions(paths=(str(source),)))

    assert not result.problems
    restore_snapshot(repo, result.snapshot, tmp_path / "out")
    assert digest_tree(tmp_path / "out" / str(source).lstrip("/")) == digest_tree(source)
