"""Pages of staff awareness (training, charter) and patient information (notice, poster).

Every lookup starts from the signed-in user's practice; the team table shows names and
statuses, never a colleague's quiz answers or score.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from egide.console.accounts.models import Role
from egide.console.accounts.queries import current_practice, current_user

from . import charter, patient_notice, training
from .errors import ComplianceError
from .forms_awareness import CharterSignatureForm, NoticeContactForm
from .models import CharterSignature, NoticeContact
from .staff_evidence import refresh_staff_evidence, team_status

EDITORS = (Role.PRACTITIONER, Role.COMPLIANCE_LEAD)


@login_required
def awareness(request: HttpRequest) -> HttpResponse:
    practice = current_practice(request)
    user = current_user(request)
    version = charter.current_charter(practice, user)
    return render(
        request,
        "compliance/awareness/overview.html",
        {
            "course": training.load_course(),
            "mine": training.training_status(user),
            "version": version,
            "my_signature": charter.signature_of(user, version),
            "team": team_status(practice, version),
        },
    )


@login_required
def training_page(request: HttpRequest) -> HttpResponse:
    practice = current_practice(request)
    user = current_user(request)
    course = training.load_course()
    answers = {q.id: request.POST.get(q.id, "") for q in course.quiz} if request.POST else {}
    if request.method == "POST":
        try:
            completion, result = training.complete_training(
                practice, user, answers, request.POST.get("course_version", "")
            )
        except ComplianceError as error:
            messages.error(request, str(error))
        else:
            refresh_staff_evidence(practice)
            return render(
                request,
                "compliance/awareness/result.html",
                {"course": course, "result": result, "completion": completion},
            )
    return render(
        request,
        "compliance/awareness/training.html",
        {"course": course, "answers": answers, "mine": training.training_status(user)},
    )


@login_required
def charter_page(request: HttpRequest) -> HttpResponse:
    practice = current_practice(request)
    user = current_user(request)
    version = charter.current_charter(practice, user)
    form = CharterSignatureForm(request.POST or None, initial={"sha256": version.sha256})
    if request.method == "POST" and form.is_valid():
        try:
            charter.sign_charter(practice, user, form.cleaned_data["sha256"])
        except ComplianceError as error:
            messages.error(request, str(error))
        else:
            refresh_staff_evidence(practice)
            messages.success(request, _("Charte signée. Merci."))
            return redirect("compliance:charter")
        version = charter.current_charter(practice, user)
        form = CharterSignatureForm(initial={"sha256": version.sha256})
    return render(
        request,
        "compliance/awareness/charter.html",
        {
            "version": version,
            "form": form,
            "signature": charter.signature_of(user, version),
            "previous": CharterSignature.objects.filter(user=user)
            .exclude(version=version)
            .select_related("version"),
        },
    )


@login_required
def patient_information(request: HttpRequest) -> HttpResponse:
    practice = current_practice(request)
    user = current_user(request)
    contact = patient_notice.contact_of(practice) or NoticeContact(practice=practice)
    form = NoticeContactForm(request.POST or None, instance=contact)
    can_edit = user.role in EDITORS
    if request.method == "POST":
        if not can_edit:
            messages.error(
                request,
                _("Seul un praticien ou le référent conformité peut modifier ces coordonnées."),
            )
        elif form.is_valid():
            try:
                patient_notice.save_contact(practice, user, form.save(commit=False))
            except ComplianceError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, _("Coordonnées enregistrées."))
                return redirect("compliance:patient_information")
    try:
        content = patient_notice.notice_content(practice)
        problem = ""
    except ComplianceError as error:
        content, problem = None, str(error)
    return render(
        request,
        "compliance/awareness/patient_information.html",
        {"form": form, "can_edit": can_edit, "content": content, "problem": problem},
    )


@login_required
def patient_information_pdf(request: HttpRequest, kind: str, size: str) -> HttpResponse:
    practice = current_practice(request)
    if kind not in patient_notice.KINDS or size not in patient_notice.SIZES:
        raise Http404
    try:
        pdf = patient_notice.render_pdf(practice, current_user(request), kind, size)
    except ComplianceError as error:
        messages.error(request, str(error))
        return redirect("compliance:patient_information")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{kind}-{practice.slug}-{size}.pdf"'
    return response
