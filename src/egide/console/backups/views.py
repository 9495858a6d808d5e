"""Console pages «Sauvegarde» and «Postes», and the operator's fleet view."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from egide.console.accounts.models import Role
from egide.console.accounts.queries import current_practice, current_user, require_role

from . import queries, services
from .chart import bar_chart
from .forms import EnrolAgentForm
from .models import Agent, PostureReport, RestoreDrill

MANAGERS = (Role.PRACTITIONER, Role.COMPLIANCE_LEAD)


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    practice = current_practice(request)
    runs = queries.history(practice)
    oldest_first = list(reversed(runs))
    labels = [run.finished_at.strftime("%d/%m %H:%M") for run in oldest_first]
    context = {
        "status": queries.status_of(practice),
        "hosting": queries.hosting(practice),
        "runs": runs,
        "drills": RestoreDrill.objects.filter(practice=practice).select_related("agent")[:10],
        "agents": Agent.objects.filter(practice=practice, revoked_at__isnull=True),
        "form": EnrolAgentForm(),
        "can_manage": current_user(request).role in MANAGERS,
        "chart_added": bar_chart(
            [run.bytes_added / 2**20 for run in oldest_first],
            labels,
            title=_("Octets ajoutés par sauvegarde"),
            unit="Mio",
        ),
        "chart_duration": bar_chart(
            [run.duration_seconds for run in oldest_first],
            labels,
            title=_("Durée des sauvegardes"),
            unit="s",
        ),
    }
    return render(request, "backups/overview.html", context)


@login_required
@require_POST
def enrol(request: HttpRequest) -> HttpResponse:
    user = require_role(request, *MANAGERS)
    practice = current_practice(request)
    form = EnrolAgentForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Donnez un nom au poste (120 caractères au plus)."))
        return redirect("backups:overview")
    agent, token = services.enrol_agent(practice, form.cleaned_data["name"], by=user)
    return render(request, "backups/enrolled.html", {"agent": agent, "token": token})


@login_required
@require_POST
def revoke(request: HttpRequest, agent_id: int) -> HttpResponse:
    user = require_role(request, *MANAGERS)
    agent = get_object_or_404(Agent, pk=agent_id, practice=current_practice(request))
    services.revoke_agent(agent, by=user)
    messages.success(
        request, _("Le poste « %(name)s » ne peut plus envoyer de rapports.") % {"name": agent.name}
    )
    return redirect("backups:overview")


@login_required
def computers(request: HttpRequest) -> HttpResponse:
    practice = current_practice(request)
    rows = []
    for agent in Agent.objects.filter(practice=practice, revoked_at__isnull=True):
        report = PostureReport.objects.filter(agent=agent).first()
        rows.append((agent, report))
    return render(request, "backups/computers.html", {"rows": rows})


@login_required
def fleet(request: HttpRequest) -> HttpResponse:
    if not current_user(request).is_operator:
        raise PermissionDenied(_("Réservé à l'équipe de l'opérateur."))
    return render(request, "backups/fleet.html", {"rows": queries.fleet()})
