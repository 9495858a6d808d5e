from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


class ComposeForm(forms.Form):
    mailbox = forms.TypedChoiceField(label=_("De"), coerce=int)
    to = forms.CharField(
        label=_("À"),
        help_text=_("Une ou plusieurs adresses MSSanté, séparées par des virgules."),
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "list": "annuaire",
                "data-suggest-url": "/messagerie/destinataires",
            }
        ),
    )
    subject = forms.CharField(
        label=_("Objet"),
        max_length=250,
        required=False,
        help_text=_("Avec un document de santé, le libellé de l'objet (facultatif)."),
    )
    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 12}))
    attachment = forms.FileField(label=_("Pièce jointe"), required=False)
    cda = forms.FileField(
        label=_("Document de santé (CDA R2, XML)"),
        required=False,
        help_text=_(
            "Il part dans un paquet IHE_XDM.ZIP avec sa copie PDF ; l'objet est alors fixé "
            "selon les règles MSSanté."
        ),
    )
    receipt = forms.BooleanField(
        label=_("Demander un accusé de lecture"), required=False, initial=True
    )
    in_reply_to = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: object, mailboxes: list[tuple[int, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["mailbox"].choices = mailboxes  # type: ignore[attr-defined]

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if not data.get("subject") and not data.get("cda"):
            self.add_error("subject", _("Indiquez l'objet du message."))
        return data

    def clean_to(self) -> list[str]:
        addresses = [a.strip() for a in self.cleaned_data["to"].replace(";", ",").split(",")]
        addresses = [a for a in addresses if a]
        if not addresses:
            raise ValidationError(_("Indiquez au moins un destinataire."))
        bad = [a for a in addresses if "@" not in a or " " in a]
        if bad:
            raise ValidationError(_("Adresse invalide : %(bad)s"), params={"bad": ", ".join(bad)})
        return addresses
