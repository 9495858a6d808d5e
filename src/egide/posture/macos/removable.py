"""macOS removable drives: external disks must hold only encrypted APFS volumes."""

from __future__ import annotations

import plistlib
from typing import Any

from ..check import Verdict, failed, not_applicable, not_checked, passed
from ..errors import OutputNotUnderstood
from ..probe import Probe

# Partition contents that hold no user data.
HOUSEKEEPING = frozenset({"EFI", "Apple_Boot", "Microsoft Reserved", "Apple_APFS_Recovery"})


def diskutil_plist(probe: Probe, *args: str) -> dict[str, Any]:
    result = probe.run("diskutil", *args, "-plist")
    try:
        data = plistlib.loads(result.stdout.encode("utf-8"))
    except (plistlib.InvalidFileException, ValueError) as error:
        raise OutputNotUnderstood(f"diskutil {' '.join(args)} : plist illisible") from error
    if not isinstance(data, dict):
        raise OutputNotUnderstood(f"diskutil {' '.join(args)} : réponse inattendue")
    return data


def apfs_encryption(probe: Probe) -> dict[str, bool]:
    """Physical store → whether every volume of its APFS container is encrypted."""
    containers = diskutil_plist(probe, "apfs", "list").get("Containers")
    if not isinstance(containers, list):
        raise OutputNotUnderstood("diskutil apfs list : conteneurs absents")
    stores: dict[str, bool] = {}
    for container in containers:
        volumes = container.get("Volumes") or []
        encrypted = bool(volumes) and all(
            v.get("Encryption") is True or v.get("FileVault") is True for v in volumes
        )
        for store in container.get("PhysicalStores") or []:
            stores[str(store.get("DeviceIdentifier"))] = encrypted
    return stores


def removable_disk_encryption(probe: Probe) -> Verdict:
    """Every external disk plugged in holds only encrypted APFS volumes."""
    listing = diskutil_plist(probe, "list", "external", "physical")
    disks = listing.get("AllDisksAndPartitions")
    if not isinstance(disks, list):
        raise OutputNotUnderstood("diskutil list : AllDisksAndPartitions absent")
    if not disks:
        return not_applicable({"encrypted": [], "unencrypted": []}, "Aucun disque externe branché.")
    stores: dict[str, bool] | None = None
    plain: list[str] = []
    encrypted: list[str] = []
    unknown: list[str] = []
    for disk in disks:
        for part in disk.get("Partitions") or [disk]:
            content = str(part.get("Content", ""))
            name = f"{part.get('DeviceIdentifier')} ({part.get('VolumeName') or content})"
            if content in HOUSEKEEPING or not content:
                continue
            if content == "Apple_APFS":
                stores = apfs_encryption(probe) if stores is None else stores
                known = stores.get(str(part.get("DeviceIdentifier")))
                (unknown if known is None else encrypted if known else plain).append(name)
            elif content == "Apple_CoreStorage":
                unknown.append(name)
            else:
                plain.append(name)
    observed = {"encrypted": encrypted, "unencrypted": plain, "unknown": unknown}
    if plain:
        return failed(
            observed,
            f"Disque(s) externe(s) non chiffré(s) : {', '.join(plain)}.",
            "Dans Utilitaire de disque, effacez le disque au format « APFS (chiffré) » après "
            "avoir copié son contenu, ou chiffrez-le depuis le Finder (clic droit → Chiffrer).",
        )
    if unknown:
        return not_checked(observed, f"Chiffrement non déterminé : {', '.join(unknown)}.")
    if not encrypted:
        return not_applicable(observed, "Aucun volume de données sur les disques externes.")
    return passed(observed, "Les disques externes branchés sont chiffrés.")
