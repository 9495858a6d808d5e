"""Windows checks: Security Center/Defender, Windows Update, BitLocker, firewall, local groups.

Language-neutral PowerShell JSON is preferred; the console tools (`net`, `netsh`, `manage-bde`)
answer in the system's language and are parsed in English and French — any other language is
reported as not understood rather than guessed.
"""
