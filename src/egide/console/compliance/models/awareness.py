"""Staff awareness: training completions, the versioned IT charter and its signatures, and the
practice's contact details printed on the patient notice."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from egide.console.accounts.models import Practice


class TrainingCompletion(models.Model):
    """One attempt at the training quiz; a passed attempt is valid until `valid_until`."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="training_completions"
    )
    course = models.CharField(max_length=60)
    course_version = models.CharField(max_length=40)
    score = models.PositiveSmallIntegerField()
    total = models.PositiveSmallIntegerField()
    passed = models.BooleanField()
    answers = models.JSONField(default=dict)  # {"q1": "b", …}: quiz choices, never health data
    completed_at = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)  # None for a failed attempt

    class Meta:
        ordering: ClassVar = ["-completed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.course} {self.score}/{self.total} ({self.user_id})"


class CharterVersion(models.Model):
    """One exact text of a practice's IT charter; a new text is a new number and hash."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    number = models.PositiveIntegerField()
    text = models.TextField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["number"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["practice", "number"], name="charter_version_number"),
        ]

    def __str__(self) -> str:
        return f"charte v{self.number}"


class CharterSignature(models.Model):
    """A member's signature of one charter version: who, when, and the hash of what was read."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(CharterVersion, on_delete=models.PROTECT, related_name="signatures")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="charter_signatures"
    )
    signer_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    signed_at = models.DateTimeField()

    class Meta:
        ordering: ClassVar = ["-signed_at"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["version", "user"], name="one_signature_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.signer_name} — {self.version}"


class NoticeContact(models.Model):
    """How patients reach the practice about their data: printed on the notice and the poster."""

    practice = models.OneToOneField(Practice, on_delete=models.CASCADE, related_name="+")
    address = models.CharField(_("adresse postale du cabinet"), max_length=300)
    email = models.EmailField(_("adresse électronique pour les demandes"), blank=True)
    phone = models.CharField(_("téléphone"), max_length=40, blank=True)
    dpo = models.CharField(
        _("délégué à la protection des données (si désigné)"), max_length=300, blank=True
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"contact {self.practice_id}"
