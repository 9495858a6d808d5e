"""Windows Wi-Fi: `netsh wlan show interfaces` in English or French."""

from __future__ import annotations

from ..check import Verdict, not_applicable
from ..errors import OutputNotUnderstood
from ..probe import Probe
from ..wifi import judge_wifi
from .console import colon_fields, fold

NO_INTERFACE = (
    "there is no wireless interface on the system",
    "il n'existe aucune interface sans fil sur le systeme",
    "wireless autoconfig service (wlansvc) is not running",
    "service de configuration automatique wlan (wlansvc) n'est pas en cours d'execution",
)
STATE = ("state", "etat")
CONNECTED = ("connected", "connecte")
DISCONNECTED = ("disconnected", "deconnecte", "deconnexion", "disconnecting", "associating")
AUTHENTICATION = ("authentication", "authentification")


def wifi_security(probe: Probe) -> Verdict:
    """The Wi-Fi network in use is protected by WPA2 or WPA3."""
    result = probe.run("netsh", "wlan", "show", "interfaces")
    text = fold(result.stdout + " " + result.stderr)
    if any(sentence in text for sentence in NO_INTERFACE):
        return not_applicable(None, "Pas de Wi-Fi sur ce poste (ou service Wi-Fi arrêté).")
    fields = colon_fields(result.stdout)
    states = [fold(v) for k, v in fields if k in STATE]
    if not states:
        raise OutputNotUnderstood("netsh wlan : libellés inconnus (langue non prise en charge)")
    if not any(s in CONNECTED for s in states):
        if all(s in DISCONNECTED for s in states):
            return not_applicable(None, "Le poste n'est connecté à aucun réseau Wi-Fi.")
        raise OutputNotUnderstood(f"netsh wlan : état « {states[0]} » inconnu")
    ssid = next((v for k, v in fields if k == "ssid"), "?")
    security = next((v for k, v in fields if k in AUTHENTICATION), None)
    if security is None:
        raise OutputNotUnderstood("netsh wlan : type d'authentification absent")
    return judge_wifi(ssid, security)
