"""The one door through which every check runs a command.

Checks never call `subprocess` themselves: they ask a `CommandRunner`. The real
`SubprocessRunner` runs programs with a time limit; the `RecordedRunner` replays outputs recorded
on other computers (Windows, macOS, French or English systems), so that every parser is tested
here on what those systems really print.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from .errors import CommandNotFound, CommandTimedOut


@dataclass(frozen=True)
class CompletedCommand:
    """What a finished command printed, and its exit code."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class CommandRunner(Protocol):
    """Runs a program and returns its output; raises `CommandNotFound` or `CommandTimedOut`."""

    def run(self, argv: tuple[str, ...], timeout: float) -> CompletedCommand: ...


def decode_output(raw: bytes, fallback_encoding: str = "cp850") -> str:
    """Decode a program's output: UTF-8 when it is, else the console code page.

    Windows console programs (`net`, `netsh`, `manage-bde`) print in the OEM code page (cp850 on a
    French system) unless told otherwise; decoding with the wrong table would turn « État » into
    garbage and the parser would not recognise it.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode(fallback_encoding, errors="replace")
    return text.removeprefix("\ufeff").replace("\r\n", "\n")


class SubprocessRunner:
    """Runs real programs, without a shell, with a time limit and no standard input."""

    def __init__(
        self, env: Mapping[str, str] | None = None, fallback_encoding: str = "cp850"
    ) -> None:
        # The environment is given by the caller (the CLI sets LC_ALL=C): the engine reads none.
        self._env = dict(env) if env is not None else None
        self._fallback_encoding = fallback_encoding

    def run(self, argv: tuple[str, ...], timeout: float) -> CompletedCommand:
        try:
            completed = subprocess.run(  # noqa: S603 - argv is fixed by the checks, no shell
                list(argv),
                capture_output=True,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                env=self._env,
                check=False,
            )
        except FileNotFoundError:
            raise CommandNotFound(argv, "programme introuvable") from None
        except PermissionError:
            raise CommandNotFound(argv, "programme non exécutable") from None
        except subprocess.TimeoutExpired:
            raise CommandTimedOut(argv, f"pas de réponse en {timeout:g} s") from None
        return CompletedCommand(
            argv=argv,
            returncode=completed.returncode,
            stdout=decode_output(completed.stdout, self._fallback_encoding),
            stderr=decode_output(completed.stderr, self._fallback_encoding),
        )


@dataclass(frozen=True)
class Recording:
    """A recorded answer: output and exit code, or a program that is missing or hangs."""

    stdout: str = ""
    stderr: str = ""
    returncode: int = 0
    missing: bool = False
    hangs: bool = False


class RecordedRunner:
    """Replays recorded answers; any command not recorded behaves as a missing program.

    Keys are the exact argv tuples the checks run. `calls` lists what was asked, in order, so a
    test can see which commands a check needed.
    """

    def __init__(self, recordings: Mapping[tuple[str, ...], Recording]) -> None:
        self._recordings = dict(recordings)
        self.calls: list[tuple[str, ...]] = []

    def with_recordings(self, extra: Iterable[tuple[tuple[str, ...], Recording]]) -> RecordedRunner:
        """A copy of this runner with more (or replaced) recordings."""
        merged = dict(self._recordings)
        merged.update(extra)
        return RecordedRunner(merged)

    def run(self, argv: tuple[str, ...], timeout: float) -> CompletedCommand:
        self.calls.append(argv)
        recording = self._recordings.get(argv)
        if recording is None or recording.missing:
            raise CommandNotFound(argv, "programme introuvable")
        if recording.hangs:
            raise CommandTimedOut(argv, f"pas de réponse en {timeout:g} s")
        return CompletedCommand(
            argv=argv,
            returncode=recording.returncode,
            stdout=decode_output(recording.stdout.encode("utf-8")),
            stderr=decode_output(recording.stderr.encode("utf-8")),
        )
