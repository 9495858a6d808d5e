"""Local storage: large objects written with O_DIRECT where the file system takes it (ADR 0033),
byte-identical whatever path the bytes took."""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
from pathlib import Path

import pytest

from egide.backup import localstore
from egide.backup.localstore import LocalStorage

SIZES = [
    0,
    100,
    localstore._DIRECT_MIN - 1,
    localstore._DIRECT_MIN,
    localstore._DIRECT_MIN + 1,
    3 * localstore._STAGE_SIZE,  # several staged writes, nothing left for the buffered tail
    3 * localstore._STAGE_SIZE + 4095,
    8 * localstore._STAGE_SIZE + 777,
]


def _direct_supported(directory: Path) -> bool:
    probe = directory / "probe"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_DIRECT)
    except OSError:
        return False
    finally:
        os.close(fd)
        probe.unlink()
    return True


def _spy_writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, int]]:
    """Every os.write of the module: (whether the file had O_DIRECT, bytes asked)."""
    seen: list[tuple[bool, int]] = []
    write = os.write

    def spy(fd: int, data: memoryview) -> int:
        seen.append((bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT), len(data)))
        return write(fd, data)

    monkeypatch.setattr(os, "write", spy)
    return seen


@pytest.mark.parametrize("size", SIZES)
def test_objects_read_back_byte_identical_and_large_ones_skip_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    storage = LocalStorage(tmp_path / "repo")
    data = bytearray(os.urandom(size))
    seen = _spy_writes(monkeypatch)
    storage.put("data/ab/object", data)
    assert storage.get("data/ab/object") == data
    assert [p.name for p in (tmp_path / "repo" / "data" / "ab").iterdir()] == ["object"]
    direct = sum(n for d, n in seen if d)
    if size < localstore._DIRECT_MIN or not _direct_supported(tmp_path):
        assert direct == 0
    else:
        assert direct == size - size % localstore._ALIGN
        assert all(n % localstore._ALIGN == 0 for d, n in seen if d)
        assert sum(n for d, n in seen if not d) == size % localstore._ALIGN


def test_a_file_system_that_refuses_o_direct_gets_buffered_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fcntl_call = fcntl.fcntl
    refused = []

    def refuse(fd: int, command: int, argument: int = 0) -> int:
        if command == fcntl.F_SETFL and argument & os.O_DIRECT:
            refused.append(fd)
            raise OSError(errno.EINVAL, "Invalid argument")
        return fcntl_call(fd, command, argument)

    monkeypatch.setattr(fcntl, "fcntl", refuse)
    storage = LocalStorage(tmp_path / "repo")
    first, second = os.urandom(3 << 20), os.urandom(1 << 20)
    storage.put("data/aa/one", first)
    storage.put("data/aa/two", second)
    assert storage.get("data/aa/one") == first
    assert storage.get("data/aa/two") == second
    assert len(refused) == 1  # not asked again after the first refusal


def test_a_direct_write_refused_midway_goes_on_buffered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = os.write
    calls = []

    def refuse_second_direct(fd: int, data: memoryview) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            calls.append(len(data))
            if len(calls) == 2:
                raise OSError(errno.EINVAL, "Invalid argument")
        return write(fd, data)

    monkeypatch.setattr(os, "write", refuse_second_direct)
    storage = LocalStorage(tmp_path / "repo")
    data = os.urandom(5 * localstore._STAGE_SIZE + 12345)
    storage.put("data/bb/object", data)
    assert storage.get("data/bb/object") == data
    if _direct_supported(tmp_path):
        assert len(calls) == 2


def test_o_direct_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalStorage(tmp_path / "repo", direct=False)
    seen = _spy_writes(monkeypatch)
    data = os.urandom(2 << 20)
    storage.put("data/cc/object", data)
    assert storage.get("data/cc/object") == data
    assert not any(d for d, _ in seen)


@pytest.mark.parametrize("size", [localstore._DIRECT_MIN, 8 * localstore._STAGE_SIZE + 777])
def test_page_aligned_data_goes_to_the_disk_in_one_write_without_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    # A pack lies in its writer's anonymous map (ADR 0039): page-aligned, written as it lies.
    buffer = mmap.mmap(-1, size)
    content = os.urandom(size)
    buffer[:] = content
    storage = LocalStorage(tmp_path / "repo")
    seen = _spy_writes(monkeypatch)
    staged = []

    def stage() -> mmap.mmap:
        staged.append(True)
        return mmap.mmap(-1, localstore._STAGE_SIZE)

    monkeypatch.setattr(localstore, "_stage", stage)
    with memoryview(buffer) as view:
        storage.put("data/dd/object", view)
    assert storage.get("data/dd/object") == content
    assert not staged
    if _direct_supported(tmp_path):
        assert [n for d, n in seen if d] == [size - size % localstore._ALIGN]
        assert sum(n for d, n in seen if not d) == size % localstore._ALIGN


def test_a_view_off_the_page_boundary_is_staged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    buffer = mmap.mmap(-1, 3 * localstore._STAGE_SIZE)
    buffer[:] = os.urandom(len(buffer))
    storage = LocalStorage(tmp_path / "repo")
    seen = _spy_writes(monkeypatch)
    with memoryview(buffer) as view:
        storage.put("data/ee/object", view[1:])
    assert storage.get("data/ee/object") == buffer[1:]
    if _direct_supported(tmp_path):
        assert all(n <= localstore._STAGE_SIZE for d, n in seen if d)
        assert len([n for d, n in seen if d]) == 3


def test_a_short_direct_write_off_the_alignment_goes_on_buffered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = os.write

    def short(fd: int, data: memoryview) -> int:
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT and len(data) > 3 * localstore._ALIGN:
            # What a direct write may do near the end of a device: a partial, aligned write
            # here, then the caller's tail; the storage must not lose or repeat a byte.
            return write(fd, data[: 2 * localstore._ALIGN])
        return write(fd, data)

    monkeypatch.setattr(os, "write", short)
    buffer = mmap.mmap(-1, 1 << 20)
    buffer[:] = os.urandom(len(buffer))
    storage = LocalStorage(tmp_path / "repo")
    with memoryview(buffer) as view:
        storage.put("data/ff/object", view)
    assert storage.get("data/ff/object") == buffer[:]
