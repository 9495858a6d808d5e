"""The agent's plan: what to back up, when, where, and whom to tell — parsed from TOML.

    host = "poste-accueil"                      # optional, defaults to the machine's name
    sources = ["/srv/cabinet/donnees", "/srv/cabinet/exports"]
    excludes = ["*.tmp", "*/cache/*"]
    schedule = ["12:30", "19:00"]               # local times, every day
    state_dir = "/var/lib/egide-agent"          # outbox of reports, last run times, cache

    [repository]
    location = "s3://bucket/prefix"             # or a directory
    s3_endpoint = "https://s3.hds.example"      # optional
    passphrase_file = "/etc/egide/passphrase"

    [retention]                                 # applied by the agent only when by_agent = true:
    by_agent = false                            # with immutable storage, the operator prunes
    daily = 14
    weekly = 8
    monthly = 12

    [drill]
    every_days = 7
    files = 25

    [console]
    url = "https://console.example.fr"
    token_file = "/etc/egide/agent-token"
    ca_file = "/etc/egide/console-ca.pem"       # optional

Relative paths are relative to the configuration file's directory. The passphrase and the token
stay in their files: the plan holds only their paths.
"""

from __future__ import annotations

import socket
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from .errors import PlanInvalid
from .retention import RetentionPolicy

_TOP = {"host", "sources", "excludes", "schedule", "state_dir", "repository", "retention", "drill",
        "console"}  # fmt: skip
_RETENTION = {"by_agent", "last", "hourly", "daily", "weekly", "monthly", "yearly"}


@dataclass(frozen=True)
class AgentPlan:
    """A parsed, checked agent configuration."""

    sources: tuple[str, ...]
    repository: str
    passphrase_file: Path
    state_dir: Path
    console_url: str
    token_file: Path
    host: str = field(default_factory=socket.gethostname)
    excludes: tuple[str, ...] = ()
    schedule: tuple[time, ...] = (time(12, 30),)
    s3_endpoint: str | None = None
    ca_file: Path | None = None
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    retention_by_agent: bool = False
    drill_every_days: float = 7.0
    drill_files: int = 25


def _table(document: dict[str, Any], name: str, allowed: set[str]) -> dict[str, Any]:
    value = document.get(name, {})
    if not isinstance(value, dict):
        raise PlanInvalid(f"[{name}] doit être une table")
    unknown = set(value) - allowed
    if unknown:
        raise PlanInvalid(f"[{name}] : clé(s) inconnue(s) {', '.join(sorted(unknown))}")
    return value


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PlanInvalid(f"« {name} » doit être une liste de textes non vides")
    return tuple(value)


def _text(table: dict[str, Any], key: str, where: str, required: bool = True) -> str | None:
    value = table.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise PlanInvalid(f"{where}{key} manquant ou vide")
    return value


def _moment(text: str) -> time:
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise PlanInvalid(f"heure « {text} » invalide (attendu HH:MM)") from None


def _count(table: dict[str, Any], key: str, default: float, where: str) -> Any:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PlanInvalid(f"{where}{key} doit être un nombre positif")
    return value


def parse_plan(text: str, base: Path) -> AgentPlan:
    """Parse and check a TOML plan; relative paths are resolved against `base`."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PlanInvalid(f"configuration TOML illisible : {error}") from None
    unknown = set(document) - _TOP
    if unknown:
        raise PlanInvalid(f"clé(s) inconnue(s) : {', '.join(sorted(unknown))}")
    repository = _table(document, "repository", {"location", "s3_endpoint", "passphrase_file"})
    console = _table(document, "console", {"url", "token_file", "ca_file"})
    retention = _table(document, "retention", _RETENTION)
    drill = _table(document, "drill", {"every_days", "files"})

    def path(value: str | None) -> Path | None:
        return None if value is None else base / Path(value).expanduser()

    location = _text(repository, "location", "[repository] ")
    assert location is not None
    if "://" not in location:
        location = str(path(location))
    url = _text(console, "url", "[console] ")
    assert url is not None
    if not url.startswith(("https://", "http://")):
        raise PlanInvalid("[console] url doit commencer par https://")
    policy = {k: _count(retention, k, 0, "[retention] ") for k in _RETENTION - {"by_agent"}}
    if any(not isinstance(v, int) for v in policy.values()):
        raise PlanInvalid("[retention] : des nombres entiers sont attendus")
    schedule = tuple(_moment(t) for t in _strings(document.get("schedule", ["12:30"]), "schedule"))
    if not document.get("sources"):
        raise PlanInvalid("« sources » : indiquez au moins un dossier à sauvegarder")
    host = document.get("host", socket.gethostname())
    if not isinstance(host, str) or not host:
        raise PlanInvalid("« host » doit être un texte non vide")
    return AgentPlan(
        host=host,
        sources=tuple(str(path(s)) for s in _strings(document.get("sources"), "sources")),
        excludes=_strings(document.get("excludes", []), "excludes")
        if "excludes" in document
        else (),
        schedule=tuple(sorted(schedule)),
        state_dir=path(_text(document, "state_dir", "")) or base,
        repository=location,
        s3_endpoint=_text(repository, "s3_endpoint", "[repository] ", required=False),
        passphrase_file=path(_text(repository, "passphrase_file", "[repository] ")) or base,
        console_url=url.rstrip("/"),
        token_file=path(_text(console, "token_file", "[console] ")) or base,
        ca_file=path(_text(console, "ca_file", "[console] ", required=False)),
        retention=RetentionPolicy(**policy),
        retention_by_agent=bool(retention.get("by_agent", False)),
        drill_every_days=float(_count(drill, "every_days", 7, "[drill] ")),
        drill_files=int(_count(drill, "files", 25, "[drill] ")),
    )


def load_plan(path: Path) -> AgentPlan:
    """Read and parse the plan file at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PlanInvalid(f"configuration {path} illisible : {error}") from None
    return parse_plan(text, path.parent)


def last_slot(schedule: tuple[time, ...], now: datetime) -> datetime:
    """The latest scheduled moment at or before `now` (today's or yesterday's)."""
    today = [datetime.combine(now.date(), t, now.tzinfo) for t in schedule]
    past = [moment for moment in today if moment <= now]
    if past:
        return past[-1]
    return datetime.combine(now.date() - timedelta(days=1), schedule[-1], now.tzinfo)


def next_slot(schedule: tuple[time, ...], now: datetime) -> datetime:
    """The first scheduled moment after `now`."""
    for day in (0, 1):
        for moment in schedule:
            candidate = datetime.combine(now.date() + timedelta(days=day), moment, now.tzinfo)
            if candidate > now:
                return candidate
    raise AssertionError("a schedule has at least one time")


def backup_due(schedule: tuple[time, ...], last_run: datetime | None, now: datetime) -> bool:
    """Whether a scheduled backup was missed since `last_run` (the machine was off, or asleep)."""
    return last_run is None or last_run < last_slot(schedule, now)
