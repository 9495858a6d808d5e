from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "egide.console.accounts"
    label = "accounts"
    verbose_name = _("Comptes et cabinets")

    def ready(self) -> None:
        from . import auth_events

        auth_events.connect()
