"""The list of checks for each operating system, and running them all at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from .check import Check, CheckFunction, Verdict, not_checked, run_check
from .linux import accounts as linux_accounts
from .linux import antivirus as linux_antivirus
from .linux import disks as linux_disks
from .linux import firewall as linux_firewall
from .linux import remote_access as linux_remote
from .linux import screenlock as linux_screenlock
from .linux import updates as linux_updates
from .linux import wifi as linux_wifi
from .macos import checks as macos
from .measures import CHECKS
from .probe import Probe
from .result import CheckResult
from .windows import checks as windows

SYSTEMS = ("linux", "windows", "macos")


def build(functions: dict[str, CheckFunction]) -> tuple[Check, ...]:
    """Checks in report order; a check a system lacks says so instead of vanishing."""
    checks = []
    for name, (measure_id, title) in CHECKS.items():
        checks.append(Check(name, measure_id, title, functions.get(name, unavailable(title))))
    return tuple(checks)


def unavailable(title: str) -> CheckFunction:
    def check(probe: Probe) -> Verdict:
        return not_checked(
            None,
            f"« {title} » n'est pas vérifié automatiquement sur ce système.",
            "Vérifiez ce point à la main.",
        )

    return check


LINUX = build(
    {
        "antivirus_present": linux_antivirus.antivirus_present,
        "antivirus_realtime": linux_antivirus.antivirus_realtime,
        "antivirus_signatures": linux_antivirus.antivirus_signatures,
        "os_supported": linux_updates.os_supported,
        "security_updates": linux_updates.security_updates,
        "system_disk_encryption": linux_disks.system_disk_encryption,
        "removable_disk_encryption": linux_disks.removable_disk_encryption,
        "screen_lock": linux_screenlock.screen_lock,
        "firewall": linux_firewall.firewall,
        "administrators": linux_accounts.administrators,
        "remote_access": linux_remote.remote_access,
        "password_policy": linux_accounts.password_policy,
        "lockout_policy": linux_accounts.lockout_policy,
        "wifi_security": linux_wifi.wifi_security,
    }
)
WINDOWS = build(windows.FUNCTIONS)
MACOS = build(macos.FUNCTIONS)


def checks_for(system: str) -> tuple[Check, ...]:
    """The checks of `linux`, `windows` or `macos`."""
    return {"linux": LINUX, "windows": WINDOWS, "macos": MACOS}[system]


def inspect(
    probe: Probe,
    system: str,
    only: Sequence[str] = (),
    workers: int = 6,
    on_result: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Run every check of a system (or those named in `only`) in parallel, in report order.

    Checks mostly wait on programs (apt, PowerShell), so threads give the speed-up; each
    command carries its own time limit, so one hung program cannot hold the report.
    """
    checks = [c for c in checks_for(system) if not only or c.name in only]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(run_check, check, probe) for check in checks]
        results = []
        for future in futures:
            result = future.result()
            if on_result is not None:
                on_result(result)
            results.append(result)
    return results
