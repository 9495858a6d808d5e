"""Linux accounts: administrators (sudo, wheel, admin, uid 0) and the PAM password rules."""

from __future__ import annotations

import re

from ..check import Verdict, failed, not_checked, passed
from ..errors import OutputNotUnderstood
from ..probe import Probe

ADMIN_GROUPS = ("sudo", "wheel", "admin")
GROUP_NAME = re.compile(r"[A-Za-z0-9_][\w.@$-]*")
PASSWORD_STACKS = ("/etc/pam.d/common-password", "/etc/pam.d/system-auth", "/etc/pam.d/passwd")
AUTH_STACKS = ("/etc/pam.d/common-auth", "/etc/pam.d/system-auth", "/etc/pam.d/login")
# Minimum lengths the PAM modules apply when not told otherwise (their manual pages).
DEFAULT_MINLEN = {"pam_pwquality.so": 8, "pam_cracklib.so": 9, "pam_unix.so": 6}


def root_accounts(probe: Probe) -> list[str]:
    text = probe.read("/etc/passwd") or ""
    return [
        f[0] for f in (line.split(":") for line in text.splitlines()) if len(f) > 3 and f[2] == "0"
    ]


def administrators(probe: Probe) -> Verdict:
    """The daily user is not an administrator; every administrator account is listed."""
    result = probe.run("getent", "group", *ADMIN_GROUPS)
    admins: set[str] = set(root_accounts(probe))
    groups_found = []
    for line in result.stdout.splitlines():
        fields = line.split(":")
        if len(fields) != 4:
            raise OutputNotUnderstood(f"getent group a répondu « {line[:60]} »")
        groups_found.append(fields[0])
        admins.update(m for m in fields[3].split(",") if m)
    ids = probe.run("id", "-Gn", probe.user)
    if not ids.ok:
        return not_checked(None, f"Le compte « {probe.user} » est inconnu de ce poste.")
    user_groups = ids.stdout.split()
    # Every account has at least its primary group: an empty or odd answer proves nothing.
    if not user_groups or not all(GROUP_NAME.fullmatch(g) for g in user_groups):
        raise OutputNotUnderstood(f"id -Gn a répondu « {ids.stdout.strip()[:60]} »")
    observed = {
        "daily_user": probe.user,
        "daily_user_groups": user_groups,
        "admin_groups": groups_found,
        "admin_accounts": sorted(admins),
    }
    is_admin = probe.user in admins or bool(set(user_groups) & set(ADMIN_GROUPS))
    if probe.user == "root" or probe.user in root_accounts(probe):
        is_admin = True
    if is_admin:
        return failed(
            observed,
            f"Le compte du quotidien « {probe.user} » a les droits d'administrateur : un "
            "logiciel malveillant ouvert par erreur pourrait prendre le contrôle du poste.",
            "Créez un compte administrateur séparé, réservé à la maintenance, et retirez le "
            f"compte « {probe.user} » des groupes sudo/wheel (« sudo deluser "
            f"{probe.user} sudo »).",
        )
    return passed(
        observed,
        f"Le compte « {probe.user} » n'est pas administrateur. Administrateurs : "
        f"{', '.join(sorted(admins)) or 'aucun'}.",
    )


def pam_lines(probe: Probe, stacks: tuple[str, ...], kind: str) -> tuple[str, list[list[str]]]:
    """The first PAM stack file found, and its lines of the given type, split in words."""
    for stack in stacks:
        text = probe.read(stack)
        if text is None:
            continue
        lines = []
        for raw in text.splitlines():
            words = raw.split("#")[0].split()
            if len(words) >= 3 and words[0].lstrip("-") == kind:
                # Controls like "[success=1 default=ignore]" are one word for PAM, several here.
                if words[1].startswith("["):
                    end = next((i for i, w in enumerate(words) if w.endswith("]")), None)
                    if end is None:
                        raise OutputNotUnderstood(f"{stack} : ligne PAM mal formée")
                    words = [words[0], " ".join(words[1 : end + 1]), *words[end + 1 :]]
                lines.append(words)
        return stack, lines
    raise OutputNotUnderstood("aucune pile PAM trouvée (/etc/pam.d)")


