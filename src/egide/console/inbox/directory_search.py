"""Recipient suggestions for the compose form: hosted mailboxes, then the national directory."""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path
from typing import TypedDict

from django.conf import settings
from django.db.models import Q

from egide.messaging.directory import DirectoryIndex, is_database_url, open_index
from egide.messaging.errors import DirectoryError

from .models import Mailbox

log = logging.getLogger(__name__)


class Suggestion(TypedDict):
    address: str
    label: str


def index_location() -> str | Path:
    """The operator's PostgreSQL when the console runs on it, else the embedded SQLite index."""
    url = str(settings.DATABASE_URL)
    return url if is_database_url(url) else Path(settings.DATA_DIR)


# The open index, kept between requests: opening one costs a connection (PostgreSQL) and the
# vocabulary's load, where a search takes a millisecond or two. Both back-ends serialise the
# searches of the console's threads on it.
_opened: dict[str, DirectoryIndex] = {}
_opened_lock = threading.Lock()


def _index() -> DirectoryIndex:
    """The index at `index_location()`, opened once per process (DirectoryError if absent)."""
    location = index_location()
    with _opened_lock:
        index = _opened.get(str(location))
        if index is None:
            index = open_index(location, create=False)
            for other in _opened.values():
                other.close()
            _opened.clear()
            _opened[str(location)] = index
        return index


def _forget(index: DirectoryIndex) -> None:
    """Close an index that failed (lost connection…): the next search opens it again."""
    with _opened_lock:
        for key, known in list(_opened.items()):
            if known is index:
                del _opened[key]
    with contextlib.suppress(DirectoryError):
        index.close()


def suggest(query: str, limit: int = 10) -> list[Suggestion]:
    """Addresses for what the person typed («dupont», «kiné lyon», an RPPS…)."""
    query = query.strip()
    if len(query) < 2:
        return []
    hosted = Mailbox.objects.filter(unlisted=False).filter(
        Q(address__icontains=query) | Q(display_name__icontains=query)
    )[:limit]
    found: list[Suggestion] = [
        {"address": box.address, "label": f"{box.display_name} — Égide"} for box in hosted
    ]
    try:
        index = _index()
    except DirectoryError:
        return found  # no directory imported yet: hosted mailboxes only
    try:
        for entry in index.search(query, limit=limit):
            if entry.address and all(s["address"] != entry.address for s in found):
                place = " ".join(part for part in (entry.profession, entry.city) if part)
                found.append({"address": entry.address, "label": f"{entry.display_name} — {place}"})
    except DirectoryError as error:
        log.warning("directory search failed: %s", error)
        _forget(index)
    return found[:limit]
