"""Linux screen lock: GNOME (gsettings) and KDE Plasma (kscreenlockerrc)."""

from __future__ import annotations

import configparser
import re

from ..check import Verdict, failed, not_checked, passed
from ..errors import CommandNotFound, OutputNotUnderstood
from ..probe import Probe

REMEDY_GNOME = (
    "Paramètres → Confidentialité → Écran : « Délai d'extinction de l'écran » 5 minutes et "
    "« Verrouillage automatique de l'écran » activé."
)
REMEDY_KDE = (
    "Configuration du système → Écran de verrouillage : « Verrouiller automatiquement après » "
    "5 minutes."
)


def shell_present(probe: Probe, program: str) -> bool:
    """Whether a desktop shell is installed (answers to --version)."""
    try:
        return probe.run(program, "--version").ok
    except CommandNotFound:
        return False


def gsetting(probe: Probe, schema: str, key: str) -> str:
    result = probe.run("gsettings", "get", schema, key)
    if not result.ok or "memory' GSettings backend" in result.stderr:
        raise OutputNotUnderstood(f"gsettings {schema} {key} : {result.stderr.strip()[:80]}")
    return result.stdout.strip()


def seconds(value: str) -> int:
    """gsettings prints unsigned integers as `uint32 300`."""
    match = re.fullmatch(r"(?:uint32 )?(\d+)", value)
    if match is None:
        raise OutputNotUnderstood(f"gsettings a répondu « {value[:40]} »")
    return int(match.group(1))


def gnome_lock(probe: Probe) -> tuple[int | None, dict[str, int | bool]]:
    """Seconds of inactivity before GNOME locks the session (None: never)."""
    enabled = gsetting(probe, "org.gnome.desktop.screensaver", "lock-enabled")
    idle = seconds(gsetting(probe, "org.gnome.desktop.session", "idle-delay"))
    delay = seconds(gsetting(probe, "org.gnome.desktop.screensaver", "lock-delay"))
    disabled = gsetting(probe, "org.gnome.desktop.lockdown", "disable-lock-screen")
    if enabled not in {"true", "false"} or disabled not in {"true", "false"}:
        raise OutputNotUnderstood(f"gsettings a répondu « {enabled} » / « {disabled} »")
    observed = {"lock_enabled": enabled == "true", "idle_delay": idle, "lock_delay": delay}
    if enabled == "false" or disabled == "true" or idle == 0:
        return None, observed
    return idle + delay, observed


def kde_lock(probe: Probe) -> tuple[int | None, dict[str, int | bool]]:
    """Seconds before Plasma locks, from kscreenlockerrc with Plasma's defaults (5 min)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    if probe.home is not None:
        rc = probe.home / ".config" / "kscreenlockerrc"
        try:
            parser.read_string(rc.read_text(encoding="utf-8"))
        except FileNotFoundError:
            pass
        except (OSError, configparser.Error) as error:
            raise OutputNotUnderstood("kscreenlockerrc illisible") from error
    daemon = parser["Daemon"] if parser.has_section("Daemon") else {}
    autolock = str(daemon.get("Autolock", "true")).strip().lower() != "false"
    try:
        minutes = int(daemon.get("Timeout", "5"))
        grace = int(daemon.get("LockGrace", "5"))
    except ValueError as error:
        raise OutputNotUnderstood("kscreenlockerrc : délai illisible") from error
    observed = {"autolock": autolock, "timeout_minutes": minutes, "grace_seconds": grace}
    if not autolock or minutes <= 0:
        return None, observed
    return minutes * 60 + grace, observed


def screen_lock(probe: Probe) -> Verdict:
    """The desktop locks the session after at most the policy's inactivity (10 minutes)."""
    desktops = []
    if shell_present(probe, "gnome-shell"):
        desktops.append(("GNOME", gnome_lock, REMEDY_GNOME))
    if shell_present(probe, "plasmashell") or (
        probe.home is not None and (probe.home / ".config" / "kscreenlockerrc").exists()
    ):
        desktops.append(("KDE Plasma", kde_lock, REMEDY_KDE))
    if not desktops:
        return not_checked(
            None,
            "Aucun bureau GNOME ou KDE Plasma trouvé : le verrouillage automatique n'a pas pu "
            "être vérifié.",
            "Vérifiez à la main que la session se verrouille après 10 minutes au plus.",
        )
    limit = probe.policy.max_lock_seconds
    observed: dict[str, object] = {}
    for name, read, remedy in desktops:
        lock_after, settings = read(probe)
        observed[name] = {**settings, "locks_after_seconds": lock_after}
        if lock_after is None:
            return failed(observed, f"{name} : la session ne se verrouille jamais seule.", remedy)
        if lock_after > limit:
            return failed(
                observed,
                f"{name} : verrouillage après {lock_after // 60} min {lock_after % 60} s, "
                f"au-delà de {limit // 60} minutes.",
                remedy,
            )
    after = max(
        int(str(v["locks_after_seconds"])) for v in observed.values() if isinstance(v, dict)
    )
    return passed(
        observed, f"La session se verrouille après {after // 60} min {after % 60} s au plus."
    )
