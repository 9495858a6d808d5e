from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import Practice, User


@admin.register(Practice)
class PracticeAdmin(admin.ModelAdmin[Practice]):
    list_display = ("name", "slug", "city", "created_at")
    search_fields = ("name", "slug", "city")
    prepopulated_fields = {"slug": ("name",)}  # noqa: RUF012


@admin.register(User)
class MemberAdmin(UserAdmin[User]):
    list_display = ("username", "first_name", "last_name", "practice", "role")
    list_filter = ("role", "practice")
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("Égide", {"fields": ("practice", "role", "profession", "rpps")}),
    )
