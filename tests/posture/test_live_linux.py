"""The Linux checks on this very machine, with real programs: honest, whatever the machine is.

CI runs in a Debian container: no desktop, no Wi-Fi, often root. Many checks are then
`not_applicable` or `not_checked`, and that is the expected, honest answer.
"""

from __future__ import annotations

import getpass
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from egide.posture.catalogue import checks_for, inspect
from egide.posture.probe import Probe
from egide.posture.result import CheckResult, Status
from egide.posture.runner import SubprocessRunner

from .test_linux import cvd

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux checks run on Linux")


def live_probe(clamav_database: Path | None = None) -> Probe:
    return Probe(
        runner=SubprocessRunner(env={**os.environ, "LC_ALL": "C", "LANG": "C"}),
        now=datetime.now(UTC),
        user=getpass.getuser(),
        home=Path.home(),
        clamav_database=clamav_database,
        timeout=60,
    )


@pytest.fixture(scope="module")
def results() -> dict[str, CheckResult]:
    return {r.check: r for r in inspect(live_probe(), "linux")}


def test_every_linux_check_answers_on_this_machine(results: dict[str, CheckResult]) -> None:
    assert list(results) == [c.name for c in checks_for("linux")]
    for result in results.values():
        assert result.status in set(Status)
        assert result.explanation
        assert result.status is not Status.ERROR, result


def test_it_does_not_invent_a_desktop_or_a_wifi_card(results: dict[str, CheckResult]) -> None:
    wireless = [p for p in Path("/sys/class/net").iterdir() if (p / "wireless").exists()]
    if not wireless:
        assert results["wifi_security"].status is Status.NOT_APPLICABLE
    shells = [p for p in ("/usr/bin/gnome-shell", "/usr/bin/plasmashell") if Path(p).exists()]
    if not shells:
        assert results["screen_lock"].status is not Status.PASS


def test_root_as_daily_user_is_an_administrator(results: dict[str, CheckResult]) -> None:
    result = results["administrators"]
    if getpass.getuser() == "root":
        assert result.status is Status.FAIL
    assert "root" in result.observed["admin_accounts"]


def test_the_real_os_release_is_judged(results: dict[str, CheckResult]) -> None:
    release = Path("/etc/os-release").read_text(encoding="utf-8")
    result = results["os_supported"]
    if 'VERSION_ID="12"' in release and "ID=debian" in release:
        assert result.status is Status.PASS
    else:
        assert result.status is not Status.ERROR


def test_the_real_clamav_is_seen_and_a_stale_database_flips_its_check(tmp_path: Path) -> None:
    database = tmp_path / "clamav"
    database.mkdir()
    probe = live_probe(clamav_database=database)
    (database / "daily.cld").write_bytes(cvd(datetime.now(UTC) - timedelta(hours=5)))
    fresh = inspect(probe, "linux", only=["antivirus_signatures"])[0]
    assert fresh.status is Status.PASS
    (database / "daily.cld").write_bytes(cvd(datetime.now(UTC) - timedelta(days=12)))
    stale = inspect(probe, "linux", only=["antivirus_signatures"])[0]
    assert stale.status is Status.FAIL
    present = inspect(probe, "linux", only=["antivirus_present"])[0]
    if Path("/usr/bin/clamscan").exists():
        assert present.status is Status.PASS
        assert present.observed.startswith("ClamAV ")
    else:
        assert present.status is Status.FAIL
