"""Practices (the tenants) and their users.

A practice user belongs to exactly one practice and has one role. Operator staff belong to no
practice: they manage practices and accounts but never read a practice's health data.
"""

from __future__ import annotations

from typing import ClassVar

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from egide.messaging.identifiers import InvalidIdentifier, validate_rpps


class Practice(models.Model):
    """A cabinet: the unit of tenancy, billing and compliance."""

    name = models.CharField(_("nom"), max_length=200)
    slug = models.SlugField(_("identifiant court"), unique=True)
    city = models.CharField(_("ville"), max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("cabinet")
        verbose_name_plural = _("cabinets")
        ordering: ClassVar = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    PRACTITIONER = "praticien", _("Praticien")
    SECRETARY = "secretariat", _("Secrétariat")
    LOCUM = "remplacant", _("Remplaçant")
    COMPLIANCE_LEAD = "referent_conformite", _("Référent conformité")
    OPERATOR = "operateur", _("Équipe de l'opérateur")


PRACTICE_ROLES = frozenset({Role.PRACTITIONER, Role.SECRETARY, Role.LOCUM, Role.COMPLIANCE_LEAD})


def _check_rpps(value: str) -> None:
    try:
        validate_rpps(value)
    except InvalidIdentifier as error:
        raise ValidationError(str(error)) from None


class User(AbstractUser):
    practice = models.ForeignKey(
        Practice,
        verbose_name=_("cabinet"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
    )
    role = models.CharField(_("rôle"), max_length=32, choices=Role.choices)
    profession = models.CharField(_("profession"), max_length=120, blank=True)
    rpps = models.CharField(
        _("RPPS"),
        max_length=11,
        blank=True,
        validators=[_check_rpps],
        help_text=_("Numéro RPPS à 11 chiffres (praticiens et remplaçants)."),
    )

    class Meta:
        verbose_name = _("utilisateur")
        verbose_name_plural = _("utilisateurs")
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=(
                    models.Q(role=Role.OPERATOR, practice__isnull=True)
                    | (~models.Q(role=Role.OPERATOR) & models.Q(practice__isnull=False))
                ),
                name="user_practice_matches_role",
            ),
        ]

    @property
    def is_operator(self) -> bool:
        return self.role == Role.OPERATOR

    def clean(self) -> None:
        super().clean()
        if self.role == Role.OPERATOR and self.practice_id is not None:
            raise ValidationError(_("L'équipe de l'opérateur n'appartient à aucun cabinet."))
        if self.role in PRACTICE_ROLES and self.practice_id is None:
            raise ValidationError(_("Choisissez le cabinet de cet utilisateur."))

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class ApiToken(models.Model):
    """An application password: lets practice software or a mail client act as one person."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("nom"), max_length=120)
    key_id = models.CharField(max_length=24, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"
