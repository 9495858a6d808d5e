"""Missing programs, hung programs, answers in an unknown format: never a false pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from egide.posture.catalogue import SYSTEMS, checks_for, inspect
from egide.posture.errors import CommandTimedOut
from egide.posture.result import Status
from egide.posture.runner import CompletedCommand

from .conftest import probe_with


class AnswersEverything:
    """A runner that gives the same answer to any command (a broken or foreign system)."""

    def __init__(self, stdout: str, returncode: int = 0) -> None:
        self.stdout = stdout
        self.returncode = returncode

    def run(self, argv: tuple[str, ...], timeout: float) -> CompletedCommand:
        return CompletedCommand(argv, self.returncode, self.stdout, "")


class HangsOnEverything:
    def run(self, argv: tuple[str, ...], timeout: float) -> CompletedCommand:
        raise CommandTimedOut(argv, f"pas de réponse en {timeout:g} s")


GARBAGE = [
    "",
    "¿Qué? 42",
    "Der Befehl wurde erfolgreich ausgeführt.\n",
    '{"unexpected": [1, 2, 3]}',
    "[1, 2, 3]",
    "<html><body>502 Bad Gateway</body></html>",
    "\x00\x01\x02\xff",
    "true\nuint32 300\n",
]


@pytest.mark.parametrize("system", SYSTEMS)
def test_no_check_passes_when_every_program_is_missing(tmp_path: Path, system: str) -> None:
    results = inspect(probe_with({}, tmp_path), system)
    assert len(results) == len(checks_for(system))
    for result in results:
        assert result.status is not Status.PASS, result
        assert result.explanation


@pytest.mark.parametrize("system", SYSTEMS)
def test_no_check_passes_when_every_program_hangs(tmp_path: Path, system: str) -> None:
    results = inspect(probe_with(HangsOnEverything(), tmp_path), system)
    for result in results:
        assert result.status is not Status.PASS, result
    assert any(r.status is Status.ERROR and "à temps" in r.explanation for r in results)


@pytest.mark.parametrize("system", SYSTEMS)
@pytest.mark.parametrize("stdout", GARBAGE)
@pytest.mark.parametrize("returncode", [0, 1])
def test_no_check_passes_on_answers_it_does_not_understand(
    tmp_path: Path, system: str, stdout: str, returncode: int
) -> None:
    results = inspect(probe_with(AnswersEverything(stdout, returncode), tmp_path), system)
    for result in results:
        assert result.status is not Status.PASS, result
        assert result.status in set(Status)


def test_a_bug_inside_a_check_becomes_an_error_not_a_crash(tmp_path: Path) -> None:
    from egide.posture.check import Check, run_check

    def broken(probe: object) -> object:
        raise ZeroDivisionError

    result = run_check(Check("firewall", "RCM-POS-3", "Pare-feu", broken), probe_with({}, tmp_path))  # type: ignore[arg-type]
    assert result.status is Status.ERROR
    assert "ZeroDivisionError" in result.explanation
