"""Linux facts shared by several checks: os-release, services, processes, packages."""

from __future__ import annotations

import re
import shlex

from ..errors import CommandNotFound, OutputNotUnderstood
from ..probe import Probe

DPKG_LINE = re.compile(r"([a-z0-9][a-z0-9+.:-]*)\t([a-zA-Z]{2}[ RH]?)")
SYSTEMD_STATES = frozenset(
    {"active", "inactive", "failed", "activating", "deactivating", "reloading", "unknown"}
)


def os_release(probe: Probe) -> dict[str, str]:
    """The key/value pairs of /etc/os-release (or /usr/lib/os-release)."""
    text = probe.read("/etc/os-release") or probe.read("/usr/lib/os-release")
    if text is None:
        raise OutputNotUnderstood("ni /etc/os-release ni /usr/lib/os-release")
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            parts = shlex.split(value, posix=True) if value.strip() else [""]
            values[key.strip()] = parts[0] if parts else ""
    return values


def active_units(probe: Probe, *units: str) -> dict[str, bool] | None:
    """Which systemd units are active, or None when systemd cannot be asked (container)."""
    try:
        result = probe.run("systemctl", "is-active", *units)
    except CommandNotFound:
        return None
    states = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if len(states) != len(units) or not set(states) <= SYSTEMD_STATES:
        return None
    return {unit: state == "active" for unit, state in zip(units, states, strict=True)}


def enabled_units(probe: Probe, *units: str) -> dict[str, bool] | None:
    """Which systemd units start at boot, or None when systemd cannot be asked."""
    try:
        result = probe.run("systemctl", "is-enabled", *units)
    except CommandNotFound:
        return None
    states = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if len(states) != len(units):
        return None
    return {
        unit: state in {"enabled", "enabled-runtime"}
        for unit, state in zip(units, states, strict=True)
    }


def running_processes(probe: Probe) -> set[str] | None:
    """Names of the running processes (from /proc/*/comm), or None when /proc is unreadable."""
    proc = probe.path("/proc")
    try:
        entries = list(proc.iterdir())
    except OSError:
        return None
    names: set[str] = set()
    for entry in entries:
        if entry.name.isdigit():
            try:
                names.add((entry / "comm").read_text(encoding="utf-8").strip())
            except OSError:
                continue  # the process ended while we looked
    return names


def dpkg_installed(stdout: str, stderr: str, candidates: tuple[str, ...]) -> set[str]:
    """Installed names from `dpkg-query -W`.

    dpkg names every candidate, either on standard output (with its status) or in a "no packages
    found" line: a candidate it does not mention means the answer is not what we think it is.
    """
    found = set()
    mentioned = set()
    for line in stdout.splitlines():
        match = DPKG_LINE.fullmatch(line.rstrip())
        if match is None:
            raise OutputNotUnderstood(f"dpkg-query a répondu « {line[:60]} »")
        name = match.group(1).split(":")[0]
        mentioned.add(name)
        if match.group(2).startswith("ii"):
            found.add(name)
    for line in stderr.splitlines():
        missing = re.fullmatch(r"dpkg-query: no packages found matching (\S+)", line.strip())
        if missing is None and line.strip():
            raise OutputNotUnderstood(f"dpkg-query : « {line[:60]} »")
        if missing is not None:
            mentioned.add(missing.group(1))
    if not set(candidates) <= mentioned:
        raise OutputNotUnderstood("dpkg-query n'a pas répondu pour chaque paquet")
    return found


def installed_packages(probe: Probe, candidates: tuple[str, ...]) -> set[str] | None:
    """Which of the candidate packages are installed (dpkg or rpm), or None if neither answers."""
    try:
        result = probe.run(
            "dpkg-query", "-W", "-f=${binary:Package}\\t${db:Status-Abbrev}\\n", *candidates
        )
    except CommandNotFound:
        pass
    else:
        return dpkg_installed(result.stdout, result.stderr, candidates)
    try:
        result = probe.run("rpm", "-q", "--qf", "%{NAME}\\n", *candidates)
    except CommandNotFound:
        return None
    found = set()
    for line in result.stdout.splitlines():
        if line.strip() in candidates:
            found.add(line.strip())
        elif not re.fullmatch(r"package \S+ is not installed", line.strip()):
            raise OutputNotUnderstood(f"rpm a répondu « {line[:60]} »")
    if len(result.stdout.splitlines()) < len(candidates):
        raise OutputNotUnderstood("rpm n'a pas répondu pour chaque paquet")
    return found
