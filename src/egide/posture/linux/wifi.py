"""Linux Wi-Fi: the security of the network NetworkManager is connected to."""

from __future__ import annotations

import re

from ..check import Verdict, not_applicable, not_checked
from ..errors import OutputNotUnderstood
from ..probe import Probe
from ..wifi import judge_wifi

UNESCAPED_COLON = re.compile(r"(?<!\\):")


def wireless_interfaces(probe: Probe) -> list[str] | None:
    """Wireless network interfaces, or None when the interface list cannot be read."""
    try:
        return sorted(
            p.name for p in probe.path("/sys/class/net").iterdir() if (p / "wireless").exists()
        )
    except OSError:
        return None


def wifi_security(probe: Probe) -> Verdict:
    """The Wi-Fi network in use is protected by WPA2 or WPA3."""
    interfaces = wireless_interfaces(probe)
    if interfaces is None:
        return not_checked(None, "Impossible de lister les interfaces réseau (/sys/class/net).")
    if not interfaces:
        return not_applicable(None, "Pas de carte Wi-Fi : le poste est relié par câble.")
    result = probe.run(
        "nmcli", "-t", "-f", "ACTIVE,SSID,SECURITY", "device", "wifi", "list", "--rescan", "no"
    )
    if not result.ok:
        raise OutputNotUnderstood("nmcli : " + (result.stderr.strip() or "échec")[:80])
    for line in result.stdout.splitlines():
        fields = UNESCAPED_COLON.split(line)
        if len(fields) != 3:
            raise OutputNotUnderstood(f"nmcli a répondu « {line[:60]} »")
        active, ssid, security = (f.replace("\\:", ":") for f in fields)
        if active not in {"yes", "no", "oui", "non"}:
            raise OutputNotUnderstood(f"nmcli : état « {active} » inconnu")
        if active in {"yes", "oui"}:
            return judge_wifi(ssid, security)
    return not_applicable(None, "Le poste n'est connecté à aucun réseau Wi-Fi.")
