"""kill -9 at random moments of `run` and `prune`: the repository still verifies, data is reused.

Bounded in the default suite; EGIDE_BACKUP_SOAK=1 kills many more times (set by people, read
here by the test, never by the engine).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from egide.backup.checker import check_repository
from egide.backup.localstore import LocalStorage
from egide.backup.pruner import prune_repository
from egide.backup.repository import open_repository
from egide.backup.s3store import S3Storage
from egide.backup.snapshot import list_snapshots
from egide.backup.storage import RetryingStorage, Storage

from .conftest import PASSPHRASE, make_s3_location

SOAK = os.environ.get("EGIDE_BACKUP_SOAK") == "1"
KILLS = 40 if SOAK else 5


def _corpus(root: Path) -> Path:
    rng = random.Random(3)
    root.mkdir(parents=True)
    for i in range(12):
        (root / f"scan-{i}.pdf").write_bytes(rng.randbytes(3_000_000))
    for i in range(40):
        (root / f"lettre-{i}.txt").write_text(f"courrier {i} " * rng.randint(1000, 30000))
    return root


def _cli(repo_arg: list[str], *args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "egide"), "backup", *repo_arg, *args]


def _kill_at_random(command: list[str], env: dict[str, str], rng: random.Random) -> int | None:
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(rng.uniform(0.2, 2.5))
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    return process.wait()


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_random_kills_of_run_and_prune_leave_a_valid_repository_and_reusable_data(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    source = _corpus(tmp_path / "src")
    env = {**os.environ, "EGIDE_BACKUP_PASSPHRASE": PASSPHRASE.decode()}
    storage: Storage
    if backend == "local":
        storage = LocalStorage(tmp_path / "repo")
        repo_arg = ["-r", str(tmp_path / "repo")]
    else:
        location = make_s3_location(request.getfixturevalue("s3_endpoint"))
        storage = S3Storage(location)
        repo_arg = ["-r", f"s3://{location.bucket}/{location.prefix}"]
        repo_arg += ["--s3-endpoint", str(location.endpoint_url)]
        env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    repo_arg += ["--cache-dir", str(tmp_path / "cache")]
    init = subprocess.run(
        _cli(repo_arg, "init", "--kdf-memory", "8", "--kdf-time", "1"), env=env, check=False
    )
    assert init.returncode == 0
    rng = random.Random(int(os.environ.get("EGIDE_BACKUP_SEED", "11")))
    for round_number in range(KILLS):
        (source / f"jour-{round_number}.txt").write_text(f"jour {round_number} " * 5000)
        _kill_at_random(_cli(repo_arg, "run", str(source)), env, rng)
        if round_number % 2:
            _kill_at_random(_cli(repo_arg, "forget", "--keep-last", "1", "--prune"), env, rng)

    storage = RetryingStorage(storage)
    with open_repository(storage, PASSPHRASE, tmp_path / "check-cache") as repo:
        report = check_repository(repo, read_data=True)
        assert report.ok, report.errors + [str(d) for d in report.damaged_files]
        packs_before = {info.name for info in storage.list("data/")}
    time.sleep(0.01)
    # Expired leases of killed clients never block: the next run goes through.
    final = subprocess.run(_cli(repo_arg, "--json", "run", str(source)), env=env,
                           capture_output=True, check=False)  # fmt: skip
    assert final.returncode == 0, final.stderr.decode()
    with open_repository(storage, PASSPHRASE, tmp_path / "check-cache") as repo:
        snapshot = list_snapshots(repo)[-1]
        if packs_before:
            assert snapshot.stats["bytes_new"] < snapshot.stats["bytes"]
        assert check_repository(repo, read_data=True).ok
        prune_repository(repo, grace_seconds=0)
        assert check_repository(repo, read_data=True).ok
