"""The Windows check functions by check name."""

from __future__ import annotations

from ..check import CheckFunction
from . import accounts, antivirus, bitlocker, desktop, firewall, updates, wifi

FUNCTIONS: dict[str, CheckFunction] = {
    "antivirus_present": antivirus.antivirus_present,
    "antivirus_realtime": antivirus.antivirus_realtime,
    "antivirus_signatures": antivirus.antivirus_signatures,
    "os_supported": updates.os_supported,
    "security_updates": updates.security_updates,
    "system_disk_encryption": bitlocker.system_disk_encryption,
    "removable_disk_encryption": bitlocker.removable_disk_encryption,
    "screen_lock": desktop.screen_lock,
    "firewall": firewall.firewall,
    "administrators": accounts.administrators,
    "remote_access": desktop.remote_access,
    "password_policy": accounts.password_policy,
    "lockout_policy": accounts.lockout_policy,
    "wifi_security": wifi.wifi_security,
}
