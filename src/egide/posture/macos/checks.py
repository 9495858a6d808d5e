"""The macOS check functions by check name."""

from __future__ import annotations

from ..check import CheckFunction
from . import removable, security, session

FUNCTIONS: dict[str, CheckFunction] = {
    "antivirus_present": security.antivirus_present,
    "antivirus_realtime": security.antivirus_realtime,
    "antivirus_signatures": security.antivirus_signatures,
    "os_supported": security.os_supported,
    "security_updates": security.security_updates,
    "system_disk_encryption": security.system_disk_encryption,
    "removable_disk_encryption": removable.removable_disk_encryption,
    "screen_lock": session.screen_lock,
    "firewall": security.firewall,
    "administrators": session.administrators,
    "remote_access": session.remote_access,
    "password_policy": session.password_policy,
    "lockout_policy": session.lockout_policy,
    "wifi_security": session.wifi_security,
}
