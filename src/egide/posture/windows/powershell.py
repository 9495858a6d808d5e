"""Running a PowerShell snippet that answers in JSON, whatever the display language."""

from __future__ import annotations

import json
from typing import Any

from ..errors import OutputNotUnderstood
from ..probe import Probe, refuse_if_denied

PREFIX = "[Console]::OutputEncoding=[Text.Encoding]::UTF8; $ErrorActionPreference='Stop'; "

# Each snippet produces an array (ConvertTo-Json -InputObject @(...)) so parsing never depends on
# how many objects came back. Enumerations are turned into their (English) names with "$(...)".
SCRIPTS: dict[str, str] = {
    "security_center": (
        "@(Get-CimInstance -Namespace root/SecurityCenter2 -ClassName AntiVirusProduct | "
        "Select-Object displayName,productState,timestamp)"
    ),
    "defender": (
        "@(Get-MpComputerStatus | Select-Object AMServiceEnabled,AntivirusEnabled,"
        "RealTimeProtectionEnabled,AntivirusSignatureAge,AMRunningMode,"
        "@{n='AntivirusSignatureLastUpdated';"
        "e={$_.AntivirusSignatureLastUpdated.ToUniversalTime().ToString('o')}})"
    ),
    "os_version": (
        "@(Get-ItemProperty 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion' | "
        "Select-Object ProductName,DisplayVersion,CurrentBuild,UBR,EditionID,InstallationType)"
    ),
    "pending_updates": (
        "$s=New-Object -ComObject Microsoft.Update.Session; "
        "$r=$s.CreateUpdateSearcher()"
        ".Search(\"IsInstalled=0 and IsHidden=0 and Type='Software'\"); "
        "@($r.Updates | ForEach-Object { [pscustomobject]@{Title=$_.Title;"
        "MsrcSeverity=$_.MsrcSeverity;"
        "Categories=@($_.Categories | ForEach-Object {$_.CategoryID})} })"
    ),
    "bitlocker": (
        "@(Get-BitLockerVolume | Select-Object MountPoint,"
        "@{n='VolumeType';e={\"$($_.VolumeType)\"}},"
        "@{n='ProtectionStatus';e={\"$($_.ProtectionStatus)\"}},"
        "@{n='VolumeStatus';e={\"$($_.VolumeStatus)\"}},EncryptionPercentage)"
    ),
    "firewall_profiles": (
        "@(Get-NetFirewallProfile | Select-Object Name,@{n='Enabled';e={\"$($_.Enabled)\"}})"
    ),
    "screen_lock": (
        "$p=Get-ItemProperty "
        "'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System'"
        " -ErrorAction SilentlyContinue; "
        "$d=Get-ItemProperty 'HKCU:\\Control Panel\\Desktop' -ErrorAction SilentlyContinue; "
        "$g=Get-ItemProperty "
        "'HKCU:\\Software\\Policies\\Microsoft\\Windows\\Control Panel\\Desktop'"
        " -ErrorAction SilentlyContinue; "
        "@([pscustomobject]@{InactivityTimeoutSecs=$p.InactivityTimeoutSecs;"
        "ScreenSaveActive=$d.ScreenSaveActive;ScreenSaverIsSecure=$d.ScreenSaverIsSecure;"
        "ScreenSaveTimeOut=$d.ScreenSaveTimeOut;PolicyScreenSaveActive=$g.ScreenSaveActive;"
        "PolicyScreenSaverIsSecure=$g.ScreenSaverIsSecure;PolicyScreenSaveTimeOut=$g.ScreenSaveTimeOut})"
    ),
    "remote_tools": (
        "$k='HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*',"
        "'HKLM:\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*',"
        "'HKCU:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*'; "
        "$re='TeamViewer|AnyDesk|RustDesk|Splashtop|ScreenConnect|LogMeIn|VNC|Chrome Remote Desktop"
        "|NoMachine|DWService|Supremo|Ammyy'; "
        "$apps=@(Get-ItemProperty $k -ErrorAction SilentlyContinue | Where-Object "
        "{$_.DisplayName -match $re} | ForEach-Object {$_.DisplayName} | Sort-Object -Unique); "
        "$svc=@(Get-Service -ErrorAction SilentlyContinue | Where-Object {$_.Name -match "
        "'TeamViewer|AnyDesk|RustDesk|Splashtop|ScreenConnect|LogMeIn|vnc|chromoting|nxservice'} | "
        'ForEach-Object {[pscustomobject]@{Name=$_.Name;StartType="$($_.StartType)";'
        'Status="$($_.Status)"}}); '
        "$ts=Get-ItemProperty 'HKLM:\\System\\CurrentControlSet\\Control\\Terminal Server' "
        "-ErrorAction SilentlyContinue; "
        "@([pscustomobject]@{Installed=$apps;Services=$svc;RdpDenied=$ts.fDenyTSConnections})"
    ),
}


# Keys every object of a snippet's answer must carry (their values may be null): an answer
# without them comes from something else and must not be read as "nothing found".
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "security_center": ("displayName", "productState"),
    "defender": ("AMServiceEnabled", "RealTimeProtectionEnabled", "AntivirusSignatureAge"),
    "os_version": ("CurrentBuild", "EditionID"),
    "pending_updates": ("Title", "Categories"),
    "bitlocker": ("MountPoint", "VolumeType", "ProtectionStatus"),
    "firewall_profiles": ("Name", "Enabled"),
    "screen_lock": ("InactivityTimeoutSecs", "ScreenSaveActive", "ScreenSaverIsSecure"),
    "remote_tools": ("Installed", "Services", "RdpDenied"),
}


def argv(name: str) -> tuple[str, ...]:
    """The command line that runs one of the snippets (also the key of recorded outputs)."""
    # The last statement is the array to print; what comes before it only prepares values.
    setup, _, expression = SCRIPTS[name].rpartition("; ")
    body = f"ConvertTo-Json -Depth 4 -Compress -InputObject {expression}"
    if setup:
        body = f"{setup}; {body}"
    return (
        "powershell.exe",
        "-NoLogo",
        "-NoProfile",
        "-NonInteractive",
        "-ExecutionPolicy",
        "Bypass",
        "-Command",
        PREFIX + body,
    )


def run_json(probe: Probe, name: str, timeout: float | None = None) -> list[dict[str, Any]]:
    """Run a snippet and return its objects; refusals and errors raise, never return empty."""
    result = probe.run(*argv(name), timeout=timeout)
    refuse_if_denied(result, "0x80041003", "accès refusé", "access denied", "requires elevation")
    if not result.ok:
        first = (result.stderr.strip().splitlines() or ["échec sans message"])[0]
        raise OutputNotUnderstood(f"PowerShell ({name}) : {first[:120]}")
    try:
        data = json.loads(result.stdout)
    except ValueError as error:
        raise OutputNotUnderstood(f"PowerShell ({name}) n'a pas rendu de JSON") from error
    items = data if isinstance(data, list) else [data]
    required = REQUIRED_KEYS[name]
    if not all(isinstance(item, dict) and all(k in item for k in required) for item in items):
        raise OutputNotUnderstood(f"PowerShell ({name}) : objets inattendus")
    return items
