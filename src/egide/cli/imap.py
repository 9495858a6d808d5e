"""`egide imap …`: the IMAP listener for mail clients and practice software, for the operator."""

from __future__ import annotations

import os

import click

from .bootstrap import Stoppable, migrate, serve_until_stopped, start_django


def start_imap(port: int | None, starttls_port: int | None = None) -> list[Stoppable]:
    """Start the listener (Django already set up); [] with a clear message if TLS is missing."""
    from egide.console.inbox import imap_backend

    try:
        server = imap_backend.start(port=port, starttls_port=starttls_port)
    except imap_backend.ImapNotConfigured as error:
        click.echo(f"IMAP : {error}", err=True)
        return []
    except OSError as error:
        click.echo(f"IMAP : écoute impossible ({error})", err=True)
        return []
    for name, number in server.ports.items():
        mode = "TLS implicite" if name == "tls" else "STARTTLS obligatoire"
        click.echo(f"IMAP : port {number} ({mode})")
    return [server]


@click.group()
def imap() -> None:
    """Messagerie : accès IMAP des logiciels de messagerie et des logiciels métier."""


@imap.command("serve")
@click.option("--host", default=None, help="Adresse d'écoute (EGIDE_IMAP_HOST).")
@click.option(
    "--port", default=None, type=click.IntRange(0, 65535), help="Port TLS implicite (993)."
)
@click.option(
    "--starttls-port", default=None, type=click.IntRange(0, 65535), help="Port STARTTLS (143)."
)
def serve_imap(host: str | None, port: int | None, starttls_port: int | None) -> None:
    """Écoute IMAP seule (sans console), TLS obligatoire."""
    if host:
        os.environ["EGIDE_IMAP_HOST"] = host
    start_django()
    migrate()
    servers = start_imap(port, starttls_port)
    if not servers:
        raise click.ClickException("aucune écoute IMAP démarrée")
    serve_until_stopped(servers)
