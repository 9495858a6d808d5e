"""`egide demo`: migrate and create the demo practice when absent (idempotent)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .bootstrap import migrate, start_django

CREDENTIALS_FILE = "demo-credentials.txt"


def credentials_path() -> Path:
    from django.conf import settings

    return Path(settings.DATA_DIR) / CREDENTIALS_FILE


def write_credentials(credentials: dict[str, str]) -> Path:
    path = credentials_path()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        for username, password in credentials.items():
            handle.write(f"{username} {password}\n")
    return path


@click.command()
def demo() -> None:
    """Applique les migrations et crée le cabinet de démonstration « des Tilleuls » s'il manque."""
    start_django()
    migrate()
    from egide.console.accounts.models import Practice
    from egide.console.accounts.services import DEMO_SLUG, create_demo
    from egide.console.inbox.services import create_demo_mailboxes

    credentials = create_demo()
    create_demo_mailboxes(Practice.objects.get(slug=DEMO_SLUG))
    if credentials is None:
        click.echo("Le cabinet de démonstration « tilleuls » existe déjà.")
        return
    path = write_credentials(credentials)
    click.echo(f"Cabinet médical des Tilleuls créé ; identifiants enregistrés dans {path}.")
