from django import forms
from django.utils.translation import gettext_lazy as _


class EnrolAgentForm(forms.Form):
    name = forms.CharField(
        label=_("Nom du poste"),
        max_length=120,
        help_text=_("Par exemple « Poste secrétariat » ou « Serveur du cabinet »."),
    )
