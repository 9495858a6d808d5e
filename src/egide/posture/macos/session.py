"""macOS session and accounts: screen lock, admin group, password policy, remote access, Wi-Fi."""

from __future__ import annotations

import json
import plistlib
import re

from ..check import Verdict, failed, not_applicable, not_checked, passed
from ..errors import OutputNotUnderstood
from ..probe import Probe
from ..wifi import judge_wifi

# Remote-access applications, and the launch daemons that keep them reachable unattended.
REMOTE_APPS = {
    "TeamViewer": ("TeamViewer.app", "com.teamviewer.teamviewer_service.plist"),
    "AnyDesk": ("AnyDesk.app", "com.philandro.anydesk.service.plist"),
    "RustDesk": ("RustDesk.app", "com.carriez.RustDesk_service.plist"),
    "Splashtop Streamer": ("Splashtop Streamer.app", "com.splashtop.streamer-daemon.plist"),
    "VNC Server": ("VNC Server.app", "com.realvnc.vncserver.plist"),
    "NoMachine": ("NoMachine.app", "com.nomachine.server.plist"),
    "Chrome Remote Desktop": (
        "Chrome Remote Desktop Host Uninstaller.app",
        "org.chromium.chromoting.plist",
    ),
}


def lock_delay(probe: Probe) -> int | None:
    """Seconds between the screen saver or display sleep and the password prompt (None: off)."""
    result = probe.run("sysadminctl", "-screenLock", "status")
    text = result.stdout + result.stderr
    if "screenLock is off" in text:
        return None
    if "screenLock delay is immediate" in text:
        return 0
    match = re.search(r"screenLock delay is (\d+) seconds", text)
    if match is None:
        raise OutputNotUnderstood(f"sysadminctl a répondu « {text.strip()[-60:]} »")
    return int(match.group(1))


def idle_seconds(probe: Probe) -> tuple[int | None, int | None]:
    """Screen-saver start and display sleep, in seconds (None when unset or never)."""
    saver = probe.run("defaults", "-currentHost", "read", "com.apple.screensaver", "idleTime")
    idle = int(saver.stdout.strip()) if saver.ok and saver.stdout.strip().isdigit() else None
    power = probe.run("pmset", "-g")
    match = re.search(r"^\s*displaysleep\s+(\d+)", power.stdout, re.MULTILINE)
    if not power.ok or match is None:
        raise OutputNotUnderstood("pmset -g : réglage displaysleep absent")
    display = int(match.group(1)) * 60 if match else None
    return (idle or None), (display or None)


def screen_lock(probe: Probe) -> Verdict:
    """The password is asked within 10 minutes of inactivity."""
    delay = lock_delay(probe)
    idle, display = idle_seconds(probe)
    observed = {"lock_delay": delay, "screensaver_idle": idle, "display_sleep": display}
    remedy = (
        "Réglages Système → Écran de verrouillage : « Éteindre l'écran » après 5 minutes au plus "
        "et « Exiger le mot de passe » immédiatement."
    )
    starts = [s for s in (idle, display) if s]
    if delay is None or not starts:
        return failed(observed, "La session ne se verrouille pas d'elle-même.", remedy)
    after = min(starts) + delay
    if after > probe.policy.max_lock_seconds:
        return failed(observed, f"Verrouillage seulement après {after // 60} minutes.", remedy)
    return passed(observed, f"La session se verrouille après {after // 60} minute(s).")


def administrators(probe: Probe) -> Verdict:
    """The daily user is not in the `admin` group; its members are listed."""
    result = probe.run("dscl", ".", "-read", "/Groups/admin", "GroupMembership")
    match = re.match(r"GroupMembership:\s*(.*)", result.stdout.strip(), re.DOTALL)
    if not result.ok or match is None:
        raise OutputNotUnderstood(f"dscl a répondu « {result.stdout.strip()[:60]} »")
    members = match.group(1).split()
    observed = {"daily_user": probe.user, "admin_accounts": members}
    if probe.user in members:
        return failed(
            observed,
            f"Le compte du quotidien « {probe.user} » est administrateur du Mac.",
            "Créez un compte administrateur séparé, puis décochez « Autoriser cet utilisateur à "
            "administrer cet ordinateur » pour le compte du quotidien (Réglages Système → "
            "Utilisateurs et groupes).",
        )
    return passed(
        observed, f"« {probe.user} » n'est pas administrateur. Admins : {', '.join(members)}."
    )


