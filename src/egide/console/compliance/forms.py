"""Forms of the compliance desk; every refusal is a French sentence saying what to fix."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from egide.console.accounts.models import Practice, User

from .breach import CNIL_FIELDS, QUESTIONS, SCENARIOS
from .models import ART28_CLAUSES, Processor, Profile, RightKind, RiskLevel, Status
from .register import professions
from .services import ANSWERS
from .upload import MAX_UPLOAD_BYTES


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


def _not_past(value: date | None) -> date | None:
    if value is not None and value < timezone.localdate():
        raise forms.ValidationError(
            _("Cette date est dans le passé : choisissez une date à venir.")
        )
    return value


def _not_future(value: datetime | None) -> datetime | None:
    if value is not None and value > timezone.now():
        raise forms.ValidationError(_("Cette date est dans le futur."))
    return value


class ProfileForm(forms.ModelForm[Profile]):
    profession = forms.ChoiceField(label=_("Profession"), choices=())

    class Meta:
        model = Profile
        fields = ("profession", *Profile.CONDITIONS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choice_field = self.fields["profession"]
        assert isinstance(choice_field, forms.ChoiceField)
        choice_field.choices = list(professions().items())


class AnswerForm(forms.Form):
    answer = forms.ChoiceField(
        label=_("Votre réponse"),
        choices=[(key, label) for key, (label, _status) in ANSWERS.items()],
        widget=forms.RadioSelect,
        error_messages={"required": _("Choisissez une réponse, même « Je ne sais pas ».")},
    )


class MeasureStateForm(forms.Form):
    status = forms.ChoiceField(label=_("Statut déclaré"), choices=Status.choices)
    owner = forms.ModelChoiceField(
        label=_("Responsable"), queryset=User.objects.none(), required=False
    )
    due_date = forms.DateField(label=_("Échéance"), required=False, widget=DateInput())
    action_plan = forms.CharField(
        label=_("Plan d'action"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, practice: Practice, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner = self.fields["owner"]
        assert isinstance(owner, forms.ModelChoiceField)
        owner.queryset = User.objects.filter(practice=practice)

    def clean_due_date(self) -> date | None:
        return _not_past(self.cleaned_data.get("due_date"))


class AttestationForm(forms.Form):
    statement = forms.CharField(
        label=_("J'atteste que…"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000
    )
    renewal_on = forms.DateField(label=_("À renouveler le"), widget=DateInput())

    def clean_renewal_on(self) -> date | None:
        value = self.cleaned_data.get("renewal_on")
        if value is not None and value <= timezone.localdate():
            raise forms.ValidationError(_("Choisissez une date de renouvellement à venir."))
        return value


class DocumentForm(forms.Form):
    file = forms.FileField(label=_("Fichier (PDF, PNG ou JPEG, 10 Mo au plus)"))
    title = forms.CharField(label=_("Titre"), max_length=200)
    document_date = forms.DateField(label=_("Date du document"), widget=DateInput())
    expires_on = forms.DateField(label=_("Expire le"), required=False, widget=DateInput())

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("Le fichier dépasse 10 Mo."))
        return upload

    def clean_document_date(self) -> date | None:
        value = self.cleaned_data.get("document_date")
        if value is not None and value > timezone.localdate():
            raise forms.ValidationError(_("La date du document ne peut pas être dans le futur."))
        return value

    def clean_expires_on(self) -> date | None:
        return _not_past(self.cleaned_data.get("expires_on"))


class ProcessorForm(forms.ModelForm[Processor]):
    # wider than the column: people type SIRENs with spaces, clean_siren strips them
    siren = forms.CharField(label=_("SIREN"), max_length=20, required=False)
    contract_file = forms.FileField(label=_("Contrat signé (PDF)"), required=False)
    certificate_file = forms.FileField(label=_("Certificat HDS (PDF)"), required=False)

    class Meta:
        model = Processor
        fields = (
            "name",
            "kind",
            "siren",
            "handles_health_data",
            "hosts_health_data",
            "contract_signed_on",
            "hds_scope",
            "hds_expires_on",
        )
        widgets = {"contract_signed_on": DateInput(), "hds_expires_on": DateInput()}  # noqa: RUF012

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        clauses = self.instance.clauses if self.instance.pk else {}
        for key, label in ART28_CLAUSES:
            self.fields[f"clause_{key}"] = forms.BooleanField(
                label=label, required=False, initial=bool(clauses.get(key))
            )

    def clean_siren(self) -> str:
        value = str(self.cleaned_data.get("siren") or "").replace(" ", "")
        if value and not (value.isdigit() and len(value) == 9):
            raise forms.ValidationError(_("Le SIREN compte 9 chiffres."))
        return value

    def clean_contract_signed_on(self) -> date | None:
        value = self.cleaned_data.get("contract_signed_on")
        if value is not None and value > timezone.localdate():
            raise forms.ValidationError(_("La signature ne peut pas être dans le futur."))
        return value

    def clause_values(self) -> dict[str, bool]:
        return {key: bool(self.cleaned_data.get(f"clause_{key}")) for key, _ in ART28_CLAUSES}


class BreachForm(forms.Form):
    scenario = forms.ChoiceField(
        label=_("Que s'est-il passé ?"),
        choices=[
            *((key, value["label"]) for key, value in SCENARIOS.items()),
            ("autre", _("Autre")),
        ],
    )
    summary = forms.CharField(label=_("Résumé en une phrase (sans nom de patient)"), max_length=300)
    aware_at = forms.DateTimeField(
        label=_("Quand en avez-vous eu connaissance ?"), widget=DateTimeInput()
    )

    def clean_aware_at(self) -> datetime | None:
        return _not_future(self.cleaned_data.get("aware_at"))


class QualificationForm(forms.Form):
    def __init__(self, *args: Any, initial_answers: dict[str, bool], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for question in QUESTIONS:
            self.fields[question.key] = forms.BooleanField(
                label=question.text, required=False, initial=initial_answers.get(question.key)
            )


class RiskForm(forms.Form):
    level = forms.ChoiceField(label=_("Niveau de risque"), choices=RiskLevel.choices)
    rationale = forms.CharField(
        label=_("Justification"), widget=forms.Textarea(attrs={"rows": 3}), min_length=10
    )


class DraftForm(forms.Form):
    def __init__(self, *args: Any, draft: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key, label in CNIL_FIELDS:
            self.fields[key] = forms.CharField(
                label=label,
                required=False,
                initial=draft.get(key, ""),
                widget=forms.Textarea(attrs={"rows": 2}),
            )


class NotificationForm(forms.Form):
    notified_at = forms.DateTimeField(label=_("Notifiée le"), widget=DateTimeInput())
    reference = forms.CharField(label=_("Numéro de notification CNIL"), required=False)
    complementary = forms.BooleanField(label=_("Notification complémentaire"), required=False)

    def clean_notified_at(self) -> datetime | None:
        return _not_future(self.cleaned_data.get("notified_at"))


class InformedForm(forms.Form):
    informed_at = forms.DateTimeField(label=_("Patients informés le"), widget=DateTimeInput())

    def clean_informed_at(self) -> datetime | None:
        return _not_future(self.cleaned_data.get("informed_at"))


class RightsRequestForm(forms.Form):
    kind = forms.ChoiceField(label=_("Droit exercé"), choices=RightKind.choices)
    requester = forms.CharField(label=_("Demandeur"), max_length=200)
    received_at = forms.DateTimeField(label=_("Reçue le"), widget=DateTimeInput())
    medical_record = forms.BooleanField(
        label=_("La demande porte sur le dossier médical"), required=False, initial=True
    )
    older_than_5_years = forms.BooleanField(
        label=_("Les informations ont plus de 5 ans"), required=False
    )

    def clean_received_at(self) -> datetime | None:
        return _not_future(self.cleaned_data.get("received_at"))


class IdentityForm(forms.Form):
    method = forms.CharField(
        label=_("Comment l'identité a-t-elle été vérifiée ?"), min_length=5, max_length=200
    )


class ExtensionForm(forms.Form):
    reason = forms.CharField(
        label=_("Motif de la prolongation"), widget=forms.Textarea(attrs={"rows": 2}), min_length=10
    )


class RightsAnswerForm(forms.Form):
    text = forms.CharField(label=_("Réponse"), widget=forms.Textarea(attrs={"rows": 8}))
    proof = forms.CharField(label=_("Preuve d'envoi ou de remise"), max_length=300)
