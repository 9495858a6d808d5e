"""Trials of the ransomware alarm on a scaled-down benchmark corpus.

    .venv/bin/python -m bench.ransomware_alarm [--trials 5] [--workdir /tmp/egide-alarm]

Each trial (its own seed) builds a small practice-like corpus with the benchmark's generators
(`backup_vs_peers/corpus.py`: SQLite database, SQL dump, incompressible scans, letters, office
files), backs it up, applies the benchmark's next-day mutation and backs up again (must NOT be
flagged), then overwrites 30 % of the files with random bytes of the same size — what encryption
in place looks like — and backs up a third time (must be flagged). Prints one line per trial.
The test suite runs the same `trial` (tests/backup/test_alarm.py).
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from egide.backup.archiver import BackupOptions, run_backup
from egide.backup.localstore import LocalStorage
from egide.backup.repository import init_repository
from egide.crypto.kdf import Argon2Params

from .backup_vs_peers.corpus import (
    MIB,
    make_database,
    make_dump,
    make_letters,
    make_office,
    make_scans,
    next_day,
)

ATTACK_SHARE = 0.30
_FAST_KDF = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)


@dataclass(frozen=True)
class TrialResult:
    """The verdicts of one trial: the first backup, the next day and the attack."""

    seed: int
    files: int
    first_reasons: tuple[str, ...]
    next_day_reasons: tuple[str, ...]
    attack_reasons: tuple[str, ...]
    next_day_changed: float
    attack_changed: float
    attack_became_dense: float


def make_corpus(root: Path, seed: int) -> None:
    """The benchmark corpus at about 1/100 of its size (same kinds of files)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    make_database(root / "cabinet.sqlite", 3 * MIB, rng)
    make_dump(root / "export" / "cabinet.sql", MIB, rng)
    make_scans(root / "scans", 120, 6 * MIB, rng)
    make_letters(root / "courriers", 300, rng)
    make_office(root / "bureautique", 150, rng)


def encrypt_in_place(root: Path, share: float, seed: int) -> int:
    """Overwrite `share` of the files under root with random bytes of the same size."""
    rng = random.Random(seed)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    victims = rng.sample(files, round(share * len(files)))
    for path in victims:
        path.write_bytes(rng.randbytes(path.stat().st_size))
    return len(victims)


def trial(work: Path, seed: int) -> TrialResult:
    """One trial in `work` (created, left for the caller to remove)."""
    corpus = work / "cabinet"
    make_corpus(corpus, seed)
    repo = init_repository(LocalStorage(work / "repo"), b"essai", _FAST_KDF, work / "cache")
    try:
        options = BackupOptions((str(corpus),), host="poste-accueil")
        first = run_backup(repo, options).snapshot
        next_day(corpus, seed + 1)
        day = run_backup(repo, options).snapshot
        encrypt_in_place(corpus, ATTACK_SHARE, seed + 2)
        attack = run_backup(repo, options).snapshot
    finally:
        repo.close()
    parent_files = day.stats["files"]
    return TrialResult(
        seed=seed,
        files=int(first.stats["files"]),
        first_reasons=tuple(first.suspect_reasons),
        next_day_reasons=tuple(day.suspect_reasons),
        attack_reasons=tuple(attack.suspect_reasons),
        next_day_changed=(day.stats["alarm_changed"] + day.stats["alarm_deleted"])
        / first.stats["files"],
        attack_changed=(attack.stats["alarm_changed"] + attack.stats["alarm_deleted"])
        / parent_files,
        attack_became_dense=attack.stats["alarm_became_dense"]
        / max(1, attack.stats["alarm_changed"]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    base = Path(args.workdir or tempfile.mkdtemp(prefix="egide-alarm-"))
    print("| trial | files | next day: changed | next day flagged | attack: changed |"
          " became dense | attack flagged |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for index in range(args.trials):
        work = base / f"trial-{index}"
        shutil.rmtree(work, ignore_errors=True)
        result = trial(work, 1000 + index)
        print(
            f"| {index + 1} | {result.files} | {result.next_day_changed:.1%} |"
            f" {'yes' if result.next_day_reasons else 'no'} | {result.attack_changed:.1%} |"
            f" {result.attack_became_dense:.0%} | {'yes' if result.attack_reasons else 'no'} |"
        )
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
