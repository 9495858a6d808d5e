"""Reads of the compliance desk: live status per measure, scores, and the home card.

The live status of a measure combines what the practice declared with the latest evidence: fresh
evidence wins; evidence past its validity decays the measure to «non vérifié» (it proved
something once, it no longer does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from egide.console.accounts.models import Practice

from .models import (
    Evidence,
    EvidenceResult,
    Framework,
    Measure,
    MeasureState,
    Profile,
    ScoreSnapshot,
    Status,
)

_RESULT_STATUS = {
    EvidenceResult.PASS: Status.COMPLIANT,
    EvidenceResult.PARTIAL: Status.PARTIAL,
    EvidenceResult.FAIL: Status.NON_COMPLIANT,
    EvidenceResult.NOT_APPLICABLE: Status.NOT_APPLICABLE,
}
_POINTS = {Status.COMPLIANT: 1.0, Status.PARTIAL: 0.5}
FRAMEWORK_CODE = "rcm"
EVIDENCE_PER_MEASURE = 5


def current_framework(code: str = FRAMEWORK_CODE) -> Framework | None:
    return Framework.objects.filter(code=code, is_current=True).first()


def profile_of(practice: Practice) -> Profile:
    """The saved profile, or the defaults (unsaved) while the first assessment has not begun."""
    profile = Profile.objects.filter(practice=practice).first()
    return profile if profile is not None else Profile(practice=practice)


@dataclass(frozen=True)
class EvidenceView:
    kind: str
    result: str
    source: str
    observed_at: datetime
    valid_until: datetime
    stale: bool
    signer: str = ""
    document_sha256: str = ""
    document_id: int | None = None


@dataclass(frozen=True)
class MeasureView:
    ref: str
    title: str
    theme: str
    theme_title: str
    explanation: str
    status: Status
    declared: Status
    applicable: bool
    conditional: bool
    to_verify: bool
    evidence_modes: list[str]
    owner: str
    due_date: date | None
    action_plan: str
    evidence: list[EvidenceView] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return bool(self.evidence) and self.evidence[0].stale

    @property
    def status_label(self) -> str:
        return str(self.status.label)


def _evidence_view(item: Evidence, now: datetime) -> EvidenceView:
    return EvidenceView(
        kind=item.kind,
        result=item.result,
        source=item.source,
        observed_at=item.observed_at,
        valid_until=item.valid_until,
        stale=item.valid_until < now,
        signer=item.signer_name,
        document_sha256=item.document.sha256 if item.document else "",
        document_id=item.document_id,
    )


def live_status(declared: Status, applicable: bool, latest: EvidenceView | None) -> Status:
    if not applicable or declared == Status.NOT_APPLICABLE:
        return Status.NOT_APPLICABLE
    if latest is not None:
        return Status.UNVERIFIED if latest.stale else _RESULT_STATUS[EvidenceResult(latest.result)]
    return declared


def measure_views(practice: Practice, framework: Framework | None = None) -> list[MeasureView]:
    framework = framework or current_framework()
    if framework is None:
        return []
    now = timezone.now()
    profile = profile_of(practice)
    states = {
        state.ref: state
        for state in MeasureState.objects.filter(practice=practice).select_related("owner")
    }
    evidence: dict[str, list[EvidenceView]] = {}
    # Evidence accumulates daily (agents, nightly checks): keep only the latest few per measure.
    latest = (
        Evidence.objects.filter(practice=practice)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("ref")],
                order_by=[F("observed_at").desc(), F("id").desc()],
            )
        )
        .filter(rank__lte=EVIDENCE_PER_MEASURE)
        .select_related("document")
        .order_by("ref", "rank")
    )
    for item in latest:
        evidence.setdefault(item.ref, []).append(_evidence_view(item, now))
    views = []
    for measure in Measure.objects.filter(framework=framework):
        state = states.get(measure.ref)
        declared = Status(state.status) if state else Status.UNVERIFIED
        applicable = all(profile.has(condition) for condition in measure.applies_if)
        items = evidence.get(measure.ref, [])
        views.append(
            MeasureView(
                ref=measure.ref,
                title=measure.title,
                theme=measure.theme,
                theme_title=framework.theme_title(measure.theme),
                explanation=measure.explanation,
                status=live_status(declared, applicable, items[0] if items else None),
                declared=declared,
                applicable=applicable,
                conditional=measure.conditional,
                to_verify=measure.to_verify,
                evidence_modes=list(measure.evidence_modes),
                owner=str(state.owner) if state and state.owner else "",
                due_date=state.due_date if state else None,
                action_plan=state.action_plan if state else "",
                evidence=items,
            )
        )
    return views


def scores_of(views: list[MeasureView]) -> tuple[int, dict[str, int]]:
    """Overall and per-theme scores out of 100: conforme 1, partiel ½, other 0; N/A excluded."""
    totals: dict[str, list[float]] = {}
    for view in views:
        if view.status == Status.NOT_APPLICABLE:
            continue
        totals.setdefault(view.theme, []).append(_POINTS.get(view.status, 0.0))
    by_theme = {theme: round(100 * sum(points) / len(points)) for theme, points in totals.items()}
    every = [point for points in totals.values() for point in points]
    overall = round(100 * sum(every) / len(every)) if every else 0
    return overall, by_theme


def scores(practice: Practice) -> tuple[int, dict[str, int]]:
    return scores_of(measure_views(practice))


def score_history(practice: Practice, limit: int = 24) -> list[ScoreSnapshot]:
    return list(ScoreSnapshot.objects.filter(practice=practice).order_by("-taken_at")[:limit])[::-1]


_PRIORITY = {Status.NON_COMPLIANT: 0, Status.PARTIAL: 1, Status.UNVERIFIED: 2}


def to_plan(views: list[MeasureView]) -> list[MeasureView]:
    """Applicable measures not (or no longer) met and without a due date: non conforme first."""
    waiting = [
        view
        for view in views
        if view.applicable and view.status in _PRIORITY and view.due_date is None
    ]
    return sorted(waiting, key=lambda view: _PRIORITY[view.status])  # stable: keeps file order


def home_card(practice: Practice) -> dict[str, Any]:
    """What the home page's «Conformité» card shows: score, due this month, top three actions."""
    from .findings import findings_for

    views = measure_views(practice)
    if not views:
        return {"ready": False}
    overall, _ = scores_of(views)
    found = findings_for(practice, views)
    today = timezone.localdate()
    month_end = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    due = [item for item in found if item.deadline_date < month_end]
    started = MeasureState.objects.filter(practice=practice).exists()
    actions: list[dict[str, Any]] = [
        {"ref": item.ref, "message": item.message, "overdue": item.overdue} for item in found
    ]
    actions += [
        {
            "ref": view.ref,
            "message": f"{view.title} ({view.status_label.lower()})",
            "overdue": False,
        }
        for view in to_plan(views)
    ]
    return {
        "ready": True,
        "started": started,
        "overall": overall,
        "due_this_month": len(due),
        "top_actions": actions[:3],
    }
