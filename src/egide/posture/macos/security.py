"""macOS protection: XProtect and Gatekeeper, updates, FileVault, the application firewall."""

from __future__ import annotations

import json
import plistlib
import re
from datetime import datetime

from ..check import Verdict, failed, not_checked, passed
from ..errors import OutputNotUnderstood
from ..lifecycle import judge_support, macos_support
from ..probe import Probe

XPROTECT_PLIST = "/Library/Apple/System/Library/CoreServices/XProtect.bundle/Contents/Info.plist"
SOFTWARE_UPDATE_PREFS = "/Library/Preferences/com.apple.SoftwareUpdate.plist"
SOCKETFILTERFW = "/usr/libexec/ApplicationFirewall/socketfilterfw"


def product_version(probe: Probe) -> tuple[str, int]:
    """`sw_vers` product name and major version."""
    result = probe.run("sw_vers")
    values = {
        k.strip(): v.strip()
        for k, _, v in (line.partition(":") for line in result.stdout.splitlines())
    }
    version = values.get("ProductVersion", "")
    match = re.fullmatch(r"(\d+)(?:\.\d+)*", version)
    if not match:
        raise OutputNotUnderstood(f"sw_vers a répondu « {result.stdout.strip()[:60]} »")
    return version, int(match.group(1))


def os_supported(probe: Probe) -> Verdict:
    """The macOS version still receives security updates."""
    version, major = product_version(probe)
    return judge_support(
        {"version": version},
        macos_support(major),
        probe.now.date(),
        "Réglages Système → Général → Mise à jour de logiciels : installez la dernière version "
        "de macOS, ou remplacez le Mac s'il n'est plus compatible.",
    )


def read_plist(probe: Probe, path: str) -> dict[str, object] | None:
    try:
        data = plistlib.loads(probe.path(path).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, plistlib.InvalidFileException, ValueError) as error:
        raise OutputNotUnderstood(f"{path} illisible") from error
    return data if isinstance(data, dict) else None


def antivirus_present(probe: Probe) -> Verdict:
    """XProtect, the antivirus built into macOS, is present."""
    info = read_plist(probe, XPROTECT_PLIST)
    if info is None:
        return failed(
            None,
            "XProtect, l'antivirus intégré à macOS, est introuvable.",
            "Réinstallez macOS ou installez l'antivirus fourni par votre prestataire.",
        )
    version = str(info.get("CFBundleShortVersionString", "?"))
    return passed({"xprotect": version}, f"XProtect (intégré à macOS), version {version}.")


def antivirus_realtime(probe: Probe) -> Verdict:
    """Gatekeeper assessments are on, so XProtect checks what is opened."""
    result = probe.run("spctl", "--status")
    text = (result.stdout + result.stderr).strip()
    if text == "assessments enabled":
        return passed(text, "Gatekeeper et XProtect contrôlent les fichiers ouverts.")
    if text == "assessments disabled":
        return failed(
            text,
            "Gatekeeper est désactivé : les logiciels ouverts ne sont plus contrôlés.",
            "Dans le Terminal : « sudo spctl --master-enable ».",
        )
    raise OutputNotUnderstood(f"spctl a répondu « {text[:60]} »")


def antivirus_signatures(probe: Probe) -> Verdict:
    """XProtect data was updated recently, and automatic security data updates are on."""
    prefs = read_plist(probe, SOFTWARE_UPDATE_PREFS) or {}
    automatic = prefs.get("ConfigDataInstall")
    result = probe.run("system_profiler", "SPInstallHistoryDataType", "-json", timeout=30)
    try:
        items = json.loads(result.stdout)["SPInstallHistoryDataType"]
        dates = [
            datetime.fromisoformat(str(item["install_date"]).replace("Z", "+00:00"))
            for item in items
            if str(item.get("_name", "")).startswith("XProtect")
        ]
    except (ValueError, KeyError, TypeError) as error:
        raise OutputNotUnderstood("historique d'installation illisible") from error
    remedy = (
        "Réglages Système → Général → Mise à jour de logiciels → (i) : activez « Installer les "
        "réponses de sécurité et les fichiers système »."
    )
    observed: dict[str, object] = {"automatic_security_data": automatic}
    if automatic is False:
        return failed(
            observed, "Les mises à jour automatiques de XProtect sont désactivées.", remedy
        )
    if not dates:
        return not_checked(observed, "Aucune mise à jour de XProtect dans l'historique.")
    newest = max(dates)
    age = probe.now - newest
    observed["last_update"] = newest.isoformat()
    if age > probe.policy.max_xprotect_age:
        return failed(observed, f"XProtect n'a pas été mis à jour depuis {age.days} jours.", remedy)
    return passed(observed, f"XProtect mis à jour il y a {age.days} jour(s).")


def security_updates(probe: Probe) -> Verdict:
    """`softwareupdate -l` lists nothing to install."""
    result = probe.run("softwareupdate", "-l", timeout=90)
    text = result.stdout + "\n" + result.stderr
    labels = re.findall(r"^\s*\* Label: (.+)$", text, re.MULTILINE)
    if labels:
        return failed(
            {"pending": labels},
            f"{len(labels)} mise(s) à jour en attente : {labels[0]}.",
            "Réglages Système → Général → Mise à jour de logiciels : « Mettre à jour maintenant ».",
        )
    if "No new software available" in text:
        return passed({"pending": []}, "Aucune mise à jour en attente.")
    raise OutputNotUnderstood("softwareupdate : réponse inconnue")


def system_disk_encryption(probe: Probe) -> Verdict:
    """FileVault is on and not converting."""
    result = probe.run("fdesetup", "status")
    text = result.stdout.strip()
    remedy = (
        "Réglages Système → Confidentialité et sécurité → FileVault : « Activer » ; conservez la "
        "clé de secours en lieu sûr."
    )
    progress = re.search(r"(Encryption|Decryption) in progress.*?([\d.]+)", text)
    if text.startswith("FileVault is On.") and progress is None:
        return passed(text, "Le disque est chiffré par FileVault.")
    if text.startswith(("FileVault is On.", "FileVault is Off.")):
        detail = f" ({progress.group(1)} en cours : {progress.group(2)} %)" if progress else ""
        return failed(text, f"FileVault ne protège pas encore tout le disque{detail}.", remedy)
    raise OutputNotUnderstood(f"fdesetup a répondu « {text[:60]} »")


def firewall(probe: Probe) -> Verdict:
    """The application firewall is on (State 1, or 2 when blocking everything)."""
    result = probe.run(SOCKETFILTERFW, "--getglobalstate")
    match = re.search(r"\(State = (\d)\)", result.stdout)
    if match is None:
        raise OutputNotUnderstood(f"socketfilterfw a répondu « {result.stdout.strip()[:60]} »")
    state = int(match.group(1))
    if state in {1, 2}:
        return passed({"state": state}, "Le pare-feu de macOS est activé.")
    return failed(
        {"state": state},
        "Le pare-feu de macOS est désactivé.",
        "Réglages Système → Réseau → Coupe-feu : activez-le.",
    )
