"""Project-level pages: home with the three pillar cards, health check, operator overview."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from egide import __version__
from egide.console.accounts.models import Practice
from egide.console.accounts.queries import current_user
from egide.console.backups.queries import status_of as backup_status
from egide.console.compliance.queries import home_card as compliance_card
from egide.console.compliance.staff_evidence import home_prompt as awareness_prompt
from egide.console.inbox.access import home_card as inbox_card


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = current_user(request)
    if user.is_operator:
        return render(request, "console/operator_home.html", {"practices": Practice.objects.all()})
    practice = user.practice
    return render(
        request,
        "console/home.html",
        {
            "practice": practice,
            "backup_status": backup_status(practice) if practice else None,
            "inbox_card": inbox_card(user),
            "compliance_card": compliance_card(practice) if practice else {"ready": False},
            "awareness_prompt": awareness_prompt(user),
        },
    )


@login_required
def operator_practices(request: HttpRequest) -> HttpResponse:
    if not current_user(request).is_operator:
        raise PermissionDenied("Réservé à l'équipe de l'opérateur.")
    return render(request, "console/operator_home.html", {"practices": Practice.objects.all()})


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers and `make run` checks."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except Exception:  # any driver error means "not ready"; the detail goes to the log only
        database = "unavailable"
    status = 200 if database == "ok" else 503
    return JsonResponse(
        {
            "status": "ok" if status == 200 else "error",
            "database": database,
            "version": __version__,
        },
        status=status,
    )
