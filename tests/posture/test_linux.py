"""Linux checks on recorded outputs and on temporary system files (a fake root)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from egide.posture.linux.antivirus import database_built
from egide.posture.linux.updates import pending_apt_security, pending_dnf_security
from egide.posture.result import Status
from egide.posture.runner import Recording

from .conftest import NOW, answer, probe_with, recorded, result_of

LSBLK = ("lsblk", "--json", "-o", "NAME,TYPE,FSTYPE,MOUNTPOINT,RM,HOTPLUG,TRAN")
APT = ("apt-get", "-s", "-o", "Debug::NoLocking=true", "dist-upgrade")
NMCLI = ("nmcli", "-t", "-f", "ACTIVE,SSID,SECURITY", "device", "wifi", "list", "--rescan", "no")


def write(root: Path, path: str, text: str) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def cvd(built: datetime, version: int = 27452) -> bytes:
    """A ClamAV database header as freshclam writes it (512 bytes, space padded)."""
    human = built.strftime("%d %b %Y %H-%M %z")
    header = (
        f"ClamAV-VDB:{human}:{version}:2070291:90:0a1b2c3d4e5f60718293a4b5c6d7e8f9:"
        f"dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZQ:raynman:{int(built.timestamp())}"
    )
    return header.encode("ascii").ljust(512, b" ") + b"\x1f\x8b\x08\x00fake-tar-gz"


def test_it_reads_the_build_time_of_a_clamav_database() -> None:
    built = datetime(2024, 11, 13, 8, 19, tzinfo=UTC)
    assert database_built(cvd(built)) == (27452, built)
    # Old databases without the seconds field fall back to the human date.
    old = b"ClamAV-VDB:16 Sep 2021 08-32 -0400:26294:3984447:90:md5:dsig:builder".ljust(512)
    assert database_built(old)[1] == datetime(2021, 9, 16, 12, 32, tzinfo=UTC)


@pytest.mark.parametrize("garbage", [b"", b"PK\x03\x04zip", b"ClamAV-VDB:only:two"])
def test_it_refuses_a_database_header_it_cannot_read(tmp_path: Path, garbage: bytes) -> None:
    (tmp_path / "daily.cld").write_bytes(garbage)
    probe = probe_with({}, tmp_path, clamav_database=tmp_path)
    assert result_of("linux", "antivirus_signatures", probe).status is Status.NOT_CHECKED


def test_a_stale_clamav_database_turns_the_signature_check_to_fail(tmp_path: Path) -> None:
    database = tmp_path / "clamav"
    database.mkdir()
    probe = probe_with({}, tmp_path, clamav_database=database)
    (database / "daily.cvd").write_bytes(cvd(NOW - timedelta(hours=20)))
    fresh = result_of("linux", "antivirus_signatures", probe)
    assert fresh.status is Status.PASS
    # freshclam stopped: the incremental daily.cld is now nine days old and the only database.
    (database / "daily.cvd").unlink()
    (database / "daily.cld").write_bytes(cvd(NOW - timedelta(days=9), version=27444))
    stale = result_of("linux", "antivirus_signatures", probe)
    assert stale.status is Status.FAIL
    assert stale.observed["version"] == 27444
    assert "9 jours" in stale.explanation


def test_it_finds_the_database_directory_in_freshclam_conf(tmp_path: Path) -> None:
    write(tmp_path, "/etc/clamav/freshclam.conf", "# local\nDatabaseDirectory /srv/clamav\n")
    (tmp_path / "srv" / "clamav").mkdir(parents=True)
    (tmp_path / "srv" / "clamav" / "daily.cld").write_bytes(cvd(NOW - timedelta(hours=3)))
    probe = probe_with({}, tmp_path)
    assert result_of("linux", "antivirus_signatures", probe).status is Status.PASS


@pytest.mark.parametrize(
    ("fixture", "system", "removable"),
    [
        ("lsblk_luks_laptop.json", Status.PASS, Status.PASS),
        ("lsblk_plain_with_usb_key.json", Status.FAIL, Status.FAIL),
        ("lsblk_util_linux_2_33.json", Status.PASS, Status.FAIL),
        ("lsblk_container.json", Status.NOT_CHECKED, Status.NOT_APPLICABLE),
    ],
)
def test_it_follows_the_device_tree_to_find_luks(
    tmp_path: Path, fixture: str, system: Status, removable: Status
) -> None:
    probe = probe_with({LSBLK: answer(f"linux/{fixture}")}, tmp_path)
    assert result_of("linux", "system_disk_encryption", probe).status is system
    assert result_of("linux", "removable_disk_encryption", probe).status is removable


def test_it_counts_only_packages_from_security_archives() -> None:
    debian = pending_apt_security(recorded("linux/apt_simulate_debian12_security.txt"))
    assert debian == ["libssl3 3.0.13-1~deb12u1", "openssl 3.0.13-1~deb12u1"]
    ubuntu = pending_apt_security(recorded("linux/apt_simulate_ubuntu2204_security.txt"))
    assert ubuntu == ["libc6 2.35-0ubuntu3.7"]
    assert pending_dnf_security(recorded("linux/dnf_updateinfo_fedora40.txt")) == [
        "glibc-2.39-8.fc40.x86_64",
        "glibc-common-2.39-8.fc40.x86_64",
        "openssh-9.6p1-1.fc40.6.x86_64",
    ]


def test_it_fails_when_the_apt_lists_are_old_even_if_nothing_is_pending(tmp_path: Path) -> None:
    stamp = write(tmp_path, "/var/lib/apt/periodic/update-success-stamp", "")
    recordings: dict[tuple[str, ...], Recording] = {
        APT: answer("linux/apt_simulate_up_to_date.txt")
    }
    now = datetime.now(UTC)
    probe = probe_with(recordings, tmp_path, now=now)
    assert result_of("linux", "security_updates", probe).status is Status.PASS
    month_ago = (now - timedelta(days=30, hours=1)).timestamp()
    os.utime(stamp, (month_ago, month_ago))
    old = result_of("linux", "security_updates", probe)
    assert old.status is Status.FAIL
    assert "30 jours" in old.explanation


def test_it_falls_back_to_dnf_and_fails_on_security_advisories(tmp_path: Path) -> None:
    dnf = ("dnf", "-q", "updateinfo", "list", "--security")
    probe = probe_with({dnf: answer("linux/dnf_updateinfo_fedora40.txt")}, tmp_path)
    result = result_of("linux", "security_updates", probe)
    assert result.status is Status.FAIL
    assert result.observed["pending_count"] == 3


def test_it_does_not_understand_apt_speaking_french(tmp_path: Path) -> None:
    probe = probe_with({APT: answer("linux/apt_simulate_fr.txt")}, tmp_path)
    assert result_of("linux", "security_updates", probe).status is Status.NOT_CHECKED


@pytest.mark.parametrize(
    ("os_release", "expected"),
    [
        ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n', Status.PASS),
        ('PRETTY_NAME="Debian GNU/Linux 10 (buster)"\nID=debian\nVERSION_ID="10"\n', Status.FAIL),
        ('NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="22.04"\n', Status.PASS),
        ('PRETTY_NAME="Debian GNU/Linux trixie/sid"\nID=debian\n', Status.NOT_CHECKED),
        ('ID=gentoo\nVERSION_ID="2.15"\n', Status.NOT_CHECKED),
    ],
)
def test_it_knows_which_distributions_are_maintained(
    tmp_path: Path, os_release: str, expected: Status
) -> None:
    write(tmp_path, "/etc/os-release", os_release)
    assert result_of("linux", "os_supported", probe_with({}, tmp_path)).status is expected


def test_flipping_ufw_in_its_config_file_flips_the_firewall_check(tmp_path: Path) -> None:
    conf = write(tmp_path, "/etc/ufw/ufw.conf", "# /etc/ufw/ufw.conf\nENABLED=no\nLOGLEVEL=low\n")
    probe = probe_with({}, tmp_path)
    assert result_of("linux", "firewall", probe).status is Status.FAIL
    conf.write_text("ENABLED=yes\nLOGLEVEL=low\n", encoding="utf-8")
    result = result_of("linux", "firewall", probe)
    assert result.status is Status.PASS
    assert result.observed == {"ufw": True}


def test_ufw_status_as_root_wins_over_the_config_file(tmp_path: Path) -> None:
    write(tmp_path, "/etc/ufw/ufw.conf", "ENABLED=yes\n")
    inactive = Recording(stdout="Status: inactive\n")
    assert (
        result_of("linux", "firewall", probe_with({("ufw", "status"): inactive}, tmp_path)).status
        is Status.FAIL
    )


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [("nft_ruleset_filtering.txt", Status.PASS), ("nft_ruleset_accept_all.txt", Status.FAIL)],
)
def test_it_reads_an_nftables_ruleset(tmp_path: Path, fixture: str, expected: Status) -> None:
    probe = probe_with({("nft", "list", "ruleset"): answer(f"linux/{fixture}")}, tmp_path)
    assert result_of("linux", "firewall", probe).status is expected


def test_it_asks_for_root_when_nft_is_denied(tmp_path: Path) -> None:
    write(tmp_path, "/usr/sbin/nft", "")
    denied = Recording(
        stderr="Error: Could not process rule: Operation not permitted\nlist ruleset\n^^^^^^^^\n",
        returncode=1,
    )
    result = result_of(
        "linux", "firewall", probe_with({("nft", "list", "ruleset"): denied}, tmp_path)
    )
    assert result.status is Status.NOT_CHECKED
    assert "root" in result.explanation


def gnome(lock: str, idle: str, delay: str = "uint32 0") -> dict[tuple[str, ...], Recording]:
    return {
        ("gnome-shell", "--version"): Recording(stdout="GNOME Shell 43.9\n"),
        ("gsettings", "get", "org.gnome.desktop.screensaver", "lock-enabled"): Recording(
            stdout=lock
        ),
        ("gsettings", "get", "org.gnome.desktop.session", "idle-delay"): Recording(stdout=idle),
        ("gsettings", "get", "org.gnome.desktop.screensaver", "lock-delay"): Recording(
            stdout=delay
        ),
        ("gsettings", "get", "org.gnome.desktop.lockdown", "disable-lock-screen"): Recording(
            stdout="false\n"
        ),
    }


@pytest.mark.parametrize(
    ("lock", "idle", "expected"),
    [
        ("true\n", "uint32 300\n", Status.PASS),
        ("true\n", "uint32 900\n", Status.FAIL),
        ("false\n", "uint32 300\n", Status.FAIL),
        ("true\n", "uint32 0\n", Status.FAIL),
        ("vrai\n", "uint32 300\n", Status.NOT_CHECKED),
    ],
)
def test_it_reads_the_gnome_lock_settings(
    tmp_path: Path, lock: str, idle: str, expected: Status
) -> None:
    probe = probe_with(gnome(lock, idle), tmp_path)
    assert result_of("linux", "screen_lock", probe).status is expected


def test_editing_kscreenlockerrc_flips_the_kde_screen_lock_check(tmp_path: Path) -> None:
    home = tmp_path / "home" / "secretariat"
    rc = write(home, ".config/kscreenlockerrc", "[Daemon]\nAutolock=false\n")
    probe = probe_with({}, tmp_path, home=home)
    assert result_of("linux", "screen_lock", probe).status is Status.FAIL
    rc.write_text("[Daemon]\nAutolock=true\nTimeout=15\n", encoding="utf-8")
    assert result_of("linux", "screen_lock", probe).status is Status.FAIL
    rc.write_text("[Daemon]\nTimeout=5\nLockGrace=10\n", encoding="utf-8")
    result = result_of("linux", "screen_lock", probe)
    assert result.status is Status.PASS
    assert result.observed["KDE Plasma"]["locks_after_seconds"] == 310


def test_it_says_not_checked_without_a_known_desktop(tmp_path: Path) -> None:
    assert result_of("linux", "screen_lock", probe_with({}, tmp_path)).status is Status.NOT_CHECKED


def admins(members: str, groups: str) -> dict[tuple[str, ...], Recording]:
    return {
        ("getent", "group", "sudo", "wheel", "admin"): Recording(stdout=members),
        ("id", "-Gn", "drmartin"): Recording(stdout=groups),
    }


def test_it_flags_a_daily_user_in_the_sudo_group(tmp_path: Path) -> None:
    write(tmp_path, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
    probe = probe_with(
        admins("sudo:x:27:drmartin,maintenance\n", "drmartin sudo users\n"), tmp_path
    )
    result = result_of("linux", "administrators", probe)
    assert result.status is Status.FAIL
    assert result.observed["admin_accounts"] == ["drmartin", "maintenance", "root"]
    probe = probe_with(admins("sudo:x:27:maintenance\n", "drmartin users\n"), tmp_path)
    assert result_of("linux", "administrators", probe).status is Status.PASS


def test_it_reads_the_pam_password_and_lockout_rules(tmp_path: Path) -> None:
    write(
        tmp_path,
        "/etc/pam.d/common-password",
        "password\trequisite\t\t\tpam_pwquality.so retry=3\n"
        "password\t[success=1 default=ignore]\tpam_unix.so obscure use_authtok yescrypt\n",
    )
    write(tmp_path, "/etc/security/pwquality.conf", "# minlen = 8\nminlen = 12\n")
    write(
        tmp_path,
        "/etc/pam.d/common-auth",
        "auth\trequired\tpam_faillock.so preauth\n"
        "auth\t[success=1 default=ignore]\tpam_unix.so nullok\n",
    )
    write(tmp_path, "/etc/security/faillock.conf", "deny = 5\nunlock_time = 900\n")
    probe = probe_with({}, tmp_path)
    password = result_of("linux", "password_policy", probe)
    assert password.status is Status.PASS
    assert password.observed["min_length"] == 12
    assert result_of("linux", "lockout_policy", probe).status is Status.PASS
    # Debian's default stack: pam_unix alone (6 characters), no lockout.
    write(
        tmp_path,
        "/etc/pam.d/common-password",
        "password\t[success=1 default=ignore]\tpam_unix.so obscure yescrypt\n",
    )
    write(
        tmp_path, "/etc/pam.d/common-auth", "auth\t[success=1 default=ignore]\tpam_unix.so nullok\n"
    )
    assert result_of("linux", "password_policy", probe).status is Status.FAIL
    assert result_of("linux", "lockout_policy", probe).status is Status.FAIL


def test_it_flags_a_remote_tool_that_starts_at_boot(tmp_path: Path) -> None:
    from egide.posture.linux.remote_access import TOOLS

    dpkg = (
        "dpkg-query",
        "-W",
        "-f=${binary:Package}\\t${db:Status-Abbrev}\\n",
        *TOOLS,
    )
    listed = Recording(
        stdout="anydesk\tii \n",
        stderr="".join(
            f"dpkg-query: no packages found matching {t}\n" for t in TOOLS if t != "anydesk"
        ),
        returncode=1,
    )
    enabled = {
        dpkg: listed,
        ("systemctl", "is-enabled", "anydesk.service"): Recording(stdout="enabled\n"),
        ("systemctl", "is-active", "anydesk.service"): Recording(stdout="active\n"),
    }
    result = result_of("linux", "remote_access", probe_with(enabled, tmp_path))
    assert result.status is Status.FAIL
    assert result.observed["installed"] == ["anydesk"]
    enabled[("systemctl", "is-enabled", "anydesk.service")] = Recording(
        stdout="disabled\n", returncode=1
    )
    enabled[("systemctl", "is-active", "anydesk.service")] = Recording(
        stdout="inactive\n", returncode=3
    )
    assert result_of("linux", "remote_access", probe_with(enabled, tmp_path)).status is Status.PASS


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("nmcli_wpa2.txt", Status.PASS),
        ("nmcli_open.txt", Status.FAIL),
        ("nmcli_disconnected.txt", Status.NOT_APPLICABLE),
        ("nmcli_fr.txt", Status.PASS),
    ],
)
def test_it_reads_the_security_of_the_active_wifi(
    tmp_path: Path, fixture: str, expected: Status
) -> None:
    (tmp_path / "sys" / "class" / "net" / "wlp2s0" / "wireless").mkdir(parents=True)
    probe = probe_with({NMCLI: answer(f"linux/{fixture}")}, tmp_path)
    result = result_of("linux", "wifi_security", probe)
    assert result.status is expected
    if fixture == "nmcli_wpa2.txt":
        assert result.observed["ssid"] == "Cabinet:Dupont"


def test_a_malformed_pam_line_is_not_understood(tmp_path: Path) -> None:
    write(tmp_path, "/etc/pam.d/common-password", "password\t[success=1\tpam_unix.so\n")
    result = result_of("linux", "password_policy", probe_with({}, tmp_path))
    assert result.status is Status.NOT_CHECKED
    assert "mal formée" in result.explanation
