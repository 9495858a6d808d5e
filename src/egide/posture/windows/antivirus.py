"""Windows antivirus: Windows Security Center products, then Microsoft Defender's own status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..check import Verdict, failed, passed
from ..errors import CommandError, OutputNotUnderstood
from ..probe import Probe
from .powershell import run_json

# WSC productState bit fields (iwscapi.h WSC_SECURITY_PRODUCT_STATE and signature status).
STATE_MASK = 0xF000
STATE_ON = 0x1000
SIGNATURE_MASK = 0x00F0
SIGNATURE_OUT_OF_DATE = 0x0010

REMEDY_INSTALL = (
    "Activez Microsoft Defender (Sécurité Windows → Protection contre les virus et menaces) ou "
    "installez l'antivirus fourni par votre prestataire."
)
REMEDY_REALTIME = (
    "Sécurité Windows → Protection contre les virus et menaces → Gérer les paramètres : "
    "activez « Protection en temps réel »."
)
REMEDY_SIGNATURES = (
    "Sécurité Windows → Protection contre les virus et menaces → Mises à jour de la protection : "
    "« Rechercher des mises à jour » ; vérifiez la connexion Internet."
)


@dataclass(frozen=True)
class Product:
    name: str
    on: bool
    up_to_date: bool
    source: str


def security_center(probe: Probe) -> list[Product] | None:
    """Products registered with Windows Security Center (None on Windows Server or on error)."""
    try:
        items = run_json(probe, "security_center")
    except (CommandError, OutputNotUnderstood):
        return None
    products = []
    for item in items:
        state = item.get("productState")
        if not isinstance(state, int):
            raise OutputNotUnderstood("Security Center : productState absent")
        products.append(
            Product(
                name=str(item.get("displayName", "?")),
                on=(state & STATE_MASK) == STATE_ON,
                up_to_date=(state & SIGNATURE_MASK) != SIGNATURE_OUT_OF_DATE,
                source="security_center",
            )
        )
    return products


def defender(probe: Probe) -> dict[str, Any] | None:
    try:
        items = run_json(probe, "defender")
    except (CommandError, OutputNotUnderstood):
        return None
    return items[0] if items else None


def inventory(probe: Probe) -> tuple[list[Product], dict[str, Any] | None]:
    products = security_center(probe)
    status = defender(probe)
    if products is None and status is None:
        raise OutputNotUnderstood("ni le Centre de sécurité ni Defender n'ont répondu")
    products = products or []
    if status is not None and not any("defender" in p.name.lower() for p in products):
        age = status.get("AntivirusSignatureAge")
        products.append(
            Product(
                name="Microsoft Defender Antivirus",
                on=status.get("RealTimeProtectionEnabled") is True
                and status.get("AntivirusEnabled") is True,
                up_to_date=isinstance(age, int) and age <= probe.policy.max_signature_age.days,
                source="defender",
            )
        )
    return products, status


def describe(products: list[Product]) -> list[dict[str, object]]:
    return [{"name": p.name, "on": p.on, "up_to_date": p.up_to_date} for p in products]


def antivirus_present(probe: Probe) -> Verdict:
    """An antivirus is registered with Windows (Security Center or Defender)."""
    products, status = inventory(probe)
    installed = [p for p in products if p.source == "security_center"]
    if status is not None and status.get("AMServiceEnabled") is True:
        installed += [p for p in products if p.source == "defender"]
    if not installed:
        return failed(describe(products), "Aucun antivirus déclaré à Windows.", REMEDY_INSTALL)
    return passed(describe(installed), f"Antivirus : {', '.join(p.name for p in installed)}.")


def antivirus_realtime(probe: Probe) -> Verdict:
    """At least one antivirus has real-time protection on."""
    products, _ = inventory(probe)
    active = [p for p in products if p.on]
    if not active:
        return failed(
            describe(products), "Aucun antivirus ne protège en temps réel.", REMEDY_REALTIME
        )
    return passed(
        describe(active), f"Protection en temps réel : {', '.join(p.name for p in active)}."
    )


def antivirus_signatures(probe: Probe) -> Verdict:
    """Every active antivirus reports up-to-date signatures (Defender: age ≤ the policy)."""
    products, status = inventory(probe)
    active = [p for p in products if p.on]
    observed: dict[str, object] = {"products": describe(active or products)}
    if status is not None:
        observed["defender_signature_age_days"] = status.get("AntivirusSignatureAge")
        observed["defender_signature_updated"] = status.get("AntivirusSignatureLastUpdated")
    if not active:
        return failed(
            observed, "Aucun antivirus actif, donc pas de signatures à jour.", REMEDY_INSTALL
        )
    stale = [p.name for p in active if not p.up_to_date]
    if stale:
        return failed(
            observed, f"Signatures antivirus périmées : {', '.join(stale)}.", REMEDY_SIGNATURES
        )
    return passed(observed, "Les signatures de l'antivirus sont à jour.")
