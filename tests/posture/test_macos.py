"""macOS checks on outputs recorded from Monterey, Sonoma and Sequoia."""

from __future__ import annotations

import plistlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from egide.posture.macos.security import SOCKETFILTERFW, XPROTECT_PLIST
from egide.posture.result import Status
from egide.posture.runner import Recording

from .conftest import answer, probe_with, result_of

SCREEN_LOCK = ("sysadminctl", "-screenLock", "status")
IDLE = ("defaults", "-currentHost", "read", "com.apple.screensaver", "idleTime")
PMSET = ("pmset", "-g")
HISTORY = ("system_profiler", "SPInstallHistoryDataType", "-json")
AIRPORT = ("system_profiler", "SPAirPortDataType", "-json")
LAUNCHCTL = ("launchctl", "print-disabled", "system")


def mac(name: str) -> Recording:
    return answer(f"macos/{name}")


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("sw_vers_15.txt", Status.PASS),
        ("sw_vers_14.txt", Status.PASS),
        ("sw_vers_12.txt", Status.FAIL),
        ("sw_vers_10_15.txt", Status.NOT_CHECKED),
    ],
)
def test_it_knows_which_macos_versions_are_maintained(
    tmp_path: Path, fixture: str, expected: Status
) -> None:
    probe = probe_with({("sw_vers",): mac(fixture)}, tmp_path)
    assert result_of("macos", "os_supported", probe).status is expected


def test_it_finds_xprotect_and_judges_its_freshness(tmp_path: Path) -> None:
    bundle = tmp_path / XPROTECT_PLIST.lstrip("/")
    bundle.parent.mkdir(parents=True)
    bundle.write_bytes(plistlib.dumps({"CFBundleShortVersionString": "2188"}))
    recordings = {
        ("spctl", "--status"): mac("spctl_enabled.txt"),
        HISTORY: mac("install_history.json"),
    }
    fresh = probe_with(recordings, tmp_path, now=datetime(2024, 4, 10, tzinfo=UTC))
    assert result_of("macos", "antivirus_present", fresh).status is Status.PASS
    assert result_of("macos", "antivirus_realtime", fresh).status is Status.PASS
    assert result_of("macos", "antivirus_signatures", fresh).status is Status.PASS
    stale = probe_with(recordings, tmp_path, now=datetime(2024, 9, 1, tzinfo=UTC))
    assert result_of("macos", "antivirus_signatures", stale).status is Status.FAIL


def test_it_fails_when_gatekeeper_is_off_or_xprotect_missing(tmp_path: Path) -> None:
    probe = probe_with({("spctl", "--status"): mac("spctl_disabled.txt")}, tmp_path)
    assert result_of("macos", "antivirus_realtime", probe).status is Status.FAIL
    assert result_of("macos", "antivirus_present", probe).status is Status.FAIL


def test_it_reads_pending_software_updates(tmp_path: Path) -> None:
    pending = probe_with({("softwareupdate", "-l"): mac("softwareupdate_pending.txt")}, tmp_path)
    result = result_of("macos", "security_updates", pending)
    assert result.status is Status.FAIL
    assert result.observed["pending"][0] == "macOS Sonoma 14.4.1-23E224"
    # "No new software available." is printed on standard error.
    none = probe_with(
        {("softwareupdate", "-l"): Recording(stderr=mac("softwareupdate_none.txt").stdout)},
        tmp_path,
    )
    assert result_of("macos", "security_updates", none).status is Status.PASS


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("fdesetup_on.txt", Status.PASS),
        ("fdesetup_off.txt", Status.FAIL),
        ("fdesetup_in_progress.txt", Status.FAIL),
        ("fdesetup_unknown_language.txt", Status.NOT_CHECKED),
    ],
)
def test_it_reads_filevault(tmp_path: Path, fixture: str, expected: Status) -> None:
    probe = probe_with({("fdesetup", "status"): mac(fixture)}, tmp_path)
    assert result_of("macos", "system_disk_encryption", probe).status is expected


EXTERNAL = ("diskutil", "list", "external", "physical", "-plist")
APFS_LIST = ("diskutil", "apfs", "list", "-plist")


def test_an_ntfs_usb_key_fails_and_an_encrypted_apfs_disk_passes(tmp_path: Path) -> None:
    both = probe_with(
        {
            EXTERNAL: mac("diskutil_list_external_usb_exfat_and_apfs.plist"),
            APFS_LIST: mac("diskutil_apfs_list_external_encrypted.plist"),
        },
        tmp_path,
    )
    result = result_of("macos", "removable_disk_encryption", both)
    assert result.status is Status.FAIL
    assert result.observed["unencrypted"] == ["disk6s1 (CLE-SECRETARIAT)"]
    assert result.observed["encrypted"] == ["disk4s2 (Apple_APFS)"]


