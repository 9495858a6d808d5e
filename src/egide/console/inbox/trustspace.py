"""The trust space as the console sees it: the stored «liste blanche» and its refresh.

The list is fetched from `EGIDE_TRUST_LIST_SOURCE` (an HTTPS URL pinned to the IGC-Santé roots
given in `EGIDE_TRUST_LIST_CA_FILE`, or a local file the operator drops in place), checked by
`egide.messaging.trust`, and kept in the data directory. A refresh that fails — network down,
a truncated or unsigned file — is logged and audited, and the last good copy stays in force.
"""

from __future__ import annotations

import logging
import ssl
import threading
import urllib.request
from pathlib import Path

from django.conf import settings

from egide.console.audit import services as audit
from egide.messaging.errors import InvalidTrustList
from egide.messaging.trust import MAX_LIST_BYTES, TrustListStore, TrustSpace

log = logging.getLogger(__name__)
_lock = threading.Lock()
_cache: dict[str, tuple[float, TrustSpace | None]] = {}


class TrustListUnavailable(Exception):
    """The list could not be fetched; the previous copy is kept."""


def list_store() -> TrustListStore:
    anchors: list[bytes] = []
    if settings.EGIDE_TRUST_LIST_SIGNERS_FILE:
        anchors.append(Path(settings.EGIDE_TRUST_LIST_SIGNERS_FILE).read_bytes())
    return TrustListStore(Path(settings.EGIDE_TRUST_LIST_FILE), signer_anchors=anchors)


def current() -> TrustSpace | None:
    """The trust space in force (cached until the stored file changes), None if never loaded."""
    store = list_store()
    try:
        mtime = store.path.stat().st_mtime
    except FileNotFoundError:
        return None
    with _lock:
        cached = _cache.get(str(store.path))
        if cached and cached[0] == mtime:
            return cached[1]
    try:
        space = store.current()
    except InvalidTrustList:
        log.exception("the stored trust list is no longer readable")
        space = None
    with _lock:
        _cache[str(store.path)] = (mtime, space)
    return space


def _fetch(source: str) -> bytes:
    if source.startswith("https://"):
        context = ssl.create_default_context(cafile=settings.EGIDE_TRUST_LIST_CA_FILE or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            with urllib.request.urlopen(source, context=context, timeout=30) as response:  # noqa: S310
                data: bytes = response.read(MAX_LIST_BYTES + 1)
        except OSError as error:
            raise TrustListUnavailable(f"téléchargement impossible : {error}") from None
        return data
    if "://" in source:
        raise TrustListUnavailable("seules les sources https:// ou un fichier local sont acceptées")
    try:
        return Path(source).read_bytes()
    except OSError as error:
        raise TrustListUnavailable(f"lecture impossible : {error}") from None


def refresh(source: str | None = None) -> TrustSpace | None:
    """Fetch and install a new list; on any failure keep the previous one and audit why."""
    source = source or settings.EGIDE_TRUST_LIST_SOURCE
    if not source:
        return current()
    try:
        space = list_store().accept(_fetch(source))
    except (TrustListUnavailable, InvalidTrustList) as error:
        log.error("trust list refresh failed, keeping the last good copy: %s", error)
        audit.record(
            "trustlist.refresh_failed",
            practice_id=None,
            actor="worker",
            object_type="trustlist",
            object_id="listeblanche",
            details={"reason": str(error)[:300]},
        )
        return current()
    audit.record(
        "trustlist.refreshed",
        practice_id=None,
        actor="worker",
        object_type="trustlist",
        object_id="listeblanche",
        details={"domains": len(space.domains), "signed": space.signed},
    )
    return space


def explain_outside(addresses: list[str]) -> str:
    """The French explanation shown before sending to addresses outside the trust space."""
    return (
        "Envoi impossible hors de l'espace de confiance MSSanté : "
        + ", ".join(addresses)
        + ". Ces adresses n'appartiennent à aucun domaine de la liste blanche publiée par "
        "l'Agence du numérique en santé ; une messagerie ordinaire ne protège pas les données "
        "de santé. Vérifiez l'adresse dans l'annuaire santé (une adresse MSSanté se termine "
        "souvent par « mssante.fr »), ou transmettez le document par un autre moyen sécurisé."
    )
