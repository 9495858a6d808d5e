"""`egide serve`: the console and the background worker in one process (embedded default)."""

from __future__ import annotations

import threading

import click

from .bootstrap import migrate, start_django


def _login_help(base_url: str) -> str:
    from .demo import credentials_path

    lines = [f"Console Égide : {base_url}/"]
    path = credentials_path()
    if path.exists():
        lines.append("Comptes de démonstration (identifiant, mot de passe) :")
        lines += [f"  {line}" for line in path.read_text(encoding="utf-8").splitlines()]
    lines += [
        "À la première connexion, Égide demande d'enregistrer un second facteur : scannez le",
        "QR code avec une application d'authentification (FreeOTP, Google Authenticator,",
        "Microsoft Authenticator…), saisissez le code à 6 chiffres,",
        "puis conservez vos codes de secours.",
        "Arrêt : Ctrl+C.",
    ]
    return "\n".join(lines)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Adresse d'écoute.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--smtp-port",
    envvar="EGIDE_SMTP_PORT",
    default=2525,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port SMTP (relais MSSanté) ; 0 pour ne pas écouter.",
)
@click.option(
    "--imap-port",
    envvar="EGIDE_IMAP_PORT",
    default=1993,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port IMAP (TLS implicite) des logiciels de messagerie ; 0 pour ne pas écouter.",
)
def serve(host: str, port: int, threads: int, smtp_port: int, imap_port: int) -> None:
    """Lance la console, les tâches de fond et les écoutes SMTP et IMAP (si TLS est configuré)."""
    start_django()
    migrate()
    from .imap import start_imap
    from .smtp import start_smtp

    smtp_listeners = start_smtp(smtp_port) if smtp_port else []
    imap_servers = start_imap(imap_port) if imap_port else []
    from django.conf import settings
    from huey.consumer import ConsumerStopped
    from huey.contrib.djhuey import HUEY
    from waitress.server import create_server

    from egide.console.wsgi import application

    consumer = HUEY.create_consumer(**settings.HUEY.get("consumer", {}))
    consumer.start()  # worker and scheduler threads; signal handlers on this main thread
    server = create_server(application, host=host, port=port, threads=threads)
    threading.Thread(target=server.run, name="console", daemon=True).start()
    click.echo(_login_help(f"http://{host}:{port}"))
    try:
        while True:
            consumer.loop()
    except ConsumerStopped:
        pass
    finally:
        server.close()
        for listener in [*smtp_listeners, *imap_servers]:
            listener.stop()
