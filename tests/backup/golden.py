"""The golden repository of format version 1, frozen under tests/data/backup/golden-v1.

Built once with `python -m tests.backup.golden` (it refuses to overwrite); the tests then open it
with today's code, forever. Only throwaway content and a throwaway passphrase are inside.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
from pathlib import Path

GOLDEN = Path(__file__).parents[1] / "data" / "backup" / "golden-v1"
PASSPHRASE = b"golden-v1 passphrase (test only)"
SOURCE = "/tmp/egide-golden-v1/source"  # the path recorded inside the snapshot
MTIME_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def expected_files() -> dict[str, bytes]:
    """Relative path → content of every regular file in the golden snapshot."""
    rng = random.Random(1)
    fake_sqlite = b"SQLite format 3\x00" + (4096).to_bytes(2, "big") + rng.randbytes(65536 - 18)
    return {
        "ordonnance.txt": "Paracétamol 1 g, trois fois par jour.\n".encode() * 2000,
        "scans/radio.bin": rng.randbytes(300_000),
        "cabinet.sqlite": fake_sqlite,
        "vide.txt": b"",
    }


def build() -> None:
    """Create the golden repository (run once, by hand)."""
    from egide.backup.archiver import BackupOptions, run_backup
    from egide.backup.localstore import LocalStorage
    from egide.backup.repository import RepositorySettings, init_repository
    from egide.crypto.kdf import Argon2Params

    if GOLDEN.exists():
        sys.exit(f"{GOLDEN} exists: the golden repository is frozen")
    source = Path(SOURCE)
    shutil.rmtree(source, ignore_errors=True)
    for name, content in expected_files().items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(content)
        os.utime(source / name, ns=(MTIME_NS, MTIME_NS))
    (source / "lien").symlink_to("ordonnance.txt")
    repo = init_repository(
        LocalStorage(GOLDEN),
        PASSPHRASE,
        Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1),
        None,
        RepositorySettings(pack_size=256 << 10),
    )
    run_backup(repo, BackupOptions(paths=(SOURCE,), tags=("golden",), host="golden-host"))
    repo.close()


if __name__ == "__main__":
    build()
