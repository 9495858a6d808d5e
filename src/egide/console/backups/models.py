"""Agents (the practice's computers), their backup reports, restore drills, posture reports, alerts.

The console never receives a passphrase or file content: reports carry counts, sizes, durations,
flags and snapshot ids only.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

from egide.console.accounts.models import Practice


class Agent(models.Model):
    """One computer of a practice running `egide agent`, authenticated by its own token."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(_("nom du poste"), max_length=120)
    key_id = models.CharField(max_length=24, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    hostname = models.CharField(max_length=200, blank=True)
    os = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering: ClassVar = ["practice", "name"]

    def __str__(self) -> str:
        return self.name


class RunStatus(models.TextChoices):
    SUCCESS = "success", _("Réussie")
    WARNING = "warning", _("Réussie avec avertissements")
    FAILURE = "failure", _("Échouée")


class BackupReport(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="backup_reports")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="backup_reports")
    received_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=RunStatus.choices)
    snapshot_id = models.CharField(max_length=80, blank=True)
    repository = models.CharField(max_length=200, blank=True)
    immutable = models.BooleanField(default=False)
    files = models.PositiveBigIntegerField(default=0)
    bytes_read = models.PositiveBigIntegerField(default=0)
    bytes_added = models.PositiveBigIntegerField(default=0)
    warnings = models.PositiveIntegerField(default=0)
    suspect = models.BooleanField(default=False)
    suspect_reasons = models.JSONField(default=list, blank=True)
    error = models.CharField(max_length=500, blank=True)
    clock_skew_seconds = models.IntegerField(default=0)

    class Meta:
        ordering: ClassVar = ["-finished_at"]
        indexes: ClassVar = [models.Index(fields=["practice", "-finished_at"])]

    def __str__(self) -> str:
        return f"{self.agent} {self.finished_at:%Y-%m-%d %H:%M} {self.status}"

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def dedup_ratio(self) -> float:
        """Bytes read per byte added: how much deduplication and compression saved."""
        return self.bytes_read / self.bytes_added if self.bytes_added else 0.0


class RestoreDrill(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="restore_drills")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="restore_drills")
    received_at = models.DateTimeField(auto_now_add=True)
    performed_at = models.DateTimeField()
    snapshot_id = models.CharField(max_length=80)
    files_checked = models.PositiveIntegerField()
    bytes_checked = models.PositiveBigIntegerField()
    passed = models.BooleanField()
    failures = models.PositiveIntegerField(default=0)
    result_hash = models.CharField(max_length=64)

    class Meta:
        ordering: ClassVar = ["-performed_at"]

    def __str__(self) -> str:
        return f"{self.agent} {self.performed_at:%Y-%m-%d} {'ok' if self.passed else 'KO'}"


class PostureReport(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="posture_reports")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="posture_reports")
    received_at = models.DateTimeField(auto_now_add=True)
    findings = models.JSONField()

    class Meta:
        ordering: ClassVar = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.agent} {self.received_at:%Y-%m-%d %H:%M}"


class AlertKind(models.TextChoices):
    LATE = "late", _("Sauvegarde en retard")
    SILENT = "silent", _("Poste muet")
    FAILED = "failed", _("Sauvegarde échouée")
    SUSPECT = "suspect", _("Sauvegarde suspecte (rançongiciel ?)")
    DRILL_FAILED = "drill_failed", _("Test de restauration échoué")
    CLOCK = "clock", _("Horloge du poste déréglée")


class Alert(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="backup_alerts")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, null=True, related_name="alerts")
    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    message = models.CharField(max_length=500)
    raised_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    notified = models.BooleanField(default=False)

    class Meta:
        ordering: ClassVar = ["-raised_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} — {self.practice}"


class GatewayLock(models.Model):
    """When the gateway's Object Lock on one object ends, as the gateway last set or read it.

    Lets the keep-alive after each backup touch S3 only for the objects whose lock ends soon.
    """

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=250)
    locked_until = models.DateTimeField()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["practice", "name"], name="one_lock_row_per_object")
        ]

    def __str__(self) -> str:
        return f"{self.name} → {self.locked_until:%Y-%m-%d}"
