"""`egide backup …` on both backends: commands, exit codes, messages in French, JSON events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from egide.backup.localstore import LocalStorage
from egide.backup.lock import Lease
from egide.cli.main import cli
from tests.backup.conftest import make_s3_location
from tests.backup.corpus import digest_tree, make_tree

PASSPHRASE = "phrase de passe du cabinet"


@pytest.fixture(params=["local", "s3"])
def repo_args(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    cache = ["--cache-dir", str(tmp_path / "cache")]
    if request.param == "local":
        return ["-r", str(tmp_path / "repo"), *cache]
    location = make_s3_location(request.getfixturevalue("s3_endpoint"))
    url = f"s3://{location.bucket}/{location.prefix}"
    return ["-r", url, "--s3-endpoint", str(location.endpoint_url), *cache]


ENV = {
    "EGIDE_BACKUP_PASSPHRASE": PASSPHRASE,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}


def invoke(args: list[str], *command: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["backup", *args, *command], env={**ENV, **(env or {})})


def init(args: list[str]) -> None:
    result = invoke(args, "init", "--kdf-memory", "8", "--kdf-time", "1")
    assert result.exit_code == 0, result.output
    assert "Dépôt créé" in result.output


def test_a_full_day_of_commands_works(repo_args: list[str], tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    init(repo_args)

    first = invoke(repo_args, "run", str(source), "--tag", "nuit", "--exclude", "*.jpg")
    assert first.exit_code == 0, first.output
    assert "Instantané" in first.output
    (source / "nouveau.txt").write_text("bonjour")
    second = invoke(repo_args, "--json", "run", str(source))
    summary = json.loads(second.output.splitlines()[-1])
    assert summary["event"] == "summary" and summary["files_new"] >= 1

    listing = json.loads(invoke(repo_args, "--json", "snapshots").output)["snapshots"]
    assert [s["tags"] for s in listing] == [["nuit"], []]
    assert "scan-0.jpg" not in invoke(repo_args, "ls", listing[0]["snapshot_id"][:8]).output
    assert "scan-0.jpg" in invoke(repo_args, "ls", "latest").output
    changes = invoke(repo_args, "diff", listing[0]["snapshot_id"][:8], "latest").output
    assert f"+  {source}/nouveau.txt" in changes

    restored = invoke(repo_args, "restore", "latest", str(tmp_path / "out"))
    assert restored.exit_code == 0, restored.output
    assert digest_tree(tmp_path / "out" / str(source).lstrip("/")) == digest_tree(source)

    checked = invoke(repo_args, "check", "--read-data")
    assert checked.exit_code == 0 and "Dépôt intact" in checked.output
    assert invoke(repo_args, "check", "--read-data-subset", "2/3").exit_code == 0
    # Nightly rotation: each run reads the packs after those of the previous one.
    packs_read = [
        json.loads(
            invoke(repo_args, "--json", "check", "--read-data-subset", "50%").output.splitlines()[
                -1
            ]
        )
        for _ in range(2)
    ]
    assert all(report["ok"] and report["packs_read"] >= 1 for report in packs_read)
    cursors = list((tmp_path / "cache").glob("*/check-cursor"))
    assert len(cursors) == 1  # where the next night's share starts
    assert len(cursors[0].read_text().strip()) == 64
    wrong = invoke(repo_args, "check", "--read-data-subset", "150%")
    assert wrong.exit_code == 2 and "0 < P ≤ 100" in wrong.output
    assert invoke(repo_args, "check", "--read-data", "--resume").exit_code == 0
    assert "Instantanés : 2" in invoke(repo_args, "stats").output

    forgotten = invoke(repo_args, "forget", "--keep-last", "1", "--prune")
    assert forgotten.exit_code == 0, forgotten.output
    assert len(json.loads(invoke(repo_args, "--json", "snapshots").output)["snapshots"]) == 1
    assert invoke(repo_args, "prune").exit_code == 0
    assert invoke(repo_args, "check", "--read-data").exit_code == 0


def test_a_wrong_passphrase_exits_12_with_a_clear_message_and_changes_nothing(
    tmp_path: Path,
) -> None:
    args = ["-r", str(tmp_path / "repo"), "--cache-dir", str(tmp_path / "cache")]
    init(args)
    before = sorted(p.name for p in (tmp_path / "repo").rglob("*"))

    result = invoke(args, "run", str(tmp_path), env={"EGIDE_BACKUP_PASSPHRASE": "faux"})

    assert result.exit_code == 12
    assert "phrase de passe incorrecte" in result.output
    assert sorted(p.name for p in (tmp_path / "repo").rglob("*")) == before


def test_missing_repository_and_live_lease_have_their_own_exit_codes(tmp_path: Path) -> None:
    args = ["-r", str(tmp_path / "repo"), "--cache-dir", str(tmp_path / "cache")]
    assert invoke(args, "snapshots").exit_code == 10
    init(args)
    with Lease(LocalStorage(tmp_path / "repo"), exclusive=False):
        result = invoke(args, "prune")
    assert result.exit_code == 11
    assert "dépôt occupé" in result.output


def test_the_help_documents_the_exit_codes() -> None:
    output = CliRunner().invoke(cli, ["backup", "--help"]).output
    for code in ("0", "1", "3", "10", "11", "12"):
        assert f"\n    {code} " in output or f"\n  {code} " in output


def test_unreadable_files_are_warned_and_the_run_exits_3(tmp_path: Path) -> None:
    source = make_tree(tmp_path / "src")
    args = ["-r", str(tmp_path / "repo"), "--cache-dir", str(tmp_path / "cache")]
    init(args)
    egide = str(Path(sys.executable).parent / "egide")

    # /proc/self/mem opens but cannot be read at offset 0 (EIO), even for root.
    result = subprocess.run(
        [egide, "backup", *args, "run", str(source), "/proc/self/mem"],
        env={**os.environ, **ENV},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 3, result.stderr
    assert "avertissement : /proc/self/mem" in result.stderr
    assert "lettre-8.txt" in invoke(args, "ls", "latest").output
