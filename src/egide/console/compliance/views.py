"""Pages of the compliance desk: dashboard, guided assessment, measures, dossier.

Thin: they read through `queries`, write through `services`, and scope every lookup to the
signed-in user's practice (`current_practice`).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from egide.console.accounts.queries import current_practice, current_user
from egide.console.audit.services import record_request

from . import chart, dossier, services
from .errors import ComplianceError
from .findings import findings_for
from .forms import AnswerForm, AttestationForm, DocumentForm, MeasureStateForm, ProfileForm
from .models import Assessment, Document, Measure, Profile, Reminder
from .queries import (
    current_framework,
    measure_views,
    profile_of,
    score_history,
    scores_of,
    to_plan,
)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    practice = current_practice(request)
    framework = current_framework()
    views = measure_views(practice, framework)
    overall, by_theme = scores_of(views)
    themes = {theme["id"]: theme["title"] for theme in framework.themes} if framework else {}
    history = [
        (timezone.localtime(item.taken_at).strftime("%d/%m/%Y"), item.overall)
        for item in score_history(practice)
    ]
    return render(
        request,
        "compliance/dashboard.html",
        {
            "framework": framework,
            "overall": overall,
            "bars": chart.theme_bars(
                overall, [(themes.get(key, key), value) for key, value in by_theme.items()]
            ),
            "history": chart.history_line(history) if len(history) > 1 else "",
            "findings": findings_for(practice, views),
            "to_plan": to_plan(views)[:10],
            "reminders": Reminder.objects.filter(practice=practice, done_at__isnull=True)[:10],
            "open_assessment": Assessment.objects.filter(
                practice=practice, completed_at__isnull=True
            ).first(),
            "started": any(view.declared != "non_verifie" for view in views),
        },
    )


@login_required
def assessment_start(request: HttpRequest) -> HttpResponse:
    """Step 0: what the practice has (it decides which measures apply)."""
    practice = current_practice(request)
    profile = Profile.objects.filter(practice=practice).first() or Profile(practice=practice)
    form = ProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        services.save_profile(practice, current_user(request), form.save(commit=False))
        try:
            services.start_assessment(practice, current_user(request))
        except ComplianceError as error:
            messages.error(request, str(error))
            return redirect("compliance:dashboard")
        return redirect("compliance:assessment_step", step=1)
    return render(request, "compliance/assessment_start.html", {"form": form})


def _applicable_measures(request: HttpRequest, assessment: Assessment) -> list[Measure]:
    profile = profile_of(assessment.practice)
    return [
        measure
        for measure in Measure.objects.filter(framework=assessment.framework)
        if all(profile.has(condition) for condition in measure.applies_if)
    ]


@login_required
def assessment_step(request: HttpRequest, step: int) -> HttpResponse:
    """One measure at a time, in plain French; «Je ne sais pas» is a valid answer."""
    practice = current_practice(request)
    user = current_user(request)
    assessment = Assessment.objects.filter(practice=practice, completed_at__isnull=True).first()
    if assessment is None:
        return redirect("compliance:assessment_start")
    measures = _applicable_measures(request, assessment)
    if not 1 <= step <= len(measures):
        raise Http404
    measure = measures[step - 1]
    previous = assessment.answers.filter(measure=measure).first()
    initial = {}
    if previous is not None:
        initial = {
            "answer": next(
                key
                for key, (_label, status) in services.ANSWERS.items()
                if status == previous.status and (key == "ne_sait_pas") == previous.dont_know
            )
        }
    form = AnswerForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.answer_measure(assessment, user, measure, form.cleaned_data["answer"])
        if step < len(measures):
            return redirect("compliance:assessment_step", step=step + 1)
        services.complete_assessment(assessment, user)
        messages.success(request, _("Évaluation terminée : voici l'état de votre cabinet."))
        return redirect("compliance:dashboard")
    return render(
        request,
        "compliance/assessment_step.html",
        {
            "form": form,
            "measure": measure,
            "theme": assessment.framework.theme_title(measure.theme),
            "step": step,
            "total": len(measures),
            "percent": round(100 * (step - 1) / len(measures)),
        },
    )


@login_required
def measure_list(request: HttpRequest) -> HttpResponse:
    practice = current_practice(request)
    return render(request, "compliance/measures.html", {"measures": measure_views(practice)})


@login_required
def measure_detail(request: HttpRequest, ref: str) -> HttpResponse:
    practice = current_practice(request)
    view = next((item for item in measure_views(practice) if item.ref == ref), None)
    if view is None:
        raise Http404
    user = current_user(request)
    action = request.POST.get("action") if request.method == "POST" else None
    state_form = MeasureStateForm(
        request.POST if action == "state" else None,
        practice=practice,
        initial={
            "status": view.declared.value,
            "due_date": view.due_date,
            "action_plan": view.action_plan,
        },
    )
    attestation_form = AttestationForm(request.POST if action == "attest" else None)
    document_form = DocumentForm(
        request.POST if action == "document" else None,
        request.FILES if action == "document" else None,
    )
    try:
        if action == "state" and state_form.is_valid():
            data = state_form.cleaned_data
            services.update_measure_state(
                practice,
                user,
                ref,
                status=data["status"],
                owner=data["owner"],
                due_date=data["due_date"],
                action_plan=data["action_plan"],
            )
            messages.success(request, _("Mesure mise à jour."))
            return redirect("compliance:measure", ref=ref)
        if action == "attest" and attestation_form.is_valid():
            data = attestation_form.cleaned_data
            services.sign_attestation(practice, user, ref, data["statement"], data["renewal_on"])
            messages.success(request, _("Attestation signée."))
            return redirect("compliance:measure", ref=ref)
        if action == "document" and document_form.is_valid():
            data = document_form.cleaned_data
            services.store_document(
                practice,
                user,
                data["file"].read(),
                filename=data["file"].name,
                title=data["title"],
                document_date=data["document_date"],
                expires_on=data["expires_on"],
                measure_id=ref,
            )
            messages.success(request, _("Document enregistré et empreinte calculée."))
            return redirect("compliance:measure", ref=ref)
    except ComplianceError as error:
        form = {"state": state_form, "attest": attestation_form, "document": document_form}[
            str(action)
        ]
        form.add_error(None, str(error))
    return render(
        request,
        "compliance/measure.html",
        {
            "view": view,
            "state_form": state_form,
            "attestation_form": attestation_form,
            "document_form": document_form,
        },
    )


@login_required
def document_download(request: HttpRequest, pk: int) -> HttpResponse:
    """An uploaded proof, for members of its practice only, always as an attachment."""
    practice = current_practice(request)
    document = get_object_or_404(Document, pk=pk, practice=practice)
    path = services.document_path(document)
    if not path.exists():
        raise Http404
    record_request(request, "compliance.document_read", object_type="document", object_id=pk)
    response = HttpResponse(path.read_bytes(), content_type=document.content_type)
    response["Content-Disposition"] = f'attachment; filename="{document.pk}-{document.sha256[:12]}"'
    return response


@login_required
def dossier_page(request: HttpRequest) -> HttpResponse:
    current_practice(request)
    return render(request, "compliance/dossier.html")


@login_required
@require_POST
def dossier_download(request: HttpRequest, fmt: str) -> HttpResponse:
    practice = current_practice(request)
    try:
        rendered = dossier.generate(practice, current_user(request), fmt)
    except ComplianceError as error:
        messages.error(request, str(error))
        return redirect("compliance:dossier")
    response = HttpResponse(rendered.content, content_type=rendered.content_type)
    response["Content-Disposition"] = f'attachment; filename="{rendered.filename}"'
    response["X-Content-SHA256"] = rendered.content_sha256
    return response