@pytest.mark.parametrize(
    ("apfs", "expected"),
    [
        ("diskutil_apfs_list_external_encrypted.plist", Status.PASS),
        ("diskutil_apfs_list_external_plain.plist", Status.FAIL),
    ],
)
def test_an_apfs_external_disk_is_judged_by_its_volumes(
    tmp_path: Path, apfs: str, expected: Status
) -> None:
    listing = mac("diskutil_list_external_usb_exfat_and_apfs.plist").stdout
    # Keep only the APFS disk (disk4): cut the NTFS key out of the listing.
    start = listing.index("<dict>\n\t\t\t<key>Content</key>\n\t\t\t<string>FDisk")
    end = listing.index("</dict>\n\t</array>\n\t<key>VolumesFromDisks")
    only_apfs = listing[:start] + listing[end + len("</dict>\n") :]
    probe = probe_with({EXTERNAL: Recording(stdout=only_apfs), APFS_LIST: mac(apfs)}, tmp_path)
    assert result_of("macos", "removable_disk_encryption", probe).status is expected


def test_no_external_disk_is_not_applicable(tmp_path: Path) -> None:
    probe = probe_with({EXTERNAL: mac("diskutil_list_external_none.plist")}, tmp_path)
    status = result_of("macos", "removable_disk_encryption", probe).status
    assert status is Status.NOT_APPLICABLE


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("socketfilterfw_enabled.txt", Status.PASS),
        ("socketfilterfw_block_all.txt", Status.PASS),
        ("socketfilterfw_disabled.txt", Status.FAIL),
    ],
)
def test_it_reads_the_application_firewall(tmp_path: Path, fixture: str, expected: Status) -> None:
    probe = probe_with({(SOCKETFILTERFW, "--getglobalstate"): mac(fixture)}, tmp_path)
    assert result_of("macos", "firewall", probe).status is expected


@pytest.mark.parametrize(
    ("lock", "idle", "pmset", "expected"),
    [
        ("sysadminctl_immediate.txt", "300\n", "pmset_display_10.txt", Status.PASS),
        ("sysadminctl_300.txt", None, "pmset_display_10.txt", Status.FAIL),
        ("sysadminctl_immediate.txt", None, "pmset_display_30.txt", Status.FAIL),
        ("sysadminctl_off.txt", "300\n", "pmset_display_10.txt", Status.FAIL),
    ],
)
def test_it_adds_the_lock_delay_to_the_idle_time(
    tmp_path: Path, lock: str, idle: str | None, pmset: str, expected: Status
) -> None:
    saver = (
        Recording(stdout=idle)
        if idle
        else Recording(
            stderr="The domain/default pair of (com.apple.screensaver, idleTime) does not exist",
            returncode=1,
        )
    )
    # sysadminctl writes its answer on standard error.
    recordings = {
        SCREEN_LOCK: Recording(stderr=mac(lock).stdout),
        IDLE: saver,
        PMSET: mac(pmset),
    }
    probe = probe_with(recordings, tmp_path)
    assert result_of("macos", "screen_lock", probe).status is expected


def test_it_lists_admins_and_flags_the_daily_user(tmp_path: Path) -> None:
    command = ("dscl", ".", "-read", "/Groups/admin", "GroupMembership")
    daily = probe_with({command: mac("dscl_admin_daily_user.txt")}, tmp_path, user="drmartin")
    assert result_of("macos", "administrators", daily).status is Status.FAIL
    separate = probe_with({command: mac("dscl_admin_separate.txt")}, tmp_path, user="drmartin")
    result = result_of("macos", "administrators", separate)
    assert result.status is Status.PASS
    assert result.observed["admin_accounts"] == ["root", "admin-cabinet"]


def test_it_reads_the_account_policies(tmp_path: Path) -> None:
    none = probe_with({("pwpolicy", "getaccountpolicies"): mac("pwpolicy_none.txt")}, tmp_path)
    assert result_of("macos", "password_policy", none).status is Status.FAIL
    assert result_of("macos", "lockout_policy", none).status is Status.FAIL
    strict = probe_with(
        {("pwpolicy", "getaccountpolicies"): mac("pwpolicy_12_lockout_5.txt")}, tmp_path
    )
    assert result_of("macos", "password_policy", strict).status is Status.PASS
    lockout = result_of("macos", "lockout_policy", strict)
    assert lockout.status is Status.PASS
    assert lockout.observed == {"lockout_threshold": 5}


def test_it_flags_teamviewer_installed_as_a_service_and_screen_sharing(tmp_path: Path) -> None:
    (tmp_path / "Applications" / "TeamViewer.app").mkdir(parents=True)
    clean = probe_with({LAUNCHCTL: mac("launchctl_disabled_default.txt")}, tmp_path)
    assert result_of("macos", "remote_access", clean).status is Status.PASS
    daemons = tmp_path / "Library" / "LaunchDaemons"
    daemons.mkdir(parents=True)
    (daemons / "com.teamviewer.teamviewer_service.plist").write_bytes(plistlib.dumps({}))
    unattended = probe_with({LAUNCHCTL: mac("launchctl_disabled_sharing_on.txt")}, tmp_path)
    result = result_of("macos", "remote_access", unattended)
    assert result.status is Status.FAIL
    assert result.observed["unattended_services"] == ["TeamViewer", "Partage d'écran"]


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("airport_wpa2.json", Status.PASS),
        ("airport_open.json", Status.FAIL),
        ("airport_not_connected.json", Status.NOT_APPLICABLE),
    ],
)
def test_it_reads_the_wifi_security_mode(tmp_path: Path, fixture: str, expected: Status) -> None:
    probe = probe_with({AIRPORT: mac(fixture)}, tmp_path)
    assert result_of("macos", "wifi_security", probe).status is expected
