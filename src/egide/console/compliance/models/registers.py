"""The four registers: processing activities (art. 30), processors (art. 28), breaches (art. 33)
and rights requests (art. 12-22, CSP L1111-7)."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from egide.console.accounts.models import Practice

from .assessment import Document


class ProcessingActivity(models.Model):
    """One sheet of the art. 30 register; lists are plain strings so exports stay readable."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="activities")
    code = models.SlugField(max_length=60)
    name = models.CharField(_("activité"), max_length=200)
    purposes = models.JSONField(default=list)
    legal_basis = models.TextField(_("base légale"))
    data_subjects = models.JSONField(default=list)
    data_categories = models.JSONField(default=list)
    recipients = models.JSONField(default=list)
    retention = models.JSONField(default=list)  # [{"data": ..., "duration": ...}]
    transfers = models.CharField(_("transferts hors UE"), max_length=300, default="Aucun")
    measure_refs = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["practice", "code"], name="activity_code_per_practice"),
        ]

    def __str__(self) -> str:
        return self.name


class RegisterVersion(models.Model):
    """A frozen export of the processing register: the content and its SHA-256."""

    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="+")
    number = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    content = models.JSONField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering: ClassVar = ["number"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["practice", "number"], name="register_version_number"),
        ]

    def __str__(self) -> str:
        return f"registre v{self.number}"


class ProcessorKind(models.TextChoices):
    SOFTWARE_VENDOR = "editeur", _("Éditeur du logiciel métier")
    HDS_HOST = "hebergeur", _("Hébergeur de données de santé")
    APPOINTMENTS = "rendez_vous", _("Plateforme de rendez-vous")
    MESSAGING = "messagerie", _("Opérateur de messagerie sécurisée")
    IT_MAINTENANCE = "maintenance", _("Maintenance informatique")
    OTHER = "autre", _("Autre")


# The art. 28.3 clauses, in the order of the article; the checklist stores one boolean per key.
ART28_CLAUSES: tuple[tuple[str, str], ...] = (
    ("object", "Objet, durée, nature et finalité du traitement, types de données"),
    ("instructions", "Traitement sur instruction documentée du cabinet (a)"),
    ("confidentiality", "Confidentialité des personnes autorisées (b)"),
    ("security", "Mesures de sécurité de l'article 32 (c)"),
    ("subprocessors", "Sous-traitance ultérieure autorisée par écrit (d)"),
    ("rights", "Aide pour répondre aux demandes des patients (e)"),
    ("assistance", "Aide pour la sécurité, les violations et l'analyse d'impact (f)"),
    ("end_of_contract", "Restitution puis suppression des données en fin de contrat (g)"),
    ("audits", "Informations et audits à la disposition du cabinet (h)"),
)


class Processor(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="processors")
    name = models.CharField(_("nom"), max_length=200)
    kind = models.CharField(_("rôle"), max_length=20, choices=ProcessorKind.choices)
    siren = models.CharField(_("SIREN"), max_length=9, blank=True)
    handles_health_data = models.BooleanField(_("accède à des données de santé"), default=True)
    hosts_health_data = models.BooleanField(_("héberge des données de santé"), default=False)
    contract_signed_on = models.DateField(_("contrat signé le"), null=True, blank=True)
    clauses = models.JSONField(default=dict)
    contract = models.ForeignKey(
        Document, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    hds_scope = models.CharField(_("périmètre du certificat HDS"), max_length=300, blank=True)
    hds_expires_on = models.DateField(_("certificat HDS valable jusqu'au"), null=True, blank=True)
    hds_certificate = models.ForeignKey(
        Document, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_on = models.DateField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def missing_clauses(self) -> list[str]:
        return [label for key, label in ART28_CLAUSES if not self.clauses.get(key)]


class CertifiedHostList(models.Model):
    """A dated snapshot of the ANS list of certified health-data hosts, loaded by the operator."""

    snapshot_date = models.DateField(_("date de la liste"))
    source = models.CharField(max_length=300)
    loaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["-snapshot_date", "-id"]

    def __str__(self) -> str:
        return f"liste HDS du {self.snapshot_date}"


class CertifiedHost(models.Model):
    host_list = models.ForeignKey(CertifiedHostList, on_delete=models.CASCADE, related_name="hosts")
    name = models.CharField(max_length=200)
    siren = models.CharField(max_length=9, blank=True)
    activities = models.CharField(max_length=200, blank=True)
    valid_until = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class RiskLevel(models.TextChoices):
    NONE = "aucun", _("Aucun risque")
    RISK = "risque", _("Risque")
    HIGH = "eleve", _("Risque élevé")


class Breach(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="breaches")
    scenario = models.CharField(_("scénario"), max_length=40)
    summary = models.CharField(_("résumé"), max_length=300)
    aware_at = models.DateTimeField(_("connaissance de la violation"))
    occurred_at = models.DateTimeField(_("survenue"), null=True, blank=True)
    qualification = models.JSONField(default=dict)
    risk_level = models.CharField(max_length=10, choices=RiskLevel.choices, blank=True)
    risk_rationale = models.TextField(_("justification du niveau de risque"), blank=True)
    cnil_draft = models.JSONField(default=dict)
    cnil_notified_at = models.DateTimeField(null=True, blank=True)
    cnil_reference = models.CharField(max_length=80, blank=True)
    complement_notified_at = models.DateTimeField(null=True, blank=True)
    patient_letter = models.TextField(blank=True)
    patients_informed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering: ClassVar = ["-aware_at"]

    def __str__(self) -> str:
        return self.summary


class RightKind(models.TextChoices):
    ACCESS = "acces", _("Accès")
    RECTIFICATION = "rectification", _("Rectification")
    OBJECTION = "opposition", _("Opposition")
    RESTRICTION = "limitation", _("Limitation")
    ERASURE = "effacement", _("Effacement")
    PORTABILITY = "portabilite", _("Portabilité")


class RightsRequest(models.Model):
    practice = models.ForeignKey(Practice, on_delete=models.CASCADE, related_name="rights_requests")
    kind = models.CharField(_("droit exercé"), max_length=20, choices=RightKind.choices)
    requester = models.CharField(_("demandeur"), max_length=200)
    received_at = models.DateTimeField(_("reçue le"))
    medical_record = models.BooleanField(_("porte sur le dossier médical"), default=False)
    older_than_5_years = models.BooleanField(_("informations de plus de 5 ans"), default=False)
    identity_checked_at = models.DateTimeField(null=True, blank=True)
    identity_method = models.CharField(max_length=200, blank=True)
    extended_at = models.DateTimeField(null=True, blank=True)
    extension_reason = models.TextField(blank=True)
    answer = models.TextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    closure_proof = models.CharField(_("preuve de clôture"), max_length=300, blank=True)
    closure_document = models.ForeignKey(
        Document, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering: ClassVar = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.received_at:%Y-%m-%d}"
