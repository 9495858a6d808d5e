"""Which computer and system the checks run on."""

from __future__ import annotations

import platform
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class Host:
    """The computer being checked, as named in reports."""

    hostname: str
    system: str  # linux, windows or macos
    os_name: str
    os_version: str
    architecture: str


def current_host() -> Host:
    """Describe the computer the agent runs on (from the `platform` module, no commands)."""
    raw = platform.system().lower()
    system = {"darwin": "macos"}.get(raw, raw)
    if system == "macos":
        version = platform.mac_ver()[0]
        name = "macOS"
    elif system == "windows":
        version = platform.version()
        name = f"Windows {platform.release()}"
    else:
        version = platform.release()
        try:
            name = platform.freedesktop_os_release().get("PRETTY_NAME", "Linux")
        except OSError:
            name = "Linux"
    return Host(
        hostname=socket.gethostname(),
        system=system,
        os_name=name,
        os_version=version,
        architecture=platform.machine(),
    )
