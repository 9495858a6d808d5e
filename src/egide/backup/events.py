"""Events the engine emits while it works; the edges render them (progress bar, JSON lines)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """How far an operation is; totals are None until known."""

    phase: str
    files: int
    bytes: int
    files_total: int | None = None
    bytes_total: int | None = None


@dataclass(frozen=True)
class FileProblem:
    """A source or restored file that could not be handled completely; the operation goes on."""

    path: str
    message: str


@dataclass(frozen=True)
class Notice:
    """Something worth telling the operator (recovered packs, expired leases removed…)."""

    message: str


Event = Progress | FileProblem | Notice
EventSink = Callable[[Event], None]


def ignore(_: Event) -> None:
    """The default sink."""
