"""Windows checks on outputs recorded from English and French Windows 10 and 11."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from egide.posture.result import Status
from egide.posture.runner import Recording
from egide.posture.windows.powershell import argv

from .conftest import answer, probe_with, recorded, result_of

NET_ADMINS_EN = ("net", "localgroup", "Administrators")
NET_ADMINS_FR = ("net", "localgroup", "Administrateurs")
WHOAMI_GROUPS = ("whoami", "/groups", "/fo", "csv", "/nh")
NETSH_FIREWALL = ("netsh", "advfirewall", "show", "allprofiles", "state")
NETSH_WLAN = ("netsh", "wlan", "show", "interfaces")
FAILED_PS = Recording(stderr=recorded("windows/security_center_server_error_fr.txt"), returncode=1)


def ps(name: str, fixture: str) -> tuple[tuple[str, ...], Recording]:
    return argv(name), answer(f"windows/{fixture}")


@pytest.mark.parametrize(
    ("security_center", "defender", "check", "expected"),
    [
        ("security_center_defender_on.json", "defender_fresh.json", "antivirus_present", "pass"),
        ("security_center_defender_on.json", "defender_fresh.json", "antivirus_realtime", "pass"),
        ("security_center_defender_on.json", "defender_fresh.json", "antivirus_signatures", "pass"),
        ("security_center_stale.json", "defender_stale.json", "antivirus_signatures", "fail"),
        (
            "security_center_realtime_off.json",
            "defender_passive.json",
            "antivirus_realtime",
            "fail",
        ),
        (
            "security_center_eset_active_defender_off.json",
            "defender_passive.json",
            "antivirus_realtime",
            "pass",
        ),
        (
            "security_center_eset_active_defender_off.json",
            "defender_passive.json",
            "antivirus_signatures",
            "pass",
        ),
    ],
)
def test_it_reads_the_antivirus_state_from_security_center_and_defender(
    tmp_path: Path, security_center: str, defender: str, check: str, expected: str
) -> None:
    probe = probe_with(
        dict([ps("security_center", security_center), ps("defender", defender)]), tmp_path
    )
    assert result_of("windows", check, probe).status.value == expected


def test_it_falls_back_to_defender_on_windows_server_without_security_center(
    tmp_path: Path,
) -> None:
    probe = probe_with(
        {
            argv("security_center"): FAILED_PS,
            argv("defender"): answer("windows/defender_stale.json"),
        },
        tmp_path,
    )
    assert result_of("windows", "antivirus_present", probe).status is Status.PASS
    stale = result_of("windows", "antivirus_signatures", probe)
    assert stale.status is Status.FAIL
    assert stale.observed["defender_signature_age_days"] == 9


def test_it_says_not_checked_when_neither_antivirus_source_answers(tmp_path: Path) -> None:
    probe = probe_with({argv("security_center"): FAILED_PS}, tmp_path)
    result = result_of("windows", "antivirus_present", probe)
    assert result.status is Status.NOT_CHECKED
    assert "ni le Centre de sécurité ni Defender" in result.explanation


@pytest.mark.parametrize(
    ("fixture", "today", "expected", "fragment"),
    [
        ("os_win11_23h2_pro.json", date(2024, 11, 14), "pass", "Windows 11 23H2"),
        ("os_win11_23h2_pro.json", date(2026, 1, 15), "fail", "11/11/2025"),
        ("os_win11_24h2_enterprise.json", date(2026, 1, 15), "pass", "Entreprise"),
        ("os_win10_22h2_home.json", date(2024, 11, 14), "pass", "Windows 10 22H2"),
        ("os_win10_22h2_home.json", date(2026, 1, 15), "fail", "14/10/2025"),
        ("os_win10_ltsc2021.json", date(2026, 1, 15), "pass", "LTSC 2021"),
        ("os_insider.json", date(2026, 1, 15), "not_checked", "table"),
    ],
)
def test_it_knows_which_windows_builds_are_still_supported(
    tmp_path: Path, fixture: str, today: date, expected: str, fragment: str
) -> None:
    now = datetime.combine(today, time(12), tzinfo=UTC)
    probe = probe_with(dict([ps("os_version", fixture)]), tmp_path, now=now)
    result = result_of("windows", "os_supported", probe)
    assert result.status.value == expected
    assert fragment in result.explanation


def test_it_fails_on_a_pending_cumulative_security_update_in_french(tmp_path: Path) -> None:
    probe = probe_with(dict([ps("pending_updates", "pending_updates_security_fr.json")]), tmp_path)
    result = result_of("windows", "security_updates", probe)
    assert result.status is Status.FAIL
    # The antivirus definition update is not counted as a pending system update.
    assert result.observed["pending_security"] == [
        "2024-11 Mise à jour cumulative pour Windows 11 Version 23H2 pour les systèmes x64 "
        "(KB5046633)"
    ]


@pytest.mark.parametrize(
    "fixture", ["pending_updates_none.json", "pending_updates_drivers_only.json"]
)
def test_it_passes_when_no_security_update_waits(tmp_path: Path, fixture: str) -> None:
    probe = probe_with(dict([ps("pending_updates", fixture)]), tmp_path)
    assert result_of("windows", "security_updates", probe).status is Status.PASS


def test_it_reads_bitlocker_from_powershell(tmp_path: Path) -> None:
    on = probe_with(dict([ps("bitlocker", "bitlocker_os_on.json")]), tmp_path)
    assert result_of("windows", "system_disk_encryption", on).status is Status.PASS
    assert result_of("windows", "removable_disk_encryption", on).status is Status.NOT_APPLICABLE
    off = probe_with(dict([ps("bitlocker", "bitlocker_os_off_usb_plain.json")]), tmp_path)
    assert result_of("windows", "system_disk_encryption", off).status is Status.FAIL
    usb = result_of("windows", "removable_disk_encryption", off)
    assert usb.status is Status.FAIL
    assert "E:" in usb.explanation
    good_usb = probe_with(dict([ps("bitlocker", "bitlocker_usb_encrypted.json")]), tmp_path)
    assert result_of("windows", "removable_disk_encryption", good_usb).status is Status.PASS


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("manage_bde_en_on.txt", Status.PASS),
        ("manage_bde_fr_on.txt", Status.PASS),
        ("manage_bde_fr_off.txt", Status.FAIL),
        ("manage_bde_de.txt", Status.NOT_CHECKED),
    ],
)
def test_it_falls_back_to_manage_bde_in_english_and_french(
    tmp_path: Path, fixture: str, expected: Status
) -> None:
    probe = probe_with(
        {argv("bitlocker"): FAILED_PS, ("manage-bde", "-status"): answer(f"windows/{fixture}")},
        tmp_path,
    )
    assert result_of("windows", "system_disk_encryption", probe).status is expected
    # manage-bde does not say which drives are removable: never a pass from it.
    removable = result_of("windows", "removable_disk_encryption", probe)
    assert removable.status is not Status.PASS


def test_it_asks_for_administrator_rights_when_bitlocker_is_denied(tmp_path: Path) -> None:
    denied_ps = Recording(stderr=recorded("windows/bitlocker_denied_fr.txt"), returncode=1)
    denied_bde = Recording(stdout=recorded("windows/manage_bde_denied_fr.txt"), returncode=1)
    probe = probe_with(
        {argv("bitlocker"): denied_ps, ("manage-bde", "-status"): denied_bde}, tmp_path
    )
    result = result_of("windows", "system_disk_encryption", probe)
    assert result.status is Status.NOT_CHECKED
    assert "administrateur" in result.explanation


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("netsh_advfirewall_en.txt", Status.PASS),
        ("netsh_advfirewall_fr_public_off.txt", Status.FAIL),
        ("netsh_advfirewall_de.txt", Status.NOT_CHECKED),
    ],
)
def test_it_reads_netsh_firewall_states_in_english_and_french(
    tmp_path: Path, fixture: str, expected: Status
) -> None:
    probe = probe_with(
        {argv("firewall_profiles"): FAILED_PS, NETSH_FIREWALL: answer(f"windows/{fixture}")},
        tmp_path,
    )
    result = result_of("windows", "firewall", probe)
    assert result.status is expected
    if expected is Status.FAIL:
        assert "public" in result.explanation


def test_it_prefers_the_language_neutral_firewall_profiles(tmp_path: Path) -> None:
    on = probe_with(dict([ps("firewall_profiles", "firewall_profiles_all_on.json")]), tmp_path)
    assert result_of("windows", "firewall", on).status is Status.PASS
    off = probe_with(dict([ps("firewall_profiles", "firewall_profiles_public_off.json")]), tmp_path)
    assert result_of("windows", "firewall", off).status is Status.FAIL


def test_it_finds_the_daily_user_among_the_french_administrateurs(tmp_path: Path) -> None:
    probe = probe_with(
        {
            NET_ADMINS_EN: Recording(
                stdout=recorded("windows/net_localgroup_not_found_fr.txt"), returncode=2
            ),
            NET_ADMINS_FR: answer("windows/net_localgroup_administrateurs_fr.txt"),
            ("whoami",): Recording(stdout="cabinet-pc01\\dr.martin\n"),
            WHOAMI_GROUPS: answer("windows/whoami_groups_admin_fr.csv"),
        },
        tmp_path,
        user="dr.martin",
    )
    result = result_of("windows", "administrators", probe)
    assert result.status is Status.FAIL
    assert result.observed["admin_accounts"] == ["Administrateur", "dr.martin", "secretariat"]


def test_it_passes_a_standard_user_in_english(tmp_path: Path) -> None:
    probe = probe_with(
        {
            NET_ADMINS_EN: answer("windows/net_localgroup_administrators_en.txt"),
            ("whoami",): Recording(stdout="cabinet-pc01\\secretariat\n"),
            WHOAMI_GROUPS: answer("windows/whoami_groups_standard_en.csv"),
        },
        tmp_path,
        user="secretariat",
    )
    result = result_of("windows", "administrators", probe)
    assert result.status is Status.PASS
    assert "CABINET-PC01\\maintenance" in result.observed["admin_accounts"]


def test_it_catches_an_admin_through_the_token_even_if_not_listed_by_name(
    tmp_path: Path,
) -> None:
    # Membership through a domain group: the name is not in the list but the token says so.
    probe = probe_with(
        {
            NET_ADMINS_EN: answer("windows/net_localgroup_administrators_en.txt"),
            ("whoami",): Recording(stdout="cabinet\\drlefevre\n"),
            WHOAMI_GROUPS: answer("windows/whoami_groups_admin_fr.csv"),
        },
        tmp_path,
        user="drlefevre",
    )
    assert result_of("windows", "administrators", probe).status is Status.FAIL


@pytest.mark.parametrize("fixture", ["net_localgroup_de.txt", "net_localgroup_truncated_en.txt"])
def test_it_never_passes_an_unknown_language_or_truncated_member_list(
    tmp_path: Path, fixture: str
) -> None:
    probe = probe_with(
        {
            NET_ADMINS_EN: answer(f"windows/{fixture}"),
            ("whoami",): Recording(stdout="praxis-pc\\anna\n"),
            WHOAMI_GROUPS: answer("windows/whoami_groups_standard_en.csv"),
        },
        tmp_path,
        user="anna",
    )
    assert result_of("windows", "administrators", probe).status is Status.NOT_CHECKED


@pytest.mark.parametrize(
    ("fixture", "password", "lockout"),
    [
        ("net_accounts_en_default.txt", Status.FAIL, Status.FAIL),
        ("net_accounts_fr_hardened.txt", Status.PASS, Status.PASS),
        ("net_accounts_fr_win11_default.txt", Status.FAIL, Status.PASS),
        ("net_accounts_de.txt", Status.NOT_CHECKED, Status.NOT_CHECKED),
    ],
)
def test_it_reads_net_accounts_in_english_and_french(
    tmp_path: Path, fixture: str, password: Status, lockout: Status
) -> None:
    probe = probe_with({("net", "accounts"): answer(f"windows/{fixture}")}, tmp_path)
    assert result_of("windows", "password_policy", probe).status is password
    assert result_of("windows", "lockout_policy", probe).status is lockout


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("screen_lock_policy_600.json", Status.PASS),
        ("screen_lock_saver_secure_300.json", Status.PASS),
        ("screen_lock_none.json", Status.FAIL),
    ],
)
def test_it_reads_the_screen_lock_settings(tmp_path: Path, fixture: str, expected: Status) -> None:
    probe = probe_with(dict([ps("screen_lock", fixture)]), tmp_path)
    assert result_of("windows", "screen_lock", probe).status is expected


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("remote_tools_teamviewer_auto_rdp.json", Status.FAIL),
        ("remote_tools_anydesk_manual.json", Status.PASS),
        ("remote_tools_none.json", Status.PASS),
    ],
)
def test_it_flags_remote_tools_that_start_without_the_user(
    tmp_path: Path, fixture: str, expected: Status
) -> None:
    probe = probe_with(dict([ps("remote_tools", fixture)]), tmp_path)
    result = result_of("windows", "remote_access", probe)
    assert result.status is expected
    if expected is Status.FAIL:
        assert "TeamViewer" in result.explanation
        assert "Bureau à distance" in result.explanation


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("netsh_wlan_en_wpa2.txt", Status.PASS),
        ("netsh_wlan_fr_wpa3.txt", Status.PASS),
        ("netsh_wlan_fr_open.txt", Status.FAIL),
        ("netsh_wlan_fr_disconnected.txt", Status.NOT_APPLICABLE),
        ("netsh_wlan_fr_no_interface.txt", Status.NOT_APPLICABLE),
        ("netsh_wlan_es.txt", Status.NOT_CHECKED),
    ],
)
def test_it_reads_the_wifi_security_in_english_and_french(
    tmp_path: Path, fixture: str, expected: Status
) -> None:
    probe = probe_with({NETSH_WLAN: answer(f"windows/{fixture}")}, tmp_path)
    assert result_of("windows", "wifi_security", probe).status is expected


def test_it_decodes_french_console_output_in_the_oem_code_page() -> None:
    from egide.posture.runner import decode_output

    raw = "État                                  Actif\r\n".encode("cp850")
    assert decode_output(raw) == "État                                  Actif\n"
