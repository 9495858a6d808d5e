"""Linux firewall: ufw, firewalld, nftables or iptables filtering incoming traffic."""

from __future__ import annotations

import re

from ..check import Verdict, failed, not_checked, passed
from ..errors import CommandDenied, CommandNotFound
from ..probe import Probe, refuse_if_denied

REMEDY = (
    "Activez le pare-feu : « sudo ufw enable » (Debian, Ubuntu) ou « sudo systemctl enable --now "
    "firewalld » (Fedora, Red Hat)."
)


def ufw_state(probe: Probe) -> bool | None:
    """ufw's state: from `ufw status` as root, else from /etc/ufw/ufw.conf; None if absent."""
    try:
        result = probe.run("ufw", "status")
        refuse_if_denied(result, "you need to be root")
        if "Status: active" in result.stdout:
            return True
        if "Status: inactive" in result.stdout:
            return False
    except (CommandNotFound, CommandDenied):
        pass
    conf = probe.read("/etc/ufw/ufw.conf")
    if conf is None:
        return None
    match = re.search(r"^\s*ENABLED\s*=\s*(\w+)", conf, re.MULTILINE)
    return match is not None and match.group(1).lower() == "yes"


def firewalld_state(probe: Probe) -> bool | None:
    try:
        result = probe.run("firewall-cmd", "--state")
    except CommandNotFound:
        return None
    state = result.stdout.strip() or result.stderr.strip()
    if state == "running":
        return True
    if state == "not running":
        return False
    return None


def filters_input(ruleset: str) -> bool:
    """Whether an nftables ruleset has an input chain that drops or rejects something."""
    for chain in re.findall(r"chain \S+ \{(.*?)\n\s*\}", ruleset, re.DOTALL):
        if "hook input" in chain and re.search(r"policy drop|\bdrop\b|\breject\b", chain):
            return True
    return False


def nftables_state(probe: Probe) -> bool | None:
    try:
        result = probe.run("nft", "list", "ruleset")
        refuse_if_denied(result)
    except (CommandNotFound, CommandDenied):
        return None
    return filters_input(result.stdout) if result.ok else None


def iptables_state(probe: Probe) -> bool | None:
    try:
        result = probe.run("iptables", "-S", "INPUT")
        refuse_if_denied(result)
    except (CommandNotFound, CommandDenied):
        return None
    if not result.ok or "-P INPUT" not in result.stdout:
        return None
    return bool(re.search(r"-P INPUT DROP|-j (DROP|REJECT)", result.stdout))


def firewall(probe: Probe) -> Verdict:
    """At least one firewall filters incoming connections."""
    states = {
        "ufw": ufw_state(probe),
        "firewalld": firewalld_state(probe),
        "nftables": nftables_state(probe),
        "iptables": iptables_state(probe),
    }
    observed = {name: state for name, state in states.items() if state is not None}
    active = [name for name, state in states.items() if state]
    if active:
        return passed(observed, f"Pare-feu actif : {', '.join(active)}.")
    if not observed:
        installed = any(
            probe.path(p).exists() for p in ("/usr/sbin/nft", "/usr/sbin/iptables", "/sbin/nft")
        )
        if installed:
            return not_checked(
                observed,
                "Les règles du pare-feu ne sont lisibles qu'avec les droits root.",
                "Relancez la vérification avec sudo.",
            )
        return failed(observed, "Aucun pare-feu trouvé (ufw, firewalld, nftables).", REMEDY)
    return failed(observed, "Le pare-feu est installé mais désactivé.", REMEDY)
