"""Starting Django from the command line, only for the commands that need the console."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Sequence
from typing import Protocol

import click


def start_django() -> None:
    """Configure Django; a bad setting becomes a clear error naming the variable."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "egide.console.settings")
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as error:
        raise click.ClickException(f"Configuration invalide : {error}") from None


def migrate(verbosity: int = 0) -> None:
    """Apply pending database migrations and load the compliance frameworks shipped with Égide."""
    from django.core.management import call_command

    from egide.console.compliance.services import load_frameworks

    call_command("migrate", interactive=False, verbosity=verbosity)
    load_frameworks()


class Stoppable(Protocol):
    def stop(self) -> None: ...


def serve_until_stopped(servers: Sequence[Stoppable]) -> None:
    """Block until SIGTERM or Ctrl+C, then stop `servers`."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.stop()
