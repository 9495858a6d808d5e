"""Which operating-system versions still receive security updates: a dated snapshot.

The table is data, not logic: refresh it when vendors publish new dates. `SNAPSHOT` is the day
it was last reviewed. Dates are the end of security updates (for Debian, the end of LTS; for
Windows, per edition family; Microsoft's paid extended updates are not counted). Apple publishes
no end dates: its practice is to patch the three latest macOS versions, so the dates below for
macOS are estimates marked as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from .check import Verdict, failed, not_checked, passed

SNAPSHOT: Final = date(2026, 11, 1)


@dataclass(frozen=True)
class Support:
    """The end of security updates for one version (None: no end announced)."""

    label: str
    ends: date | None
    estimated: bool = False


LINUX: Final[dict[tuple[str, str], Support]] = {
    ("debian", "10"): Support("Debian 10 « buster »", date(2024, 6, 30)),
    ("debian", "11"): Support("Debian 11 « bullseye »", date(2026, 8, 31)),
    ("debian", "12"): Support("Debian 12 « bookworm »", date(2028, 6, 30)),
    ("debian", "13"): Support("Debian 13 « trixie »", date(2030, 6, 30)),
    ("ubuntu", "20.04"): Support("Ubuntu 20.04 LTS", date(2025, 5, 31)),
    ("ubuntu", "22.04"): Support("Ubuntu 22.04 LTS", date(2027, 6, 1)),
    ("ubuntu", "24.04"): Support("Ubuntu 24.04 LTS", date(2029, 5, 31)),
    ("ubuntu", "25.04"): Support("Ubuntu 25.04", date(2026, 1, 15)),
    ("ubuntu", "25.10"): Support("Ubuntu 25.10", date(2026, 7, 15)),
    ("ubuntu", "26.04"): Support("Ubuntu 26.04 LTS", date(2031, 5, 31), estimated=True),
    ("linuxmint", "21"): Support("Linux Mint 21", date(2027, 4, 30)),
    ("linuxmint", "22"): Support("Linux Mint 22", date(2029, 4, 30)),
    ("fedora", "41"): Support("Fedora 41", date(2025, 12, 15)),
    ("fedora", "42"): Support("Fedora 42", date(2026, 5, 13), estimated=True),
    ("fedora", "43"): Support("Fedora 43", date(2026, 12, 9), estimated=True),
    ("rhel", "8"): Support("Red Hat Enterprise Linux 8", date(2029, 5, 31)),
    ("rhel", "9"): Support("Red Hat Enterprise Linux 9", date(2032, 5, 31)),
    ("rocky", "8"): Support("Rocky Linux 8", date(2029, 5, 31)),
    ("rocky", "9"): Support("Rocky Linux 9", date(2032, 5, 31)),
    ("almalinux", "8"): Support("AlmaLinux 8", date(2029, 5, 31)),
    ("almalinux", "9"): Support("AlmaLinux 9", date(2032, 5, 31)),
}

# Distributions whose VERSION_ID carries a minor number that does not change support.
LINUX_MAJOR_ONLY: Final = frozenset({"debian", "linuxmint", "rhel", "rocky", "almalinux"})

# Windows build number -> (version label, end for Home/Pro, end for Enterprise/Education).
WINDOWS: Final[dict[int, tuple[str, date, date]]] = {
    19045: ("Windows 10 22H2", date(2025, 10, 14), date(2025, 10, 14)),
    22000: ("Windows 11 21H2", date(2023, 10, 10), date(2024, 10, 8)),
    22621: ("Windows 11 22H2", date(2024, 10, 8), date(2025, 10, 14)),
    22631: ("Windows 11 23H2", date(2025, 11, 11), date(2026, 11, 10)),
    26100: ("Windows 11 24H2", date(2026, 10, 13), date(2027, 10, 12)),
    26200: ("Windows 11 25H2", date(2027, 10, 12), date(2028, 10, 10)),
}

# Long-term servicing editions (EditionID "EnterpriseS"/"IoTEnterpriseS") by build.
WINDOWS_LTSC: Final[dict[int, tuple[str, date]]] = {
    17763: ("Windows 10 Entreprise LTSC 2019", date(2029, 1, 9)),
    19044: ("Windows 10 Entreprise LTSC 2021", date(2027, 1, 12)),
    26100: ("Windows 11 Entreprise LTSC 2024", date(2029, 10, 9)),
}

ENTERPRISE_EDITIONS: Final = frozenset(
    {"enterprise", "enterprisen", "education", "educationn", "iotenterprise"}
)

MACOS: Final[dict[int, Support]] = {
    11: Support("macOS 11 Big Sur", date(2023, 9, 26)),
    12: Support("macOS 12 Monterey", date(2024, 9, 16)),
    13: Support("macOS 13 Ventura", date(2025, 9, 15)),
    14: Support("macOS 14 Sonoma", date(2026, 9, 15), estimated=True),
    15: Support("macOS 15 Sequoia", date(2027, 9, 15), estimated=True),
    26: Support("macOS 26 Tahoe", None),
}


def linux_support(distribution: str, version: str) -> Support | None:
    """Support of a Linux distribution version (os-release ID and VERSION_ID), if known."""
    key = version.split(".")[0] if distribution in LINUX_MAJOR_ONLY else version
    return LINUX.get((distribution, key))


def windows_support(build: int, edition: str) -> Support | None:
    """Support of a Windows build for its edition (EditionID), if known."""
    edition = edition.lower()
    if edition.endswith("s") and edition.rstrip("s") in {"enterprise", "iotenterprise"}:
        ltsc = WINDOWS_LTSC.get(build)
        return Support(*ltsc) if ltsc else None
    known = WINDOWS.get(build)
    if known is None:
        return None
    label, consumer_end, enterprise_end = known
    if edition in ENTERPRISE_EDITIONS:
        return Support(f"{label} (Entreprise/Éducation)", enterprise_end)
    return Support(label, consumer_end)


def macos_support(major: int) -> Support | None:
    """Support of a macOS major version, if known."""
    return MACOS.get(major)


def judge_support(observed: object, support: Support | None, today: date, upgrade: str) -> Verdict:
    """The verdict on a version's support: unknown versions are `not_checked`, never a pass."""
    if support is None:
        return not_checked(
            observed,
            "Cette version du système n'est pas dans la table des versions maintenues d'Égide "
            f"(revue le {SNAPSHOT:%d/%m/%Y}) : rien n'est conclu.",
            "Vérifiez sur le site de l'éditeur que cette version reçoit encore des correctifs.",
        )
    estimate = " (date estimée : l'éditeur n'en publie pas)" if support.estimated else ""
    if support.ends is not None and support.ends < today:
        return failed(
            observed,
            f"{support.label} ne reçoit plus de correctifs de sécurité depuis le "
            f"{support.ends:%d/%m/%Y}{estimate}.",
            upgrade,
        )
    until = f" jusqu'au {support.ends:%d/%m/%Y}{estimate}" if support.ends else ""
    return passed(observed, f"{support.label} reçoit des correctifs de sécurité{until}.")
