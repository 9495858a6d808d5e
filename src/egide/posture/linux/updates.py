"""Linux: the distribution is still maintained, and no security update is waiting (apt, dnf)."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime

from ..check import Verdict, failed, not_checked, passed
from ..errors import CommandNotFound, OutputNotUnderstood
from ..lifecycle import judge_support, linux_support
from ..probe import Probe
from .system import os_release

# "Inst openssl [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])"
APT_INST = re.compile(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) ([^\[]*)\[[^\]]*\]\)")
# dnf 4: "FEDORA-2024-8f3c1c Important/Sec. openssl-1:3.1.4-2.fc39.x86_64"
# dnf 5: "FEDORA-2024-8f3c1c security  Important  openssl-1:3.1.4-2.fc39.x86_64  2024-01-10 ..."
DNF_ADVISORY = re.compile(r"^(\S+-\d{4}\S*|RH\S+|ALSA\S+|RLSA\S+)\s+(\S*/Sec\.|security)\s", re.I)


def os_supported(probe: Probe) -> Verdict:
    """The distribution version (os-release) is in the table of maintained versions."""
    release = os_release(probe)
    distribution = release.get("ID", "").lower()
    version = release.get("VERSION_ID", "")
    observed = {
        "name": release.get("PRETTY_NAME", distribution),
        "id": distribution,
        "version": version,
    }
    if not version:
        return not_checked(
            observed, "Version de la distribution inconnue (version de développement ?)."
        )
    return judge_support(
        observed,
        linux_support(distribution, version),
        probe.now.date(),
        "Passez à une version maintenue de la distribution (sauvegardez d'abord).",
    )


def apt_lists_age_days(probe: Probe) -> float | None:
    """Days since apt last downloaded the package lists (None when it never did)."""
    stamps = [probe.path("/var/lib/apt/periodic/update-success-stamp")]
    lists = probe.path("/var/lib/apt/lists")
    with contextlib.suppress(OSError):
        stamps += [p for p in lists.iterdir() if p.name.endswith("Release")]
    times = []
    for stamp in stamps:
        try:
            times.append(stamp.stat().st_mtime)
        except OSError:
            continue
    if not times:
        return None
    newest = datetime.fromtimestamp(max(times), UTC)
    return (probe.now - newest).total_seconds() / 86400


def pending_apt_security(output: str) -> list[str]:
    """Packages of an `apt-get -s dist-upgrade` simulation that come from a security archive."""
    pending = []
    for line in output.splitlines():
        match = APT_INST.match(line)
        if match and "security" in match.group(3).lower():
            pending.append(f"{match.group(1)} {match.group(2)}")
    return pending


def pending_dnf_security(output: str) -> list[str]:
    """Advisories listed by `dnf updateinfo list --security`."""
    return [line.split()[-1] for line in output.splitlines() if DNF_ADVISORY.match(line.strip())]


def security_updates(probe: Probe) -> Verdict:
    """No security update is waiting to be installed, and the update lists are recent."""
    try:
        result = probe.run(
            "apt-get", "-s", "-o", "Debug::NoLocking=true", "dist-upgrade", timeout=60
        )
    except CommandNotFound:
        return dnf_security_updates(probe)
    if not result.ok or "Reading package lists" not in result.stdout:
        raise OutputNotUnderstood(
            "apt-get : " + (result.stderr.strip().splitlines() or ["réponse inattendue"])[0]
        )
    pending = pending_apt_security(result.stdout)
    age = apt_lists_age_days(probe)
    observed = {
        "manager": "apt",
        "pending_security": pending[:50],
        "pending_count": len(pending),
        "lists_age_days": None if age is None else round(age, 1),
    }
    return judge_pending(probe, observed, pending, age)


def dnf_security_updates(probe: Probe) -> Verdict:
    result = probe.run("dnf", "-q", "updateinfo", "list", "--security", timeout=90)
    if not result.ok:
        raise OutputNotUnderstood(
            "dnf : " + (result.stderr.strip().splitlines() or ["réponse inattendue"])[0]
        )
    pending = pending_dnf_security(result.stdout)
    leftovers = [
        line
        for line in result.stdout.splitlines()
        if line.strip()
        and not DNF_ADVISORY.match(line.strip())
        and not line.lower().startswith(("name", "last metadata", "updating", "repositories"))
    ]
    if leftovers and not pending:
        raise OutputNotUnderstood(f"dnf a répondu « {leftovers[0][:80]} »")
    observed = {"manager": "dnf", "pending_security": pending[:50], "pending_count": len(pending)}
    return judge_pending(probe, observed, pending, None)


def judge_pending(
    probe: Probe, observed: dict[str, object], pending: list[str], lists_age: float | None
) -> Verdict:
    if pending:
        return failed(
            observed,
            f"{len(pending)} mise(s) à jour de sécurité en attente.",
            "Installez-les maintenant (« sudo apt full-upgrade » ou « sudo dnf upgrade "
            "--security ») et activez les mises à jour automatiques (unattended-upgrades, "
            "dnf-automatic).",
        )
    max_age = probe.policy.max_update_list_age.days
    if observed["manager"] == "apt" and (lists_age is None or lists_age > max_age):
        when = (
            "n'a jamais été téléchargée"
            if lists_age is None
            else f"n'a pas été téléchargée depuis {int(lists_age)} jours"
        )
        return failed(
            observed,
            f"La liste des mises à jour {when} : le poste ne sait pas quelles mises à jour "
            "de sécurité existent.",
            "Lancez « sudo apt update » puis activez unattended-upgrades.",
        )
    return passed(observed, "Aucune mise à jour de sécurité en attente.")
