"""Frameworks and measures (loaded from YAML), the practice profile, living status per measure,
evidence, documents, score history and reminders."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from egide.console.accounts.models import Practice

from ..framework_file import PROFILE_CONDITIONS


class Framework(models.Model):
    """One version of a framework file; older versions stay, so past assessments keep meaning."""

    code = models.SlugField(_("code"), max_length=60)
    version = models.CharField(_("version"), max_length=40)
    title = models.CharField(_("titre"), max_length=300)
    source = models.CharField(_("source"), max_length=500, blank=True)
    file_sha256 = models.CharField(max_length=64)
    is_current = models.BooleanField(default=False)
    loaded_at = models.DateTimeField(auto_now_add=True)
    themes = models.JSONField(default=list)  # [{"id": "SEN", "title": "Sensibiliser"}, ...]

    class Meta:
        verbose_name = _("référentiel")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["code", "version"], name="framework_code_version"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.version}"

    def theme_title(self, theme_id: str) -> str:
        for theme in self.themes:
            if theme["id"] == theme_id:
                return str(theme["title"])
        return theme_id


class Measure(models.Model):
    framework = models.ForeignKey(Framework, on_delete=models.PROTECT, related_name="measures")
    ref = models.CharField(_("identifiant"), max_length=40)
    position = models.PositiveIntegerField()
    theme = models.CharField(_("thème"), max_length=20)
    title = models.CharField(_("intitulé"), max_length=300)
    explanation = models.TextField(_("explication"))
    question = models.TextField(_("question"))
    conditional = models.BooleanField(default=False)
    to_verify = models.BooleanField(default=False)
    applies_if = models.JSONField(default=list)
    evidence_modes = models.JSONField(default=list)
    renewal_days = models.PositiveIntegerField()
    guide_2024 = models.JSONField(default=list)

    class Meta:
        verbose_name = _("mesure")
        ordering: ClassVar = ["framework", "position"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["framework", "ref"], name="measure_ref_per_framework"),
        ]

    def __str__(self) -> str:
        return f"{self.ref} {self.title}"

    @property
    def is_automatic(self) -> bool:
        return any(str(mode).startswith("automatic_") for mode in self.evidence_modes)


class Profile(models.Model):
    """What the practice has: it decides which measures apply."""

    practice = models.OneToOneField(
        Practice, on_delete=models.CASCADE, related_name="compliance_profile"
    )
    profession = models.CharField(_("profession"), max_length=40, default="medecin")
    staff = models.BooleanField(_("salariés, secrétariat ou remplaçants"), default=False)
    laptop = models.BooleanField(_("ordinateur portable"), default=False)
    smartphone = models.BooleanField(_("smartphone utilisé pour le cabinet"), default=True)
    website = models.BooleanField(_("site web du cabinet"), default=False)
    server = models.BooleanField(_("serveur ou NAS au cabinet"), default=False)
    wifi = models.BooleanField(_("Wi-Fi au cabinet"), default=True)
    remote_access = models.BooleanField(_("accès à distance"), default=False)
    outsourced_hosting = models.BooleanField(_("données hébergées à l'extérieur"), default=True)
    software_development = models.BooleanField(_("développement de logiciel"), default=False)
    large_group = models.BooleanField(
        _("cabinet de groupe de plus de 10 000 patients par an"), default=False
    )

    CONDITIONS: ClassVar[tuple[str, ...]] = PROFILE_CONDITIONS

    def __str__(self) -> str:
        return f"profil {self.practice_id}"

    def has(self, condition: str) -> bool:
        return bool(getattr(self, condition))


class Status(models.TextChoices):
    COMPLIANT = "conforme", _("Conforme")
    PARTIAL = "partiel", _("Partiel")
    NON_COMPLIANT = "non_conforme", _("Non conforme")
    NOT_APPLICABLE = "non_applicable", _("Non applicable")
    UNVERIFIED = "non_verifie", _("Non vérifié")


class Assessment(models.Model):
    """One run of the guided assessment against one framework version (kept as history)."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="assessments")
    framework = models.ForeignKey(Framework, on_delete=models.PROTECT)
    started_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"évaluation {self.pk} ({self.framework_id})"


class Answer(models.Model):
    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="answers")
    measure = models.ForeignKey(Measure, on_delete=models.PROTECT)
    status = models.CharField(max_length=20, choices=Status.choices)
    dont_know = models.BooleanField(default=False)
    answered_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["assessment", "measure"], name="one_answer_per_measure"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.measure_id}: {self.status}"


class MeasureState(models.Model):
    """The living, declared status of one measure for one practice (keyed by stable ref)."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="measure_states")
    ref = models.CharField(max_length=40)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.UNVERIFIED)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("responsable"),
    )
    due_date = models.DateField(_("échéance"), null=True, blank=True)
    action_plan = models.TextField(_("plan d'action"), blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["practice", "ref"], name="one_state_per_measure"),
        ]

    def __str__(self) -> str:
        return f"{self.ref}: {self.status}"


class EvidenceKind(models.TextChoices):
    AUTOMATIC = "automatique", _("Automatique")
    ATTESTATION = "attestation", _("Attestation")
    DOCUMENT = "document", _("Document")
    PLATFORM = "plateforme", _("Parcours Égide")


class EvidenceResult(models.TextChoices):
    PASS = "pass", _("Vérifié conforme")
    PARTIAL = "partial", _("Partiellement conforme")
    FAIL = "fail", _("Non conforme")
    NOT_APPLICABLE = "not_applicable", _("Non applicable")


class Evidence(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="evidence")
    ref = models.CharField(max_length=40, db_index=True)
    kind = models.CharField(max_length=20, choices=EvidenceKind.choices)
    result = models.CharField(max_length=20, choices=EvidenceResult.choices)
    observed = models.JSONField(default=dict)
    source = models.CharField(max_length=120)
    observed_at = models.DateTimeField()
    valid_until = models.DateTimeField()
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signer_name = models.CharField(max_length=200, blank=True)
    statement = models.TextField(blank=True)
    document = models.ForeignKey(
        "Document", null=True, blank=True, on_delete=models.PROTECT, related_name="evidence"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["-observed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.ref} {self.kind} {self.result}"


class Document(models.Model):
    """An uploaded contract, certificate or proof, stored under its SHA-256."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(_("titre"), max_length=200)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=80)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    document_date = models.DateField(_("date du document"))
    expires_on = models.DateField(_("expire le"), null=True, blank=True)
    uploaded_at = models.DateTimeField(auto_now_add=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return self.title


class ScoreSnapshot(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="score_history")
    framework = models.ForeignKey(Framework, on_delete=models.PROTECT)
    taken_at = models.DateTimeField(auto_now_add=True)
    overall = models.PositiveSmallIntegerField()
    by_theme = models.JSONField(default=dict)

    class Meta:
        ordering: ClassVar = ["taken_at"]

    def __str__(self) -> str:
        return f"{self.overall}/100 au {self.taken_at:%Y-%m-%d}"


class Reminder(models.Model):
    """A dated reminder raised by the nightly job; one per (practice, key) while open."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="reminders")
    key = models.CharField(max_length=120)
    ref = models.CharField(max_length=40, blank=True)
    message = models.CharField(max_length=300)
    due_on = models.DateField()
    raised_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["due_on"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["practice", "key"], name="one_reminder_per_key"),
        ]

    def __str__(self) -> str:
        return self.message
