"""The real command runner: output, exit codes, missing programs and time limits."""

from __future__ import annotations

import sys

import pytest

from egide.posture.errors import CommandNotFound, CommandTimedOut
from egide.posture.runner import RecordedRunner, Recording, SubprocessRunner


def test_it_returns_output_and_exit_code() -> None:
    result = SubprocessRunner().run((sys.executable, "-c", "print('État : actif'); exit(3)"), 30)
    assert result.stdout == "État : actif\n"
    assert result.returncode == 3
    assert not result.ok


def test_it_turns_a_missing_program_into_command_not_found() -> None:
    with pytest.raises(CommandNotFound):
        SubprocessRunner().run(("egide-no-such-program-here", "--version"), 5)


def test_it_stops_a_program_that_does_not_answer() -> None:
    with pytest.raises(CommandTimedOut):
        SubprocessRunner().run((sys.executable, "-c", "import time; time.sleep(30)"), 0.5)


def test_it_passes_the_environment_it_is_given() -> None:
    runner = SubprocessRunner(env={"LC_ALL": "C", "EGIDE_PROBE": "oui"})
    result = runner.run((sys.executable, "-c", "import os; print(os.environ['EGIDE_PROBE'])"), 30)
    assert result.stdout.strip() == "oui"


def test_the_recorded_runner_replays_and_remembers_calls() -> None:
    runner = RecordedRunner({("ufw", "status"): Recording(stdout="Status: active\n")})
    assert runner.run(("ufw", "status"), 5).stdout == "Status: active\n"
    with pytest.raises(CommandNotFound):
        runner.run(("nft", "list", "ruleset"), 5)
    with pytest.raises(CommandTimedOut):
        runner.with_recordings([(("nft",), Recording(hangs=True))]).run(("nft",), 5)
    assert runner.calls == [("ufw", "status"), ("nft", "list", "ruleset")]
