"""`egide agent backup | drill | run` without a console: failures are recorded, never lost."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from egide.backup.localstore import LocalStorage
from egide.backup.repository import init_repository
from egide.cli.main import cli
from egide.crypto.kdf import Argon2Params

PLAN = """
sources = ["cabinet"]
state_dir = "state"
[repository]
location = "repo"
passphrase_file = "phrase"
[console]
url = "http://127.0.0.1:9"
token_file = "jeton"
"""


def _setup(tmp_path: Path) -> Path:
    fast = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)
    init_repository(LocalStorage(tmp_path / "repo"), b"phrase", fast, tmp_path / "c").close()
    (tmp_path / "cabinet").mkdir()
    (tmp_path / "cabinet" / "agenda.txt").write_text("rendez-vous " * 500)
    (tmp_path / "phrase").write_text("phrase\n")
    (tmp_path / "jeton").write_text("egide-agent.abc.secret")
    plan = tmp_path / "agent.toml"
    plan.write_text(PLAN)
    return plan


def _queued(tmp_path: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted((tmp_path / "state/outbox").glob("*.json"))]


def test_a_run_with_an_unreadable_passphrase_is_a_queued_failure_report(tmp_path: Path) -> None:
    plan = _setup(tmp_path)
    (tmp_path / "phrase").unlink()
    result = CliRunner().invoke(cli, ["agent", "backup", "-c", str(plan)])
    assert result.exit_code == 1
    (report,) = _queued(tmp_path)
    body = report["body"]
    assert isinstance(body, dict)
    assert report["kind"] == "backup-report" and body["status"] == "failure"
    assert "phrase de passe illisible" in str(body["error"])


def test_backup_then_drill_queue_reports_that_carry_no_file_name_or_passphrase(
    tmp_path: Path,
) -> None:
    plan = _setup(tmp_path)
    runner = CliRunner()
    assert runner.invoke(cli, ["agent", "backup", "-c", str(plan)]).exit_code == 0
    drill = runner.invoke(cli, ["agent", "drill", "-c", str(plan)])
    assert drill.exit_code == 0, drill.output
    backup, drilled = _queued(tmp_path)
    assert backup["kind"] == "backup-report" and drilled["kind"] == "drill"
    text = json.dumps([backup, drilled])
    assert "agenda" not in text and "phrase" not in text and "rendez-vous" not in text


def test_a_malformed_plan_is_a_clear_error(tmp_path: Path) -> None:
    plan = tmp_path / "agent.toml"
    plan.write_text(PLAN.replace('sources = ["cabinet"]', "sources = 3"))
    result = CliRunner().invoke(cli, ["agent", "run", "-c", str(plan), "--once"])
    assert result.exit_code == 1 and "sources" in result.output
