"""macOS checks: XProtect/Gatekeeper, softwareupdate, FileVault, screen lock, firewall."""
