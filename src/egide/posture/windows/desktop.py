"""Windows session: automatic lock, and remote-access tools reachable without the user."""

from __future__ import annotations

from ..check import Verdict, failed, passed
from ..errors import OutputNotUnderstood
from ..probe import Probe
from .powershell import run_json


def number(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError as error:
        raise OutputNotUnderstood(f"valeur de registre « {value} » inattendue") from error


def screen_lock(probe: Probe) -> Verdict:
    """The session locks after at most 10 minutes (inactivity limit or secure screen saver)."""
    items = run_json(probe, "screen_lock")
    if len(items) != 1:
        raise OutputNotUnderstood("réglages de verrouillage absents")
    values = items[0]
    limit = probe.policy.max_lock_seconds
    inactivity = number(values.get("InactivityTimeoutSecs"))

    def setting(name: str) -> int | None:
        # Group Policy values win over the user's own.
        policy = number(values.get(f"Policy{name}"))
        return policy if policy is not None else number(values.get(name))

    saver = {
        "active": setting("ScreenSaveActive") == 1,
        "secure": setting("ScreenSaverIsSecure") == 1,
        "timeout": setting("ScreenSaveTimeOut"),
    }
    observed = {"inactivity_timeout": inactivity, "screen_saver": saver}
    candidates = []
    if inactivity:
        candidates.append(inactivity)
    if saver["active"] and saver["secure"] and saver["timeout"]:
        candidates.append(int(str(saver["timeout"])))
    if candidates and min(candidates) <= limit:
        after = min(candidates)
        return passed(observed, f"La session se verrouille après {after // 60} minute(s).")
    return failed(
        observed,
        "La session ne se verrouille pas d'elle-même en 10 minutes ou moins.",
        "Paramètres → Personnalisation → Écran de verrouillage → Écran de veille : délai de "
        "5 minutes et « À la reprise, afficher l'écran de connexion » coché (ou stratégie "
        "« Ouverture de session interactive : limite d'inactivité de l'ordinateur » = 600 s).",
    )


def remote_access(probe: Probe) -> Verdict:
    """No remote-access service (TeamViewer, AnyDesk, Remote Desktop…) starts by itself."""
    items = run_json(probe, "remote_tools")
    if len(items) != 1:
        raise OutputNotUnderstood("inventaire des outils à distance absent")
    found = items[0]
    installed = [str(name) for name in found.get("Installed") or []]
    services = found.get("Services") or []
    automatic = [
        str(s.get("Name"))
        for s in services
        if isinstance(s, dict) and str(s.get("StartType")).startswith("Automatic")
    ]
    rdp = number(found.get("RdpDenied"))
    if rdp == 0:
        automatic.append("Bureau à distance (RDP)")
    observed = {"installed": installed, "unattended_services": automatic}
    if automatic:
        return failed(
            observed,
            f"Prise en main possible sans personne devant l'écran : {', '.join(automatic)}.",
            "Désinstallez l'outil ou passez son service en démarrage manuel, et désactivez le "
            "Bureau à distance s'il ne sert pas : la télémaintenance doit être lancée par "
            "l'utilisateur pour chaque intervention.",
        )
    if installed:
        return passed(observed, f"Installé(s) : {', '.join(installed)}, sans accès permanent.")
    return passed(observed, "Aucun outil de prise en main à distance installé.")
