"""Windows accounts: local Administrators (any language) and `net accounts` password rules."""

from __future__ import annotations

import re

from ..check import Verdict, failed, passed
from ..errors import OutputNotUnderstood
from ..probe import Probe
from .console import localgroup_members, net_accounts

# The built-in Administrators group is S-1-5-32-544 everywhere; its name is translated.
ADMINISTRATORS_SID = "S-1-5-32-544"
GROUP_NAMES = ("Administrators", "Administrateurs")


def admin_members(probe: Probe) -> list[str]:
    for name in GROUP_NAMES:
        result = probe.run("net", "localgroup", name)
        if result.ok:
            return localgroup_members(result.stdout)
    raise OutputNotUnderstood("groupe Administrateurs introuvable (langue non prise en charge)")


def token_is_admin(probe: Probe) -> bool | None:
    """Whether the current process token belongs to Administrators (None if unreadable)."""
    result = probe.run("whoami", "/groups", "/fo", "csv", "/nh")
    sids = re.findall(r"S-1-(?:\d+-)+\d+", result.stdout)
    if not result.ok or not sids:
        return None
    return ADMINISTRATORS_SID in sids


def same_account(member: str, user: str) -> bool:
    return member.lower() == user.lower() or member.lower().endswith("\\" + user.lower())


def administrators(probe: Probe) -> Verdict:
    """The daily user is not in the local Administrators group; its members are listed."""
    members = admin_members(probe)
    current = probe.run("whoami").stdout.strip()
    in_group = any(same_account(m, probe.user) for m in members)
    if current and same_account(current, probe.user):
        in_token = token_is_admin(probe)
        in_group = in_group or bool(in_token)
    observed = {"daily_user": probe.user, "admin_accounts": members}
    if in_group:
        return failed(
            observed,
            f"Le compte du quotidien « {probe.user} » est administrateur du poste : un logiciel "
            "malveillant ouvert par erreur aurait tous les droits.",
            "Créez un compte administrateur séparé pour la maintenance, puis faites de "
            f"« {probe.user} » un utilisateur standard (Paramètres → Comptes → Autres "
            "utilisateurs → Modifier le type de compte).",
        )
    return passed(
        observed,
        f"« {probe.user} » n'est pas administrateur. Administrateurs : {', '.join(members)}.",
    )


def policy(probe: Probe) -> dict[str, int | None]:
    return net_accounts(probe.run("net", "accounts").stdout)


def password_policy(probe: Probe) -> Verdict:
    """Minimum password length meets the CNIL recommendation (12, or 8 with a lockout)."""
    values = policy(probe)
    length = values.get("min_length") or 0
    threshold = values.get("lockout_threshold")
    rules = probe.policy
    with_lockout = threshold is not None and 0 < threshold <= rules.max_lockout_threshold
    if length >= rules.min_password_length or (
        with_lockout and length >= rules.min_password_length_with_lockout
    ):
        return passed(values, f"Les mots de passe comptent au moins {length} caractères.")
    return failed(
        values,
        f"Longueur minimale des mots de passe : {length} caractère(s) ; la CNIL recommande "
        f"{rules.min_password_length} (ou {rules.min_password_length_with_lockout} avec blocage).",
        f"En administrateur : « net accounts /minpwlen:{rules.min_password_length} » (ou "
        "Stratégie de sécurité locale → Stratégies de comptes).",
    )


def lockout_policy(probe: Probe) -> Verdict:
    """Accounts lock after at most the policy's number of failed attempts."""
    values = policy(probe)
    threshold = values.get("lockout_threshold")
    remedy = "En administrateur : « net accounts /lockoutthreshold:5 /lockoutduration:15 »."
    if not threshold:
        return failed(values, "Aucun blocage après des mots de passe erronés.", remedy)
    if threshold > probe.policy.max_lockout_threshold:
        return failed(values, f"Blocage seulement après {threshold} essais.", remedy)
    return passed(values, f"Le compte est bloqué après {threshold} essais manqués.")
