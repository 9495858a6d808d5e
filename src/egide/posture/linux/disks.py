"""Linux disk encryption: LUKS (dm-crypt) under the root filesystem and on removable drives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..check import Verdict, failed, not_applicable, not_checked, passed
from ..errors import OutputNotUnderstood
from ..probe import Probe

ENCRYPTED_FSTYPES = frozenset({"crypto_luks", "bitlocker"})
LSBLK_COLUMNS = "NAME,TYPE,FSTYPE,MOUNTPOINT,RM,HOTPLUG,TRAN"


def block_devices(probe: Probe) -> list[dict[str, Any]]:
    """The block-device tree from `lsblk --json`."""
    result = probe.run("lsblk", "--json", "-o", LSBLK_COLUMNS)
    try:
        devices = json.loads(result.stdout)["blockdevices"]
    except (ValueError, KeyError, TypeError) as error:
        raise OutputNotUnderstood("lsblk n'a pas rendu de JSON lisible") from error
    if not isinstance(devices, list):
        raise OutputNotUnderstood("lsblk : liste de périphériques absente")
    return devices


def flag(value: object) -> bool:
    """lsblk ≥ 2.37 prints booleans; older versions print "0"/"1"."""
    return value is True or value in {"1", 1}


def is_encrypted(node: dict[str, Any]) -> bool:
    return node.get("type") == "crypt" or str(node.get("fstype") or "").lower() in ENCRYPTED_FSTYPES


def paths_to(
    nodes: list[dict[str, Any]], mountpoint: str, trail: tuple[dict[str, Any], ...] = ()
) -> Iterator[tuple[dict[str, Any], ...]]:
    """Every chain of devices (disk, partition, crypt, lvm…) that ends at a mount point."""
    for node in nodes:
        chain = (*trail, node)
        if node.get("mountpoint") == mountpoint:
            yield chain
        yield from paths_to(node.get("children") or [], mountpoint, chain)


def system_disk_encryption(probe: Probe) -> Verdict:
    """The root filesystem sits on a LUKS-encrypted device."""
    chains = list(paths_to(block_devices(probe), "/"))
    if not chains:
        return not_checked(
            None,
            "Le système de fichiers racine n'est pas sur un disque local visible (conteneur, "
            "démarrage réseau) : le chiffrement ne peut pas être vérifié.",
        )
    observed = [" → ".join(f"{n.get('name')} ({n.get('type')})" for n in c) for c in chains]
    if all(any(is_encrypted(node) for node in chain) for chain in chains):
        return passed(observed, "Le disque système est chiffré (LUKS).")
    return failed(
        observed,
        "Le disque système n'est pas chiffré : en cas de vol, les données sont lisibles.",
        "Réinstallez avec le chiffrement du disque (LUKS, option « chiffrer le disque » de "
        "l'installateur) après une sauvegarde, ou faites-le faire par votre prestataire.",
    )


def removable_disk_encryption(probe: Probe) -> Verdict:
    """Every removable drive plugged in (USB key, external disk) is encrypted."""
    plain: list[str] = []
    encrypted: list[str] = []
    for disk in block_devices(probe):
        removable = flag(disk.get("rm")) or flag(disk.get("hotplug")) or disk.get("tran") == "usb"
        if disk.get("type") != "disk" or not removable:
            continue
        volumes = disk.get("children") or [disk]
        for volume in volumes:
            if is_encrypted(volume) or any(is_encrypted(c) for c in volume.get("children") or []):
                encrypted.append(str(volume.get("name")))
            elif volume.get("fstype"):
                plain.append(f"{volume.get('name')} ({volume.get('fstype')})")
    observed = {"encrypted": encrypted, "unencrypted": plain}
    if plain:
        return failed(
            observed,
            f"Support(s) amovible(s) non chiffré(s) : {', '.join(plain)}.",
            "Chiffrez les clés USB et disques externes (LUKS avec « Disques » de GNOME, ou "
            "VeraCrypt pour un support partagé avec Windows).",
        )
    if not encrypted:
        return not_applicable(
            observed, "Aucun support amovible branché : rien à vérifier maintenant."
        )
    return passed(observed, "Les supports amovibles branchés sont chiffrés.")
