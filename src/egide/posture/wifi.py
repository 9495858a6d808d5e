"""Judging the security of a Wi-Fi network from what each system calls it."""

from __future__ import annotations

import re

from .check import Verdict, failed, not_checked, passed

OPEN_WORDS = frozenset({"", "--", "open", "none", "aucune", "aucun", "ouvert", "ouverte", "ouvrir"})
REMEDY = (
    "Demandez à votre prestataire de passer la box ou la borne en WPA2 ou WPA3 avec un mot de "
    "passe long, et de créer un réseau invités séparé pour les patients."
)


def strength(security: str) -> str | None:
    """`strong` (WPA2/WPA3/OWE), `weak` (WEP, WPA1), `open`, or None when not recognised."""
    text = security.strip().lower()
    if text in OPEN_WORDS:
        return "open"
    if re.search(r"wpa2|wpa3|sae|owe|rsn|wpa-?2|wpa-?3", text):
        return "strong"
    if "wep" in text or re.search(
        r"\bwpa1?\b|wpa[- ]?(personal|personnel|enterprise|entreprise)", text
    ):
        return "weak"
    return None


def judge_wifi(network: str, security: str) -> Verdict:
    observed = {"ssid": network, "security": security}
    verdict = strength(security)
    if verdict == "strong":
        return passed(observed, f"Le réseau Wi-Fi « {network} » est chiffré ({security}).")
    if verdict == "open":
        return failed(
            observed, f"Le réseau Wi-Fi « {network} » n'est pas chiffré (réseau ouvert).", REMEDY
        )
    if verdict == "weak":
        return failed(
            observed,
            f"Le réseau Wi-Fi « {network} » utilise un chiffrement dépassé ({security}).",
            REMEDY,
        )
    return not_checked(observed, f"Type de sécurité Wi-Fi non reconnu : « {security} ».")
