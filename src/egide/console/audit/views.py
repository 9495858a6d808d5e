"""The practice's own journal, readable by its practitioners and compliance lead."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .models import AuditEntry
from .services import chain_key, verify_chain


@login_required
def journal(request: HttpRequest) -> HttpResponse:
    practice_id = getattr(request.user, "practice_id", None)
    if practice_id is None:
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied("Le journal d'un cabinet est réservé à ses membres.")
    entries = AuditEntry.objects.filter(chain=chain_key(practice_id)).order_by("-seq")
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    problem = verify_chain(chain_key(practice_id))
    return render(request, "audit/journal.html", {"page": page, "problem": problem})
