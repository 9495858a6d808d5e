"""Certificate revocation lists of the trust space: which CRL files the relay checks, and their
download with the rest of the trust material.

IGC-Santé publishes a CRL per certification authority (ADR 0016: CRLs, not OCSP). The operator
either drops the files in place (`EGIDE_SMTP_CRL_FILES`) or lists their addresses
(`EGIDE_SMTP_CRL_URLS`): the worker then downloads them with the liste blanche, every six hours,
keeps only a CRL signed by a configured CA and still current, and replaces the file atomically.
The relay's TLS material notices the new file at the next handshake (`messaging.smtp_tls`). A
failed download is logged and audited, and the last good CRL stays in force.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.request
from pathlib import Path

from django.conf import settings

from egide.console.audit import services as audit
from egide.crypto import x509
from egide.crypto.errors import CryptoError

log = logging.getLogger(__name__)
MAX_CRL_BYTES = 20 * 1024 * 1024


def downloaded_path(url: str) -> Path:
    """Where the CRL fetched from `url` is kept (in the data directory)."""
    name = hashlib.sha256(url.encode()).hexdigest()[:16]
    return Path(settings.EGIDE_SMTP_CRL_DIR) / f"{name}.crl"


def crl_files() -> list[str]:
    """Every CRL file the relay checks: the configured ones and those downloaded."""
    return [
        *settings.EGIDE_SMTP_CRL_FILES,
        *(str(downloaded_path(url)) for url in settings.EGIDE_SMTP_CRL_URLS),
    ]


def _fetch(url: str) -> bytes:
    # Plain http is how CAs publish CRLs (RFC 5280 §4.2.1.13): the CRL is signed, which is
    # checked below, so the transport need not be trusted.
    if not url.startswith(("http://", "https://")):
        raise OSError("only http:// or https:// CRL addresses")
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310
        data: bytes = response.read(MAX_CRL_BYTES + 1)
    if len(data) > MAX_CRL_BYTES:
        raise OSError("CRL too large")
    return data


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(path)  # the listener never sees a half-written CRL


def refresh_crls() -> int:
    """Download every `EGIDE_SMTP_CRL_URLS` entry; return how many CRLs were renewed."""
    urls = settings.EGIDE_SMTP_CRL_URLS
    if not urls:
        return 0
    anchors = x509.load_certificates(Path(settings.EGIDE_SMTP_TRUST_ANCHORS_FILE).read_bytes())
    renewed = 0
    for url in urls:
        try:
            pem = x509.check_crl(_fetch(url), issuers=anchors)
        except (OSError, CryptoError) as error:
            log.error("CRL refresh from %s failed, keeping the last good copy: %s", url, error)
            audit.record(
                "crl.refresh_failed",
                practice_id=None,
                actor="worker",
                object_type="crl",
                object_id=url[:200],
                details={"reason": str(error)[:300]},
            )
            continue
        _write(downloaded_path(url), pem)
        audit.record(
            "crl.refreshed",
            practice_id=None,
            actor="worker",
            object_type="crl",
            object_id=url[:200],
        )
        renewed += 1
    return renewed
