"""Sending a posture report to the console: one HTTPS POST with the agent's bearer token."""

from __future__ import annotations

import ipaddress
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ReportDeliveryFailed

LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def send_report(
    url: str,
    token: str,
    report: dict[str, Any],
    *,
    timeout: float = 30.0,
    ca_file: Path | None = None,
    user_agent: str = "egide-agent",
) -> dict[str, Any]:
    """POST the report as JSON; return the console's JSON answer or raise `ReportDeliveryFailed`.

    Plain HTTP is refused except to the loopback address (a console on the same machine, or a
    test server): the token and the report must never cross a network in clear.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ReportDeliveryFailed(f"Adresse de console invalide : « {url} ».")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ReportDeliveryFailed("La console doit être jointe en HTTPS (adresse en http://).")
    if not token or any(c.isspace() for c in token):
        raise ReportDeliveryFailed("Jeton d'agent vide ou mal formé.")
    body = json.dumps(report, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "User-Agent": user_agent,
        },
    )
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310
            answer = response.read(1_000_000)
    except urllib.error.HTTPError as error:
        detail = error.read(300).decode("utf-8", errors="replace").strip()
        if error.code in {401, 403}:
            raise ReportDeliveryFailed(
                f"La console a refusé le jeton de l'agent (HTTP {error.code}) : vérifiez le "
                "fichier de jeton ou réinscrivez le poste."
            ) from None
        raise ReportDeliveryFailed(
            f"La console a refusé le rapport (HTTP {error.code}) : {detail[:200]}"
        ) from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise ReportDeliveryFailed(
                f"Certificat de la console non reconnu : {reason.verify_message}."
            ) from None
        raise ReportDeliveryFailed(f"Console injoignable : {reason}.") from None
    except (TimeoutError, OSError) as error:
        raise ReportDeliveryFailed(f"Console injoignable : {error}.") from None
    if not answer.strip():
        return {}
    try:
        parsed = json.loads(answer)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
