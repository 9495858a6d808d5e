"""Passphrases: a wrong one changes nothing; slots can be added, listed, removed and changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from egide.backup import keys
from egide.backup.errors import KeySlotError, RepositoryNotFound, WrongPassphrase
from egide.backup.repository import Repository, open_repository
from egide.backup.storage import Storage

from .conftest import FAST_KDF, PASSPHRASE


def _listing(storage: Storage) -> dict[str, int]:
    return {info.name: info.size for info in storage.list("")}


def test_it_refuses_a_wrong_passphrase_and_changes_nothing(
    repo: Repository, storage: Storage, tmp_path: Path
) -> None:
    before = _listing(storage)

    with pytest.raises(WrongPassphrase):
        open_repository(storage, b"not the passphrase", tmp_path / "other-cache")

    assert _listing(storage) == before


def test_it_opens_with_every_added_passphrase_and_not_after_removal(
    repo: Repository, storage: Storage
) -> None:
    second = keys.add_slot(storage, repo.master, b"secretaire", FAST_KDF, "secrétariat")

    assert open_repository(storage, b"secretaire").master == repo.master
    assert [s.label for s in keys.list_slots(storage)].count("secrétariat") == 1

    keys.remove_slot(storage, second)
    with pytest.raises(WrongPassphrase):
        open_repository(storage, b"secretaire")
    assert open_repository(storage, PASSPHRASE).master == repo.master


def test_it_never_removes_the_last_key(repo: Repository, storage: Storage) -> None:
    with pytest.raises(KeySlotError):
        keys.remove_slot(storage, repo.slot_id)
    with pytest.raises(KeySlotError):
        keys.remove_slot(storage, "0000000000000000")


def test_it_reports_a_missing_repository(tmp_path: Path) -> None:
    from egide.backup.localstore import LocalStorage

    with pytest.raises(RepositoryNotFound):
        open_repository(LocalStorage(tmp_path / "nothing"), PASSPHRASE)