def module_options(words: list[str]) -> dict[str, str]:
    options = {}
    for word in words[3:]:
        key, _, value = word.partition("=")
        options[key] = value if _ else ""
    return options


def conf_value(probe: Probe, path: str, key: str) -> str | None:
    """A `key = value` setting from a file such as pwquality.conf or faillock.conf."""
    text = probe.read(path) or ""
    found = None
    for match in re.finditer(rf"^\s*{key}\s*=\s*(\S+)", text, re.MULTILINE):
        found = match.group(1)
    return found


def minimum_length(probe: Probe) -> tuple[str, int, list[str]]:
    stack, lines = pam_lines(probe, PASSWORD_STACKS, "password")
    lengths: list[int] = []
    modules = []
    for words in lines:
        module = words[2].rsplit("/", 1)[-1]
        options = module_options(words)
        if module in DEFAULT_MINLEN:
            modules.append(module)
            value = options.get("minlen")
            if value is None and module == "pam_pwquality.so":
                value = conf_value(probe, "/etc/security/pwquality.conf", "minlen")
            lengths.append(int(value) if value and value.isdigit() else DEFAULT_MINLEN[module])
    if not lengths:
        raise OutputNotUnderstood(f"aucun module de mot de passe reconnu dans {stack}")
    return stack, max(lengths), modules


def lockout_threshold(probe: Probe) -> tuple[str, int | None]:
    """Failed attempts before the account locks (pam_faillock, pam_tally2), None if never."""
    stack, lines = pam_lines(probe, AUTH_STACKS, "auth")
    for words in lines:
        module = words[2].rsplit("/", 1)[-1]
        options = module_options(words)
        if module in {"pam_faillock.so", "pam_tally2.so"}:
            deny = options.get("deny")
            if deny is None and module == "pam_faillock.so":
                deny = conf_value(probe, "/etc/security/faillock.conf", "deny") or "3"
            if deny is not None and deny.isdigit() and int(deny) > 0:
                return stack, int(deny)
    return stack, None


def password_policy(probe: Probe) -> Verdict:
    """Minimum password length meets the CNIL recommendation (12, or 8 with a lockout)."""
    stack, length, modules = minimum_length(probe)
    _, threshold = lockout_threshold(probe)
    policy = probe.policy
    observed = {"pam_stack": stack, "modules": modules, "min_length": length, "lockout": threshold}
    with_lockout = threshold is not None and threshold <= policy.max_lockout_threshold
    if length >= policy.min_password_length or (
        with_lockout and length >= policy.min_password_length_with_lockout
    ):
        return passed(observed, f"Les mots de passe comptent au moins {length} caractères.")
    return failed(
        observed,
        f"Un mot de passe de {length} caractères est accepté : la CNIL recommande au moins "
        f"{policy.min_password_length} caractères (ou {policy.min_password_length_with_lockout} "
        "avec blocage après des essais manqués).",
        f"Installez libpam-pwquality et mettez « minlen = {policy.min_password_length} » dans "
        "/etc/security/pwquality.conf.",
    )


def lockout_policy(probe: Probe) -> Verdict:
    """Logins lock after at most the policy's number of failed attempts."""
    stack, threshold = lockout_threshold(probe)
    observed = {"pam_stack": stack, "threshold": threshold}
    limit = probe.policy.max_lockout_threshold
    remedy = (
        "Activez pam_faillock (« deny = 5 », « unlock_time = 900 » dans "
        "/etc/security/faillock.conf ; sur Debian, ajoutez-le à /etc/pam.d/common-auth)."
    )
    if threshold is None:
        return failed(observed, "Aucun blocage après des mots de passe erronés.", remedy)
    if threshold > limit:
        return failed(observed, f"Blocage seulement après {threshold} essais.", remedy)
    return passed(observed, f"Le compte est bloqué après {threshold} essais manqués.")
