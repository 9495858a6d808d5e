"""Template filters for the dossier, whose dates travel as ISO 8601 strings."""

from __future__ import annotations

from datetime import date, datetime

from django import template
from django.utils import timezone

register = template.Library()


@register.filter
def isodate(value: str | None) -> str:
    """«2026-11-27T18:31:00+00:00» → «27/11/2026 19:31» (local time); dates alone stay dates."""
    if not value:
        return "—"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if len(value) == 10:
        return date.fromisoformat(value).strftime("%d/%m/%Y")
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return moment.strftime("%d/%m/%Y %H:%M")
