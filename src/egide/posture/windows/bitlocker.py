"""Windows disk encryption: BitLocker on the system drive and on removable drives."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..check import Verdict, failed, not_applicable, not_checked, passed
from ..errors import CommandDenied, CommandError, OutputNotUnderstood
from ..probe import Probe, refuse_if_denied
from .console import colon_fields, fold
from .powershell import run_json


@dataclass(frozen=True)
class Volume:
    mount: str
    kind: str  # OperatingSystem, FixedData, RemovableData, or Unknown (manage-bde)
    protected: bool
    percent: float | None


def from_powershell(probe: Probe) -> list[Volume]:
    volumes = []
    for item in run_json(probe, "bitlocker"):
        status = item.get("ProtectionStatus")
        if status not in {"On", "Off", "Unknown"}:
            raise OutputNotUnderstood(f"Get-BitLockerVolume : état « {status} » inconnu")
        percent = item.get("EncryptionPercentage")
        volumes.append(
            Volume(
                mount=str(item.get("MountPoint")),
                kind=str(item.get("VolumeType")),
                protected=status == "On",
                percent=float(percent) if isinstance(percent, int | float) else None,
            )
        )
    return volumes


PROTECTION_LABELS = ("protection status", "etat de la protection")
PERCENT_LABELS = ("percentage encrypted", "pourcentage chiffre")
ON_WORDS = ("protection on", "protection activee")
OFF_WORDS = ("protection off", "protection desactivee")
OS_WORDS = ("[os volume]", "[volume du systeme d'exploitation]")


def manage_bde(text: str) -> list[Volume]:
    """Volumes from `manage-bde -status` in English or French."""
    volumes = []
    for block in re.split(r"\n(?=Volume [A-Z]:)", text)[1:]:
        mount = block[7:9]
        head = fold("\n".join(block.splitlines()[:3]))
        kind = "OperatingSystem" if any(w in head for w in OS_WORDS) else "Unknown"
        fields = dict(colon_fields(block))
        status = next((fold(fields[k]) for k in PROTECTION_LABELS if k in fields), None)
        if status is None or not status.startswith(ON_WORDS + OFF_WORDS):
            raise OutputNotUnderstood(f"manage-bde : état de protection « {status} » inconnu")
        raw = next((fields[k] for k in PERCENT_LABELS if k in fields), "")
        number = re.search(r"[\d]+(?:[.,]\d+)?", raw)
        volumes.append(
            Volume(
                mount=mount,
                kind=kind,
                protected=status.startswith(ON_WORDS),
                percent=float(number.group().replace(",", ".")) if number else None,
            )
        )
    if not volumes:
        raise OutputNotUnderstood("manage-bde : aucun volume reconnu (langue ?)")
    return volumes


def volumes(probe: Probe) -> list[Volume]:
    """BitLocker volumes from PowerShell, else from manage-bde (Windows editions lacking it)."""
    try:
        return from_powershell(probe)
    except CommandDenied:
        raise
    except (CommandError, OutputNotUnderstood):
        result = probe.run("manage-bde", "-status")
        refuse_if_denied(result, "0x80070005", "ressource requise a été refusée")
        return manage_bde(result.stdout)


def describe(found: list[Volume]) -> list[dict[str, object]]:
    return [
        {"volume": v.mount, "type": v.kind, "protected": v.protected, "percent": v.percent}
        for v in found
    ]


def system_disk_encryption(probe: Probe) -> Verdict:
    """The Windows system drive is protected by BitLocker."""
    found = volumes(probe)
    system = [v for v in found if v.kind == "OperatingSystem"]
    if not system:
        raise OutputNotUnderstood("volume système introuvable dans la réponse BitLocker")
    if all(v.protected for v in system):
        return passed(describe(system), "Le disque système est chiffré par BitLocker.")
    return failed(
        describe(system),
        "Le disque système n'est pas protégé par BitLocker : en cas de vol, les données sont "
        "lisibles.",
        "Panneau de configuration → Chiffrement de lecteur BitLocker → « Activer BitLocker » "
        "(sur Windows Famille : Paramètres → Confidentialité → Chiffrement de l'appareil) ; "
        "conservez la clé de récupération en lieu sûr.",
    )


def removable_disk_encryption(probe: Probe) -> Verdict:
    """Every removable drive plugged in is protected by BitLocker To Go."""
    found = volumes(probe)
    if any(v.kind == "Unknown" for v in found):
        return not_checked(
            describe(found), "Le type des lecteurs (amovible ou fixe) n'a pas pu être lu."
        )
    removable = [v for v in found if v.kind == "RemovableData"]
    if not removable:
        return not_applicable(describe(found), "Aucun support amovible branché.")
    plain = [v.mount for v in removable if not v.protected]
    if plain:
        return failed(
            describe(removable),
            f"Support(s) amovible(s) non chiffré(s) : {', '.join(plain)}.",
            "Clic droit sur le lecteur → « Activer BitLocker » (BitLocker To Go).",
        )
    return passed(describe(removable), "Les supports amovibles branchés sont chiffrés.")
