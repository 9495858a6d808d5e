"""Égide: protects the health data of French medical practices.

Three pillars share this distribution: secure health messaging (`egide.messaging`,
`egide.console.inbox`), encrypted backup to a certified health-data host (`egide.backup`,
`egide.console.backups`) and GDPR/CNIL compliance (`egide.console.compliance`, `egide.posture`).
Layers and import rules: see docs/architecture.md.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("egide")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
