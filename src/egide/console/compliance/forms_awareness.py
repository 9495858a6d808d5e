"""Forms of the awareness pages: the quiz is read straight from POST (its questions are data);
only the practice's contact details and the charter signature need a form."""

from __future__ import annotations

from typing import ClassVar

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import NoticeContact


class NoticeContactForm(forms.ModelForm[NoticeContact]):
    class Meta:
        model = NoticeContact
        fields: ClassVar = ["address", "email", "phone", "dpo"]


class CharterSignatureForm(forms.Form):
    sha256 = forms.CharField(widget=forms.HiddenInput, max_length=64)
    accept = forms.BooleanField(
        label=_("J'ai lu la charte informatique du cabinet et je m'engage à la respecter.")
    )
