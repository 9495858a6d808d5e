"""Recipient suggestions for the compose form: hosted mailboxes, then the national directory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TypedDict

from django.conf import settings
from django.db.models import Q

from egide.messaging.directory import is_database_url, open_index
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
        index = open_index(index_location(), create=False)
    except DirectoryError:
        return found  # no directory imported yet: hosted mailboxes only
    try:
        for entry in index.search(query, limit=limit):
            if entry.address and all(s["address"] != entry.address for s in found):
                place = " ".join(part for part in (entry.profession, entry.city) if part)
                found.append({"address": entry.address, "label": f"{entry.display_name} — {place}"})
    except DirectoryError as error:
        log.warning("directory search failed: %s", error)
    finally:
        index.close()
    return found[:limit]
