"""The posture report format v1, frozen by a golden file that doubles as the console's sample.

The sample is a fictitious practice laptop (French Windows 11 23H2) with BitLocker off and a
stale antivirus: the two measures RCM-MOB-1 and RCM-POS-2 must come out non-compliant.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from egide.posture.catalogue import inspect
from egide.posture.host import Host
from egide.posture.measures import CHECKS
from egide.posture.report import build_report
from egide.posture.runner import Recording
from egide.posture.windows.powershell import argv

from .conftest import DATA, NOW, answer, probe_with

GOLDEN = DATA / "report_v1_windows_laptop_bitlocker_off_stale_antivirus.json"


def laptop_recordings() -> dict[tuple[str, ...], Recording]:
    def win(name: str) -> Recording:
        return answer(f"windows/{name}")

    return {
        argv("security_center"): win("security_center_stale.json"),
        argv("defender"): win("defender_stale.json"),
        argv("os_version"): win("os_win11_23h2_pro.json"),
        argv("pending_updates"): win("pending_updates_none.json"),
        argv("bitlocker"): win("bitlocker_os_off_usb_plain.json"),
        argv("firewall_profiles"): win("firewall_profiles_all_on.json"),
        argv("screen_lock"): win("screen_lock_saver_secure_300.json"),
        argv("remote_tools"): win("remote_tools_anydesk_manual.json"),
        ("net", "localgroup", "Administrators"): Recording(
            stdout=(DATA / "windows/net_localgroup_not_found_fr.txt").read_text(), returncode=2
        ),
        ("net", "localgroup", "Administrateurs"): win("net_localgroup_administrateurs_fr.txt"),
        ("whoami",): Recording(stdout="cabinet-pc01\\remplacant\n"),
        ("whoami", "/groups", "/fo", "csv", "/nh"): win("whoami_groups_standard_en.csv"),
        ("net", "accounts"): win("net_accounts_fr_hardened.txt"),
        ("netsh", "wlan", "show", "interfaces"): win("netsh_wlan_fr_wpa3.txt"),
    }


def laptop_report(tmp_path: Path) -> dict[str, object]:
    probe = probe_with(laptop_recordings(), tmp_path, user="remplacant")
    results = inspect(probe, "windows")
    host = Host("CABINET-PORTABLE-02", "windows", "Windows 11", "10.0.22631", "AMD64")
    titles = {name: title for name, (_, title) in CHECKS.items()}
    return build_report(host, results, titles, NOW, NOW + timedelta(seconds=4), "0.1.0")


def test_the_report_format_matches_its_golden_file(tmp_path: Path) -> None:
    report = laptop_report(tmp_path)
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert json.loads(json.dumps(report, ensure_ascii=False)) == golden


def test_the_sample_laptop_fails_on_bitlocker_and_the_stale_antivirus(tmp_path: Path) -> None:
    report = laptop_report(tmp_path)
    findings = report["findings"]
    assert isinstance(findings, list)
    failing = {(f["check"], f["measure_id"]) for f in findings if f["status"] == "fail"}
    assert ("system_disk_encryption", "RCM-MOB-1") in failing
    assert ("antivirus_signatures", "RCM-POS-2") in failing
    assert {measure for _, measure in failing} == {"RCM-MOB-1", "RCM-POS-2"}
    assert report["time"] == (NOW + timedelta(seconds=4)).isoformat()
    assert datetime.fromisoformat(str(report["time"])).tzinfo is UTC
