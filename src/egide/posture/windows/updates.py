"""Windows: the version still receives updates, and no security update is waiting."""

from __future__ import annotations

from ..check import Verdict, failed, passed
from ..errors import OutputNotUnderstood
from ..lifecycle import judge_support, windows_support
from ..probe import Probe
from .powershell import run_json

# Windows Update category ids (stable across languages, unlike category names).
SECURITY_UPDATES = "0fa1201d-4330-4fa8-8ae9-b877473b6441"
CRITICAL_UPDATES = "e6cf1350-c01b-414d-a61f-263d14d133b4"
DEFINITION_UPDATES = "e0789628-ce08-4437-be74-2495b842f43b"


def os_supported(probe: Probe) -> Verdict:
    """The Windows build and edition still receive security updates."""
    items = run_json(probe, "os_version")
    if not items:
        raise OutputNotUnderstood("version de Windows absente")
    info = items[0]
    try:
        build = int(str(info.get("CurrentBuild")))
    except ValueError as error:
        raise OutputNotUnderstood("numéro de build illisible") from error
    edition = str(info.get("EditionID") or "")
    # ProductName still says "Windows 10" on Windows 11: the build number is what counts.
    family = "Windows 11" if build >= 22000 else "Windows 10"
    observed = {
        "product": info.get("ProductName"),
        "family": family,
        "display_version": info.get("DisplayVersion"),
        "build": f"{build}.{info.get('UBR')}",
        "edition": edition,
    }
    return judge_support(
        observed,
        windows_support(build, edition),
        probe.now.date(),
        "Installez la dernière version de Windows 11 (Paramètres → Windows Update) ou "
        "remplacez l'ordinateur s'il n'est pas compatible.",
    )


def security_updates(probe: Probe) -> Verdict:
    """Windows Update has no security or critical update waiting."""
    items = run_json(probe, "pending_updates", timeout=120)
    pending = []
    for item in items:
        categories = {str(c).lower() for c in item.get("Categories") or []}
        severity = str(item.get("MsrcSeverity") or "")
        security = categories & {SECURITY_UPDATES, CRITICAL_UPDATES}
        severe = severity in {"Critical", "Important"}
        if (security or severe) and DEFINITION_UPDATES not in categories:
            pending.append(str(item.get("Title")))
    observed = {"pending_security": pending, "pending_total": len(items)}
    if pending:
        return failed(
            observed,
            f"{len(pending)} mise(s) à jour de sécurité en attente : {pending[0]}"
            + ("…" if len(pending) > 1 else "."),
            "Paramètres → Windows Update → « Installer maintenant », puis redémarrez.",
        )
    return passed(observed, "Aucune mise à jour de sécurité en attente dans Windows Update.")
