"""`egide smtp …`: the SMTP listeners and the trust list, for the operator."""

from __future__ import annotations

import os
import signal
import threading

import click

from .bootstrap import migrate, start_django


def start_smtp(port: int | None, submission_port: int | None = None) -> list[object]:
    """Start the listeners (Django already set up); [] with a clear message if TLS is missing."""
    from egide.console.inbox import listener

    try:
        started = listener.start(port=port, submission_port=submission_port)
    except listener.SmtpNotConfigured as error:
        click.echo(f"SMTP : {error}", err=True)
        return []
    except OSError as error:
        click.echo(f"SMTP : écoute impossible ({error})", err=True)
        return []
    for item in started:
        click.echo(f"SMTP {item.name} : {item.host}:{item.port} (STARTTLS obligatoire)")
    return list(started)


@click.group()
def smtp() -> None:
    """Messagerie MSSanté : écoute SMTP et liste blanche."""


@smtp.command("serve")
@click.option("--host", default=None, help="Adresse d'écoute (EGIDE_SMTP_HOST).")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="Port relais.")
@click.option(
    "--submission-port", default=None, type=click.IntRange(0, 65535), help="Port de soumission."
)
def serve_smtp(host: str | None, port: int | None, submission_port: int | None) -> None:
    """Écoute SMTP seule (sans console) : relais entre opérateurs et soumission."""
    if host:
        os.environ["EGIDE_SMTP_HOST"] = host
    start_django()
    migrate()
    listeners = start_smtp(port, submission_port)
    if not listeners:
        raise click.ClickException("aucune écoute SMTP démarrée")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for item in listeners:
            item.stop()  # type: ignore[attr-defined]


@smtp.command("refresh-trust-list")
@click.option("--source", default=None, help="URL https:// ou fichier (EGIDE_TRUST_LIST_SOURCE).")
def refresh_trust_list(source: str | None) -> None:
    """Recharge la liste blanche MSSanté et les CRL ; en cas d'échec la copie précédente reste."""
    start_django()
    migrate()
    from egide.console.inbox import revocation, trustspace

    renewed = revocation.refresh_crls()
    if renewed:
        click.echo(f"{renewed} liste(s) de révocation (CRL) renouvelée(s).")
    space = trustspace.refresh(source)
    if space is None:
        raise click.ClickException("aucune liste blanche disponible")
    click.echo(
        f"{len(space.domains)} domaines dans l'espace de confiance (générée {space.generated_at})."
    )