def account_policies(probe: Probe) -> tuple[int, int | None]:
    """Minimum password length and failed-login limit from `pwpolicy getaccountpolicies`."""
    result = probe.run("pwpolicy", "getaccountpolicies")
    text = result.stdout
    if "No global policies" in text or "no policies" in text.lower():
        return 0, None
    start = text.find("<?xml")
    if start < 0:
        raise OutputNotUnderstood("pwpolicy : pas de plist dans la réponse")
    try:
        policies = plistlib.loads(text[start:].encode("utf-8"))
    except (plistlib.InvalidFileException, ValueError) as error:
        raise OutputNotUnderstood("pwpolicy : plist illisible") from error
    # Policies are free-form predicates; the length is the `.{N,}` of the password regex.
    flat = json.dumps(policies, default=str)
    length = 0
    threshold = None
    for found in re.finditer(r"\.\{(\d+),", flat):
        length = max(length, int(found.group(1)))
    for found in re.finditer(r"policyAttributeFailedAuthentications\s*<\s*(\d+)", flat):
        threshold = int(found.group(1))
    return length, threshold


def password_policy(probe: Probe) -> Verdict:
    """The account policy requires 12 characters (or 8 with a lockout)."""
    length, threshold = account_policies(probe)
    rules = probe.policy
    observed = {"min_length": length, "lockout_threshold": threshold}
    with_lockout = threshold is not None and threshold <= rules.max_lockout_threshold
    if length >= rules.min_password_length or (
        with_lockout and length >= rules.min_password_length_with_lockout
    ):
        return passed(observed, f"Les mots de passe comptent au moins {length} caractères.")
    return failed(
        observed,
        "Aucune longueur minimale de mot de passe conforme à la recommandation CNIL n'est imposée.",
        "Faites appliquer par votre prestataire un profil de configuration (MDM) ou « pwpolicy » "
        f"exigeant {rules.min_password_length} caractères.",
    )


def lockout_policy(probe: Probe) -> Verdict:
    """The account policy locks after at most the policy's number of failures."""
    _, threshold = account_policies(probe)
    observed = {"lockout_threshold": threshold}
    remedy = "Faites fixer « policyAttributeFailedAuthentications » (≤ 10) par votre prestataire."
    if threshold is None:
        return failed(observed, "Aucun blocage après des mots de passe erronés.", remedy)
    if threshold > probe.policy.max_lockout_threshold:
        return failed(observed, f"Blocage seulement après {threshold} essais.", remedy)
    return passed(observed, f"Le compte est bloqué après {threshold} essais manqués.")


def remote_access(probe: Probe) -> Verdict:
    """No remote-access tool or Screen Sharing is reachable without the user."""
    if not probe.path("/Applications").is_dir():
        return not_checked(None, "Dossier /Applications introuvable : inventaire impossible.")
    installed = [
        name
        for name, (app, _) in REMOTE_APPS.items()
        if probe.path(f"/Applications/{app}").exists()
    ]
    unattended = [
        name
        for name, (_, daemon) in REMOTE_APPS.items()
        if probe.path(f"/Library/LaunchDaemons/{daemon}").exists()
    ]
    disabled = probe.run("launchctl", "print-disabled", "system").stdout
    if "disabled services" not in disabled:
        raise OutputNotUnderstood("launchctl print-disabled : réponse inconnue")
    if re.search(r'"com\.apple\.screensharing" => (enabled|false)', disabled):
        unattended.append("Partage d'écran")
    observed = {"installed": installed, "unattended_services": unattended}
    if unattended:
        return failed(
            observed,
            f"Prise en main possible sans personne devant l'écran : {', '.join(unattended)}.",
            "Désinstallez l'outil ou désactivez son accès permanent, et coupez le Partage d'écran "
            "(Réglages Système → Général → Partage) s'il ne sert pas.",
        )
    if installed:
        return passed(observed, f"Installé(s) : {', '.join(installed)}, sans accès permanent.")
    return passed(observed, "Aucun outil de prise en main à distance trouvé.")


def wifi_security(probe: Probe) -> Verdict:
    """The Wi-Fi network in use is protected by WPA2 or WPA3."""
    result = probe.run("system_profiler", "SPAirPortDataType", "-json", timeout=30)
    try:
        data = json.loads(result.stdout)["SPAirPortDataType"]
        interfaces = [i for entry in data for i in entry.get("spairport_airport_interfaces", [])]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise OutputNotUnderstood("system_profiler SPAirPortDataType illisible") from error
    if not interfaces:
        return not_applicable(None, "Pas de Wi-Fi sur ce Mac.")
    for interface in interfaces:
        network = interface.get("spairport_current_network_information")
        if isinstance(network, dict):
            mode = str(network.get("spairport_security_mode", ""))
            if not mode.startswith("spairport_security_mode_"):
                return not_checked({"security": mode}, f"Mode de sécurité Wi-Fi inconnu : {mode}")
            readable = mode.removeprefix("spairport_security_mode_").replace("_", " ")
            return judge_wifi(str(network.get("_name", "?")), readable)
    return not_applicable(None, "Le Mac n'est connecté à aucun réseau Wi-Fi.")
