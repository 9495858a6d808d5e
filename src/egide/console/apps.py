from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsoleConfig(AppConfig):
    """The project itself as an app: shared templates, static files and console-wide commands."""

    name = "egide.console"
    label = "console"
    verbose_name = _("Console Égide")
