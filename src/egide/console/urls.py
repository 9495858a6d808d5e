from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from egide.console import views
from egide.console.accounts import views as account_views
from egide.console.audit import views as audit_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("compte/", account_views.account, name="account"),
    path("compte/jetons/nouveau", account_views.create_token, name="create_token"),
    path("compte/jetons/<int:token_id>/revoquer", account_views.revoke_token, name="revoke_token"),
    path("journal/", audit_views.journal, name="journal"),
    path("conformite/", include("egide.console.compliance.urls")),
    path("operateur/cabinets/", views.operator_practices, name="operator_practices"),
    path("", include("egide.console.backups.urls")),
    path("", include("egide.console.inbox.urls")),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
