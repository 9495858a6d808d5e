"""Windows Defender Firewall: every profile (domain, private, public) enabled."""

from __future__ import annotations

from ..check import Verdict, failed, passed
from ..errors import CommandError, OutputNotUnderstood
from ..probe import Probe
from .console import advfirewall_states
from .powershell import run_json

PROFILE_FR = {"Domain": "domaine", "Private": "privé", "Public": "public"}


def profile_states(probe: Probe) -> dict[str, bool]:
    try:
        items = run_json(probe, "firewall_profiles")
    except (CommandError, OutputNotUnderstood):
        result = probe.run("netsh", "advfirewall", "show", "allprofiles", "state")
        return advfirewall_states(result.stdout)
    states = {}
    for item in items:
        enabled = item.get("Enabled")
        if enabled not in {"True", "False"}:
            raise OutputNotUnderstood(f"Get-NetFirewallProfile : « {enabled} »")
        states[str(item.get("Name"))] = enabled == "True"
    if not states:
        raise OutputNotUnderstood("Get-NetFirewallProfile : aucun profil")
    return states


def firewall(probe: Probe) -> Verdict:
    """The firewall is on for every network profile."""
    states = profile_states(probe)
    off = [PROFILE_FR.get(name, name) for name, on in states.items() if not on]
    if off:
        return failed(
            states,
            f"Pare-feu Windows désactivé pour le profil {', '.join(off)}.",
            "Sécurité Windows → Pare-feu et protection du réseau : activez le pare-feu pour "
            "chaque réseau (domaine, privé, public).",
        )
    return passed(states, "Le pare-feu Windows est actif sur tous les profils réseau.")
