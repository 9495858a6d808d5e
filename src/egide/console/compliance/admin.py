"""Operator administration: frameworks (read-only: they come from YAML) and the dated list of
certified hosts. Practice data (registers, breaches, rights) is not exposed here on purpose."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import CertifiedHost, CertifiedHostList, Framework


@admin.register(Framework)
class FrameworkAdmin(admin.ModelAdmin[Framework]):
    list_display = ("code", "version", "title", "is_current", "loaded_at")
    readonly_fields = ("code", "version", "title", "source", "file_sha256", "loaded_at", "themes")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # frameworks are loaded from their YAML files only


class CertifiedHostInline(admin.TabularInline[CertifiedHost, CertifiedHostList]):
    model = CertifiedHost
    extra = 1


@admin.register(CertifiedHostList)
class CertifiedHostListAdmin(admin.ModelAdmin[CertifiedHostList]):
    list_display = ("snapshot_date", "source", "loaded_at")
    inlines = (CertifiedHostInline,)
