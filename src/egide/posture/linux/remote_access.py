"""Linux remote-access tools: which are installed, and whether they start without anyone there."""

from __future__ import annotations

from ..check import Verdict, failed, not_checked, passed
from ..probe import Probe
from .system import active_units, enabled_units, installed_packages

# package -> systemd unit that keeps it reachable with nobody in front of the screen.
TOOLS: dict[str, str] = {
    "anydesk": "anydesk.service",
    "teamviewer": "teamviewerd.service",
    "teamviewer-host": "teamviewerd.service",
    "rustdesk": "rustdesk.service",
    "xrdp": "xrdp.service",
    "x11vnc": "x11vnc.service",
    "tigervnc-standalone-server": "vncserver@:1.service",
    "realvnc-vnc-server": "vncserver-x11-serviced.service",
    "nomachine": "nxserver.service",
    "chrome-remote-desktop": "chrome-remote-desktop.service",
}

REMEDY = (
    "Désactivez le démarrage automatique de l'outil (« sudo systemctl disable --now "
    "<service> ») ou désinstallez-le : la télémaintenance doit être lancée par l'utilisateur, "
    "devant l'écran, pour chaque intervention."
)


def remote_access(probe: Probe) -> Verdict:
    """No remote-access tool can be reached while nobody is in front of the screen."""
    installed = installed_packages(probe, tuple(TOOLS))
    if installed is None:
        return not_checked(None, "Ni dpkg ni rpm : impossible de lister les logiciels installés.")
    if not installed:
        return passed({"installed": []}, "Aucun outil de prise en main à distance installé.")
    units = tuple(sorted({TOOLS[name] for name in installed}))
    enabled = enabled_units(probe, *units)
    active = active_units(probe, *units)
    observed: dict[str, object] = {"installed": sorted(installed)}
    if enabled is None and active is None:
        return not_checked(
            observed,
            f"Installé(s) : {', '.join(sorted(installed))} ; impossible de savoir s'ils "
            "démarrent avec l'ordinateur (systemd ne répond pas).",
        )
    unattended = sorted(u for u in units if (enabled or {}).get(u) or (active or {}).get(u))
    observed["unattended_services"] = unattended
    if unattended:
        return failed(
            observed,
            f"Prise en main possible sans personne devant l'écran : {', '.join(unattended)} "
            "démarre avec l'ordinateur.",
            REMEDY,
        )
    return passed(
        observed,
        f"Installé(s) : {', '.join(sorted(installed))}, mais aucun ne démarre sans l'utilisateur.",
    )
