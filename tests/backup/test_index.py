"""The index cache while this client records its own index files (ADR 0040)."""

from __future__ import annotations

import threading
from pathlib import Path

from egide.backup.index import IndexCache
from egide.backup.pack import BlobType, PackEntry


def _entry(n: int) -> PackEntry:
    return PackEntry(BlobType.DATA, bytes([n]) * 32, 0, 100, 80)


class _SlowEntries(list[PackEntry]):
    """A pack's entries that hold the writer up when it reads them."""

    def __init__(self, items: list[PackEntry]) -> None:
        super().__init__(items)
        self.reached = threading.Event()
        self.release = threading.Event()

    def __iter__(self):  # type: ignore[no-untyped-def]
        self.reached.set()
        self.release.wait(10)
        return super().__iter__()


def test_a_lookup_does_not_wait_for_a_whole_index_file_to_be_recorded(tmp_path: Path) -> None:
    cache = IndexCache(tmp_path / "index.sqlite")
    slow = _SlowEntries([_entry(2)])
    writer = threading.Thread(
        target=cache.add_file, args=("index/a", [("aa" * 32, [_entry(1)]), ("bb" * 32, slow)])
    )
    writer.start()
    assert slow.reached.wait(10)

    # The writer is between two packs: a worker's lookup goes through meanwhile.
    answers: list[set[bytes]] = []
    lookup = threading.Thread(target=lambda: answers.append(cache.known([_entry(1).blob_id])))
    lookup.start()
    lookup.join(5)
    blocked = lookup.is_alive()
    slow.release.set()
    writer.join(10)
    lookup.join(10)

    assert not blocked
    assert answers == [{_entry(1).blob_id}]
    assert cache.known([_entry(1).blob_id, _entry(2).blob_id]) == {
        _entry(1).blob_id,
        _entry(2).blob_id,
    }
    cache.close()
    reopened = IndexCache(tmp_path / "index.sqlite")  # committed, in one transaction
    assert reopened.loaded_files() == {"index/a"}
    assert len(reopened.known([_entry(1).blob_id, _entry(2).blob_id])) == 2
    reopened.close()


def test_the_blobs_of_a_recorded_index_file_leave_the_pending_entries(tmp_path: Path) -> None:
    cache = IndexCache(tmp_path / "index.sqlite")
    cache.add_pending("aa" * 32, [_entry(1), _entry(2)])

    cache.add_file("index/a", [("aa" * 32, [_entry(1), _entry(2)])])

    assert not cache._pending
    location = cache.locate(_entry(2).blob_id)
    assert location is not None
    assert location.pack_id == "aa" * 32
    cache.close()
