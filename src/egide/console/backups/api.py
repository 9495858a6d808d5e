"""The agents' HTTPS API: bearer token, JSON in, problem details (RFC 9457) out."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from egide.console.audit import services as audit
from egide.posture.errors import MalformedReport
from egide.posture.report import read_report

from . import reports, services
from .models import Agent

log = logging.getLogger(__name__)


def problem(status: int, title: str, detail: str) -> JsonResponse:
    response = JsonResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail}, status=status
    )
    response["Content-Type"] = "application/problem+json"
    return response


def _agent_endpoint(
    handle: Callable[[Agent, dict[str, object]], dict[str, object]],
) -> Callable[[HttpRequest], JsonResponse]:
    @csrf_exempt  # machine clients authenticate with a bearer token, not a cookie
    @require_POST
    def view(request: HttpRequest) -> JsonResponse:
        agent = services.authenticate_agent(request)
        if agent is None:
            response = problem(401, "Jeton refusé", "Jeton d'agent inconnu, révoqué ou invalide.")
            response["WWW-Authenticate"] = 'Bearer realm="egide-agent"'
            return response
        try:
            body = handle(agent, reports.parse_json(request.body))
        except reports.ReportRejected as error:
            log.warning("report from agent %s rejected: %s", agent.pk, error)
            audit.record(
                "agent.report_rejected",
                practice_id=agent.practice_id,
                actor=f"agent:{agent.pk}",
                object_type="agent",
                object_id=agent.pk,
                ip=audit.client_ip(request),
                details={"path": request.path, "reason": str(error)[:200]},
            )
            return problem(400, "Rapport refusé", str(error))
        return JsonResponse(body, status=201)

    return view


def _backup(agent: Agent, data: dict[str, object]) -> dict[str, object]:
    report = services.receive_backup_run(agent, reports.parse_backup_run(data))
    return {"id": report.pk, "clock_skew_seconds": report.clock_skew_seconds}


def _drill(agent: Agent, data: dict[str, object]) -> dict[str, object]:
    drill = services.receive_drill(agent, reports.parse_drill(data, agent.secret_hash))
    return {"id": drill.pk, "passed": drill.passed}


def _posture(agent: Agent, data: dict[str, object]) -> dict[str, object]:
    try:
        received = read_report(data)
    except MalformedReport as error:
        raise reports.ReportRejected(str(error)) from None
    report = services.receive_posture(agent, received)
    return {"id": report.pk}


backup_report = _agent_endpoint(_backup)
drill_report = _agent_endpoint(_drill)
posture_report = _agent_endpoint(_posture)
