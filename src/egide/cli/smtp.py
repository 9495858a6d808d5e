"""`egide smtp …`: the SMTP listeners and the trust list, for the operator."""

from __future__ import annotations

import ctypes
import gc
import os
import signal
from collections.abc import Callable

import click

from .bootstrap import Stoppable, migrate, serve_until_stopped, start_django


def start_smtp(
    port: int | None,
    submission_port: int | None = None,
    *,
    reuse_port: bool = False,
    ingest_in_child: bool = False,
    on_ingest_gone: Callable[[str], None] | None = None,
) -> list[Stoppable]:
    """Start the listeners (Django already set up); [] with a clear message if TLS is missing."""
    from egide.console.inbox import listener

    try:
        started = listener.start(
            port=port,
            submission_port=submission_port,
            reuse_port=reuse_port,
            ingest_in_child=ingest_in_child,
            on_ingest_gone=on_ingest_gone,
        )
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


def _die_with_parent() -> None:
    """Linux: this forked listener gets SIGTERM when the process that started it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _freeze_heap() -> None:
    """Leave what start-up built (Django, models, TLS) out of the garbage collector's scans.

    A full collection walks every object of the process (≈ 125,000 after start-up, 40–90 ms
    here) while holding the GIL: every connection of the listener waits, which shows in its
    p99. Frozen before forking, these objects also stay shared with the other listeners.
    """
    gc.collect()
    gc.freeze()


def _fork_listeners(count: int) -> tuple[list[int], bool]:
    """Fork `count` more listener processes; (their pids, whether this is one of them)."""
    from django.db import connections

    connections.close_all()  # never share a database connection across fork
    children = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            _die_with_parent()
            return [], True
        children.append(pid)
    return children, False


@smtp.command("serve")
@click.option("--host", default=None, help="Adresse d'écoute (EGIDE_SMTP_HOST).")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="Port relais.")
@click.option(
    "--submission-port", default=None, type=click.IntRange(0, 65535), help="Port de soumission."
)
@click.option(
    "--processes",
    envvar="EGIDE_SMTP_PROCESSES",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Processus d'écoute sur les mêmes ports (un cœur chacun environ).",
)
def serve_smtp(
    host: str | None, port: int | None, submission_port: int | None, processes: int
) -> None:
    """Écoute SMTP seule (sans console) : relais entre opérateurs et soumission."""
    if host:
        os.environ["EGIDE_SMTP_HOST"] = host
    start_django()
    migrate()
    _freeze_heap()
    children, forked = _fork_listeners(processes - 1) if processes > 1 else ([], False)
    from django.conf import settings

    # The relay's storage in a child process (ADR 0038). If it dies, this listener stops and
    # exits with an error: its supervisor starts it again (nothing acknowledged is lost).
    gone: list[str] = []

    def ingest_gone(reason: str) -> None:
        gone.append(reason)
        os.kill(os.getpid(), signal.SIGTERM)

    listeners = start_smtp(
        port,
        submission_port,
        reuse_port=processes > 1,
        ingest_in_child=settings.EGIDE_SMTP_INGEST_PROCESS,
        on_ingest_gone=ingest_gone,
    )
    if not listeners:
        raise click.ClickException("aucune écoute SMTP démarrée")
    _freeze_heap()
    try:
        serve_until_stopped(listeners)
    finally:
        for pid in children:
            os.kill(pid, signal.SIGTERM)
        for pid in children:
            os.waitpid(pid, 0)
    if gone:
        if forked:
            os._exit(1)
        raise click.ClickException(f"processus de stockage arrêté ({gone[0]}) : écoute arrêtée")
    if forked:
        os._exit(0)


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
