"""The posture report format v1, frozen by a golden file that doubles as the console's sample.

The sample is a fictitious practice laptop (French Windows 11 23H2) with BitLocker off and a
stale antivirus: the two measures RCM-MOB-1 and RCM-POS-2 must come out non-compliant.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from egide.posture.catalogue import inspect
from egide.posture.errors import MalformedReport
from egide.posture.host import Host
from egide.posture.measures import CHECKS
from egide.posture.report import FORMAT, build_report, read_report
from egide.posture.result import Status
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


def test_the_console_reads_back_what_the_agent_sends(tmp_path: Path) -> None:
    received = read_report(json.loads(json.dumps(laptop_report(tmp_path))))
    assert received.hostname == "CABINET-PORTABLE-02"
    assert received.system == "windows"
    assert received.time == NOW + timedelta(seconds=4)
    assert len(received.findings) == len(CHECKS)
    bitlocker = next(f for f in received.findings if f.check == "system_disk_encryption")
    assert bitlocker.status is Status.FAIL
    assert bitlocker.measure_id == "RCM-MOB-1"


def spoil(path: tuple[object, ...], value: object) -> Callable[[dict[str, Any]], None]:
    def change(report: dict[str, Any]) -> None:
        target: Any = report
        for key in path[:-1]:
            target = target[key]
        if value is DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return change


DELETE = object()
HUGE = "x" * 30_000


@pytest.mark.parametrize(
    "change",
    [
        spoil(("format",), "something.else"),
        spoil(("version",), 2),
        spoil(("time",), "hier"),
        spoil(("time",), "2024-11-14T12:00:04"),
        spoil(("device",), DELETE),
        spoil(("device", "type"), "amiga"),
        spoil(("device", "hostname"), ""),
        spoil(("device", "hostname"), HUGE),
        spoil(("metadata",), []),
        spoil(("findings",), []),
        spoil(("findings",), {"check": "firewall"}),
        spoil(("findings", 0), "pass"),
        spoil(("findings", 0, "check"), "rootkit_absent"),
        spoil(("findings", 0, "measure_id"), "RCM-LOC-1"),
        spoil(("findings", 0, "status"), "ok"),
        spoil(("findings", 0, "status"), None),
        spoil(("findings", 0, "explanation"), 42),
        spoil(("findings", 0, "explanation"), " "),
        spoil(("findings", 0, "remediation"), HUGE),
        spoil(("findings", 0, "observed"), {"blob": HUGE}),
        spoil(("findings", 0, "observed"), float("nan")),
        spoil(("findings", 1), {"check": "antivirus_present"}),
    ],
)
def test_the_console_refuses_a_malformed_report(
    tmp_path: Path, change: Callable[[dict[str, Any]], None]
) -> None:
    report = json.loads(json.dumps(laptop_report(tmp_path)))
    change(report)
    with pytest.raises(MalformedReport):
        read_report(report)


def test_the_console_refuses_a_report_listing_a_check_twice(tmp_path: Path) -> None:
    report = json.loads(json.dumps(laptop_report(tmp_path)))
    report["findings"][1] = report["findings"][0]
    with pytest.raises(MalformedReport, match="deux fois"):
        read_report(report)


@pytest.mark.parametrize("data", [None, [], "rapport", 42, {"format": FORMAT}])
def test_the_console_refuses_what_is_not_a_report(data: object) -> None:
    with pytest.raises(MalformedReport):
        read_report(data)
