"""The dossier de conformité: one dated document, JSON for machines and PDF for people.

JSON format `egide-compliance-dossier/1` (see docs/formats/compliance-dossier.md): top-level
`practice`, `generated_at`, `framework_version`, `measures` (stable ids), `findings`, `registers`
and `sha256`, the SHA-256 of the canonical JSON of the document without that field (keys sorted,
UTF-8, separators `,` and `:`). The PDF prints the same content hash on every page and in its
keywords metadata; the PDF file's own hash is returned to the caller and audited.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from egide.console.accounts.models import Practice, User
from egide.console.audit.services import record

from . import chart
from .clocks import breach_deadline
from .errors import InvalidInput
from .findings import findings_for
from .models import Breach, CertifiedHostList, Processor, ProcessorKind, RightsRequest, Status
from .queries import current_framework, measure_views, score_history, scores_of
from .register import freeze_register, is_listed
from .rights import clocks_of

FORMAT = "egide-compliance-dossier/1"


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8"
    )


def content_hash(document: dict[str, Any]) -> str:
    """SHA-256 of the document without its `sha256` field (what a verifier recomputes)."""
    return hashlib.sha256(
        canonical({key: value for key, value in document.items() if key != "sha256"})
    ).hexdigest()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _processor(
    processor: Processor, today: Any, host_list: CertifiedHostList | None
) -> dict[str, Any]:
    hosts_data = processor.hosts_health_data or processor.kind == ProcessorKind.HDS_HOST
    if not hosts_data:
        hds_status = "non_requis"
    elif processor.hds_expires_on is None:
        hds_status = "absent"
    else:
        hds_status = "expire" if processor.hds_expires_on < today else "valide"
    listed = None
    if hosts_data and host_list is not None:
        listed = is_listed(processor, host_list)
    return {
        "id": processor.pk,
        "name": processor.name,
        "kind": processor.kind,
        "handles_health_data": processor.handles_health_data,
        "contract_signed_on": processor.contract_signed_on.isoformat()
        if processor.contract_signed_on
        else None,
        "art28_clauses": dict(processor.clauses),
        "missing_clauses": processor.missing_clauses,
        "hds_scope": processor.hds_scope,
        "hds_expires_on": processor.hds_expires_on.isoformat()
        if processor.hds_expires_on
        else None,
        "hds_status": hds_status,
        "listed_as_certified": listed,
        "certified_list_date": host_list.snapshot_date.isoformat() if host_list else None,
    }


def _breach(breach: Breach) -> dict[str, Any]:
    deadline = breach_deadline(breach.aware_at)
    return {
        "id": breach.pk,
        "scenario": breach.scenario,
        "summary": breach.summary,
        "aware_at": _iso(breach.aware_at),
        "notification_deadline": _iso(deadline),
        "risk_level": breach.risk_level or None,
        "risk_rationale": breach.risk_rationale,
        "cnil_notified_at": _iso(breach.cnil_notified_at),
        "notified_late": bool(breach.cnil_notified_at and breach.cnil_notified_at > deadline),
        "patients_informed_at": _iso(breach.patients_informed_at),
        "closed_at": _iso(breach.closed_at),
    }


def _rights(request: RightsRequest) -> dict[str, Any]:
    clocks = clocks_of(request)
    # The requester's name stays out of the dossier: it proves the process, not identities.
    return {
        "id": request.pk,
        "kind": request.kind,
        "received_at": _iso(request.received_at),
        "medical_record": request.medical_record,
        "gdpr_deadline": _iso(clocks.gdpr_deadline),
        "csp_earliest": _iso(clocks.csp_earliest),
        "csp_deadline": _iso(clocks.csp_deadline),
        "deadline": _iso(clocks.binding_deadline),
        "identity_checked_at": _iso(request.identity_checked_at),
        "answered_at": _iso(request.answered_at),
        "closure_proof": request.closure_proof,
    }


def build_dossier(practice: Practice, user: User | None = None) -> dict[str, Any]:
    """The dossier as data, sealed with its `sha256`."""
    framework = current_framework()
    if framework is None:
        raise InvalidInput("Aucun référentiel n'est chargé.")
    views = measure_views(practice, framework)
    overall, by_theme = scores_of(views)
    found = findings_for(practice, views)
    today = timezone.localdate()
    host_list = CertifiedHostList.objects.first()
    register = freeze_register(practice, user)
    measures = [
        {
            "id": view.ref,
            "title": view.title,
            "theme": view.theme,
            "status": view.status.value,
            "declared_status": view.declared.value,
            "applicable": view.applicable,
            "conditional": view.conditional,
            "to_verify": view.to_verify,
            "owner": view.owner or None,
            "due_date": view.due_date.isoformat() if view.due_date else None,
            "action_plan": view.action_plan,
            "evidence": [
                {
                    "kind": item.kind,
                    "result": item.result,
                    "source": item.source,
                    "observed_at": _iso(item.observed_at),
                    "valid_until": _iso(item.valid_until),
                    "stale": item.stale,
                    "signed_by": item.signer or None,
                    "document_sha256": item.document_sha256 or None,
                }
                for item in view.evidence[:5]
            ],
        }
        for view in views
    ]
    document: dict[str, Any] = {
        "format": FORMAT,
        "practice": {"name": practice.name, "slug": practice.slug, "city": practice.city},
        "generated_at": timezone.now().isoformat(),
        "framework_version": f"{framework.code}@{framework.version}",
        "framework": {
            "code": framework.code,
            "version": framework.version,
            "title": framework.title,
        },
        "scores": {"overall": overall, "by_theme": by_theme},
        "measures": measures,
        "findings": [item.as_dict() for item in found],
        "open_actions": [
            measure
            for measure in measures
            if measure["status"] in (Status.NON_COMPLIANT, Status.PARTIAL, Status.UNVERIFIED)
            and measure["applicable"]
            and (measure["action_plan"] or measure["due_date"])
        ],
        "registers": {
            "processing": {
                "version": register.number,
                "sha256": register.sha256,
                **register.content,
            },
            "processors": [
                _processor(processor, today, host_list)
                for processor in Processor.objects.filter(practice=practice)
            ],
            "breaches": [_breach(item) for item in Breach.objects.filter(practice=practice)],
            "rights_requests": [
                _rights(item) for item in RightsRequest.objects.filter(practice=practice)
            ],
        },
    }
    document["sha256"] = content_hash(document)
    return document


@dataclass(frozen=True)
class RenderedDossier:
    content: bytes
    filename: str
    content_type: str
    content_sha256: str  # the JSON document's own hash, also printed in the PDF
    file_sha256: str


def render_pdf(document: dict[str, Any]) -> bytes:
    from weasyprint import HTML

    themes = {theme["id"]: theme["title"] for theme in _themes(document)}
    history = score_history_points(document["practice"]["slug"])
    html = render_to_string(
        "compliance/dossier_pdf.html",
        {
            "d": document,
            "status_labels": dict(Status.choices),
            "bars": chart.theme_bars(
                document["scores"]["overall"],
                [
                    (themes.get(key, key), value)
                    for key, value in document["scores"]["by_theme"].items()
                ],
            ),
            "history": chart.history_line(history) if len(history) > 1 else "",
        },
    )
    return bytes(HTML(string=html).write_pdf())


def _themes(document: dict[str, Any]) -> list[dict[str, str]]:
    framework = current_framework(document["framework"]["code"])
    return list(framework.themes) if framework else []


def score_history_points(slug: str) -> list[tuple[str, int]]:
    practice = Practice.objects.filter(slug=slug).first()
    if practice is None:
        return []
    return [
        (timezone.localtime(item.taken_at).strftime("%d/%m/%Y"), item.overall)
        for item in score_history(practice)
    ]


def generate(
    practice: Practice, user: User | None, fmt: str, *, actor: str = ""
) -> RenderedDossier:
    """Build, render and audit one dossier (`fmt` is "json" or "pdf")."""
    if fmt not in ("json", "pdf"):
        raise InvalidInput("Format inconnu : json ou pdf.")
    document = build_dossier(practice, user)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    if fmt == "json":
        content = (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        content_type = "application/json"
    else:
        content = render_pdf(document)
        content_type = "application/pdf"
    rendered = RenderedDossier(
        content=content,
        filename=f"dossier-conformite-{practice.slug}-{stamp}.{fmt}",
        content_type=content_type,
        content_sha256=document["sha256"],
        file_sha256=hashlib.sha256(content).hexdigest(),
    )
    record(
        "compliance.dossier_generated",
        practice_id=practice.pk,
        actor_id=user.pk if user else None,
        actor=user.username if user else (actor or "cli"),
        object_type="dossier",
        object_id=rendered.filename,
        details={
            "format": fmt,
            "content_sha256": rendered.content_sha256,
            "file_sha256": rendered.file_sha256,
            "findings": len(document["findings"]),
        },
    )
    return rendered
