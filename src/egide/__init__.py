"""Égide: protects the health data of French medical practices.

Three pillars share this distribution: secure health messaging (`egide.messaging`,
`egide.console.inbox`), encrypted backup to a certified health-data host (`egide.backup`,
`egide.console.backups`) and GDPR/CNIL compliance (`egide.console.compliance`, `egide.posture`).
Layers and import rules: see docs/architecture.md.

`__version__` is looked up on first use: `importlib.metadata` scans the installed distributions,
some 45 ms that every `egide` command (a backup, a restore) would otherwise pay at start.
"""

from __future__ import annotations

from functools import cache


@cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("egide")
    except PackageNotFoundError:  # running from a source tree without installation
        return "0.0.0"


def __getattr__(name: str) -> str:
    if name == "__version__":
        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
