"""Pages of the four registers: processing, processors, breaches, rights requests.

Every object is looked up with the signed-in user's practice in the filter, so another
practice's object answers 404, never its content.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from egide.console.accounts.queries import current_practice, current_user
from egide.console.audit.services import record_request

from . import breach, register, rights
from .clocks import breach_deadline
from .errors import ComplianceError
from .forms import (
    BreachForm,
    DraftForm,
    ExtensionForm,
    IdentityForm,
    InformedForm,
    NotificationForm,
    ProcessorForm,
    QualificationForm,
    RightsAnswerForm,
    RightsRequestForm,
    RiskForm,
)
from .models import ART28_CLAUSES, Breach, ProcessingActivity, Processor, RightsRequest


@login_required
def register_page(request: HttpRequest) -> HttpResponse:
    practice = current_practice(request)
    return render(
        request,
        "compliance/register.html",
        {
            "content": register.register_content(practice),
            "activities": ProcessingActivity.objects.filter(practice=practice),
        },
    )


@login_required
@require_POST
def register_prefill(request: HttpRequest) -> HttpResponse:
    created = register.prefill_register(current_practice(request), current_user(request))
    messages.success(request, _("%(n)d activité(s) ajoutée(s) au registre.") % {"n": len(created)})
    return redirect("compliance:register")


@login_required
def register_export(request: HttpRequest, fmt: str) -> HttpResponse:
    practice = current_practice(request)
    version = register.freeze_register(practice, current_user(request))
    name = f"registre-{practice.slug}-v{version.number}"
    if fmt == "csv":
        body, content_type = register.register_csv(version), "text/csv; charset=utf-8"
    elif fmt == "ods":
        body = register.register_ods(version)
        content_type = "application/vnd.oasis.opendocument.spreadsheet"
    elif fmt == "pdf":
        from weasyprint import HTML

        html = render_to_string(
            "compliance/register_pdf.html", {"version": version, "practice": practice}
        )
        body, content_type = bytes(HTML(string=html).write_pdf()), "application/pdf"
    else:
        raise Http404
    record_request(
        request,
        "compliance.register_exported",
        object_type="register",
        object_id=version.number,
        details={"format": fmt, "sha256": version.sha256},
    )
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


@login_required
def processors(request: HttpRequest) -> HttpResponse:
    practice = current_practice(request)
    return render(
        request,
        "compliance/processors.html",
        {"processors": Processor.objects.filter(practice=practice), "clauses": ART28_CLAUSES},
    )


@login_required
def processor_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    practice = current_practice(request)
    instance = get_object_or_404(Processor, pk=pk, practice=practice) if pk else Processor()
    form = ProcessorForm(request.POST or None, request.FILES or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        user = current_user(request)
        try:
            with transaction.atomic():
                saved = register.save_processor(
                    practice, user, form.save(commit=False), clauses=form.clause_values()
                )
                for role, field in (
                    ("contract", "contract_file"),
                    ("certificate", "certificate_file"),
                ):
                    upload = form.cleaned_data.get(field)
                    if upload:
                        register.attach_processor_document(
                            practice, user, saved, upload.read(), filename=upload.name, role=role
                        )
        except ComplianceError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("Sous-traitant enregistré."))
            return redirect("compliance:processors")
    return render(request, "compliance/processor_form.html", {"form": form, "processor": instance})


@login_required
def breaches(request: HttpRequest) -> HttpResponse:
    practice = current_practice(request)
    form = BreachForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            found = breach.open_breach(practice, current_user(request), **form.cleaned_data)
        except ComplianceError as error:
            form.add_error(None, str(error))
        else:
            return redirect("compliance:breach", pk=found.pk)
    items = [
        (item, breach_deadline(item.aware_at)) for item in Breach.objects.filter(practice=practice)
    ]
    return render(request, "compliance/breaches.html", {"form": form, "items": items})


@login_required
def breach_detail(request: HttpRequest, pk: int) -> HttpResponse:
    practice = current_practice(request)
    user = current_user(request)
    item = get_object_or_404(Breach, pk=pk, practice=practice)
    step = request.POST.get("step") if request.method == "POST" else None
    data = request.POST if step else None
    forms = {
        "qualify": QualificationForm(
            data if step == "qualify" else None, initial_answers=item.qualification
        ),
        "risk": RiskForm(
            data if step == "risk" else None,
            initial={"level": item.risk_level, "rationale": item.risk_rationale},
        ),
        "draft": DraftForm(data if step == "draft" else None, draft=item.cnil_draft),
        "notify": NotificationForm(data if step == "notify" else None),
        "informed": InformedForm(data if step == "informed" else None),
    }
    suggestion = breach.suggested_risk(item.qualification)
    try:
        if step == "close":
            breach.close_breach(item, user)
            return redirect("compliance:breach", pk=pk)
        form = forms.get(str(step))
        if form is not None and form.is_valid():
            values = form.cleaned_data
            if step == "qualify":
                suggestion = breach.qualify(item, user, values)
                forms["risk"] = RiskForm(
                    initial={"level": suggestion[0], "rationale": suggestion[1]}
                )
            elif step == "risk":
                breach.set_risk(item, user, values["level"], values["rationale"])
            elif step == "draft":
                breach.update_draft(item, user, values)
            elif step == "notify":
                breach.record_notification(item, user, **values)
            elif step == "informed":
                breach.record_patients_informed(item, user, values["informed_at"])
            if step != "qualify":
                return redirect("compliance:breach", pk=pk)
    except ComplianceError as error:
        messages.error(request, str(error))
    return render(
        request,
        "compliance/breach.html",
        {
            "item": item,
            "deadline": breach_deadline(item.aware_at),
            "forms": forms,
            "suggestion": suggestion,
        },
    )


@login_required
def rights_requests(request: HttpRequest) -> HttpResponse:
    practice = current_practice(request)
    form = RightsRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            item = rights.open_request(practice, current_user(request), **form.cleaned_data)
        except ComplianceError as error:
            form.add_error(None, str(error))
        else:
            return redirect("compliance:rights_request", pk=item.pk)
    items = [
        (item, rights.clocks_of(item)) for item in RightsRequest.objects.filter(practice=practice)
    ]
    return render(request, "compliance/rights.html", {"form": form, "items": items})


@login_required
def rights_detail(request: HttpRequest, pk: int) -> HttpResponse:
    practice = current_practice(request)
    user = current_user(request)
    item = get_object_or_404(RightsRequest, pk=pk, practice=practice)
    step = request.POST.get("step") if request.method == "POST" else None
    forms = {
        "identity": IdentityForm(request.POST if step == "identity" else None),
        "extend": ExtensionForm(request.POST if step == "extend" else None),
        "answer": RightsAnswerForm(
            request.POST if step == "answer" else None,
            initial={"text": rights.draft_answer(item)},
        ),
    }
    form = forms.get(str(step))
    if form is not None and form.is_valid():
        values = form.cleaned_data
        try:
            if step == "identity":
                rights.check_identity(item, user, values["method"])
            elif step == "extend":
                rights.extend(item, user, values["reason"])
            else:
                rights.answer(item, user, text=values["text"], proof=values["proof"])
        except ComplianceError as error:
            form.add_error(None, str(error))
        else:
            return redirect("compliance:rights_request", pk=pk)
    return render(
        request,
        "compliance/rights_request.html",
        {"item": item, "clocks": rights.clocks_of(item), "forms": forms},
    )
