"""Parsers for the Windows console tools that answer in the system's language (English, French).

Labels are matched after folding case, accents and apostrophes, so « État », « Etat » and
« ÉTAT » read the same; anything else is `OutputNotUnderstood`.
"""

from __future__ import annotations

import re
import unicodedata

from ..errors import OutputNotUnderstood

COMPLETED = ("the command completed successfully", "la commande s'est terminee correctement")


def fold(text: str) -> str:
    """Lower case, no accents, straight apostrophes, single spaces."""
    text = unicodedata.normalize("NFKD", text.replace("’", "'").replace("\u00a0", " "))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", text).strip().lower()


def require_completion(text: str, tool: str) -> None:
    """`net` ends with a sentence in the system's language; unknown means not understood."""
    if not any(fold(text).endswith(sentence + ".") for sentence in COMPLETED):
        last = text.strip().splitlines()[-1] if text.strip() else ""
        raise OutputNotUnderstood(f"{tool} : fin de réponse inconnue « {last[:60]} »")


def colon_fields(text: str) -> list[tuple[str, str]]:
    """`Label    : value` lines (netsh wlan, manage-bde, net accounts), folded labels."""
    fields = []
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        if sep and label.strip():
            fields.append((fold(label).rstrip(" ?"), value.strip()))
    return fields


def localgroup_members(text: str) -> list[str]:
    """Members listed by `net localgroup <group>` between the dashes and the final sentence."""
    require_completion(text, "net localgroup")
    lines = [line.rstrip() for line in text.strip().splitlines()]
    try:
        start = next(i for i, line in enumerate(lines) if re.fullmatch(r"-{20,}", line.strip()))
    except StopIteration:
        raise OutputNotUnderstood("net localgroup : liste des membres introuvable") from None
    return [line.strip() for line in lines[start + 1 : -1] if line.strip()]


NET_ACCOUNTS_LABELS = {
    "min_length": ("minimum password length", "longueur minimale du mot de passe"),
    "lockout_threshold": ("lockout threshold", "seuil de verrouillage"),
    "lockout_minutes": ("lockout duration (minutes)", "duree de verrouillage (minutes)"),
}
NEVER = {"never", "none", "jamais", "aucun", "aucune"}


def net_accounts(text: str) -> dict[str, int | None]:
    """Minimum length and lockout settings from `net accounts` (None: never / none)."""
    require_completion(text, "net accounts")
    values: dict[str, int | None] = {}
    for label, value in colon_fields(text):
        for key, names in NET_ACCOUNTS_LABELS.items():
            if label in names:
                folded = fold(value)
                if folded in NEVER:
                    values[key] = None
                elif folded.isdigit():
                    values[key] = int(folded)
                else:
                    raise OutputNotUnderstood(f"net accounts : valeur « {value} » inconnue")
    if "min_length" not in values or "lockout_threshold" not in values:
        raise OutputNotUnderstood("net accounts : libellés inconnus (langue non prise en charge)")
    return values


PROFILE_NAMES = {
    "domain profile settings": "Domain",
    "private profile settings": "Private",
    "public profile settings": "Public",
    "parametres profil de domaine": "Domain",
    "parametres profil prive": "Private",
    "parametres profil public": "Public",
}
STATE_WORDS = {"on": True, "off": False, "actif": True, "inactif": False, "active": True}


def advfirewall_states(text: str) -> dict[str, bool]:
    """Profile → enabled from `netsh advfirewall show allprofiles state`."""
    states: dict[str, bool] = {}
    profile = None
    for line in text.splitlines():
        folded = fold(line).rstrip(" :")
        if folded in PROFILE_NAMES:
            profile = PROFILE_NAMES[folded]
            continue
        match = re.fullmatch(r"(state|etat)\s+(\S+)", folded)
        if match and profile is not None:
            if match.group(2) not in STATE_WORDS:
                raise OutputNotUnderstood(f"netsh : état « {match.group(2)} » inconnu")
            states[profile] = STATE_WORDS[match.group(2)]
            profile = None
    if set(states) != {"Domain", "Private", "Public"}:
        raise OutputNotUnderstood("netsh advfirewall : profils non reconnus (langue ?)")
    return states
