"""`egide agent check`: the workstation agent's checks, as a French report, JSON, or to the console.

The group lives in its own file so that other agent commands (backups) can be added to it.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from egide import __version__
from egide.posture.catalogue import inspect
from egide.posture.delivery import send_report
from egide.posture.errors import ReportDeliveryFailed
from egide.posture.host import current_host
from egide.posture.measures import CHECKS
from egide.posture.probe import Probe
from egide.posture.report import build_report
from egide.posture.result import CheckResult, Status
from egide.posture.runner import SubprocessRunner

STYLE = {
    Status.PASS: ("✔", "Conforme", "green"),
    Status.FAIL: ("✘", "Non conforme", "bold red"),
    Status.NOT_APPLICABLE: ("–", "Sans objet", "dim"),
    Status.NOT_CHECKED: ("?", "Non vérifié", "yellow"),
    Status.ERROR: ("!", "Erreur", "magenta"),
}


@click.group()
def agent() -> None:
    """Agent du poste de travail : vérifications de sécurité du poste."""


def daily_user(explicit: str | None) -> tuple[str, Path | None]:
    """The account used every day: --user, else the one behind sudo, else the current one."""
    user = explicit or os.environ.get("SUDO_USER") or getpass.getuser()
    if sys.platform != "win32":
        import pwd

        try:
            return user, Path(pwd.getpwnam(user).pw_dir)
        except KeyError:
            return user, None
    return user, Path.home()


def child_environment() -> dict[str, str]:
    """Commands answer in English on Linux and macOS, so their output parses the same."""
    if sys.platform == "win32":
        return dict(os.environ)  # Windows tools ignore LC_ALL: the parsers read French too
    return {**os.environ, "LC_ALL": "C", "LANG": "C"}


def render(console: Console, hostname: str, results: list[CheckResult]) -> None:
    console.print(f"[bold]Vérification du poste « {escape(hostname)} »[/bold]\n")
    for result in results:
        mark, label, style = STYLE[result.status]
        title = CHECKS[result.check][1]
        measure = f"[dim]({result.measure_id})[/dim]"
        console.print(f"[{style}]{mark} {label:<13}[/{style}] {escape(title)} {measure}")
        console.print(f"    {escape(result.explanation)}")
        if result.status is not Status.PASS and result.remediation:
            console.print(f"    [bold]À faire :[/bold] {escape(result.remediation)}")
    counts = {status: sum(r.status is status for r in results) for status in Status}
    console.print(
        f"\n[bold]{counts[Status.PASS]} conforme(s), {counts[Status.FAIL]} non conforme(s)"
        f"[/bold], {counts[Status.NOT_CHECKED] + counts[Status.ERROR]} non vérifié(s), "
        f"{counts[Status.NOT_APPLICABLE]} sans objet."
    )


@agent.command()
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON (constats de conformité).")
@click.option("--report", "report_url", metavar="URL", help="Envoie le rapport à la console.")
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Fichier contenant le jeton de l'agent (avec --report).",
)
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Autorité de certification de la console, si elle n'est pas publique.",
)
@click.option("--user", "user", help="Compte utilisé au quotidien (par défaut : le vôtre).")
@click.option(
    "--only",
    multiple=True,
    type=click.Choice(list(CHECKS)),
    help="Ne lance que ces vérifications (option répétable).",
)
@click.option(
    "--timeout", default=15.0, show_default=True, help="Délai maximal par commande (secondes)."
)
def check(
    as_json: bool,
    report_url: str | None,
    token_file: Path | None,
    ca_file: Path | None,
    user: str | None,
    only: tuple[str, ...],
    timeout: float,
) -> None:
    """Vérifie antivirus, mises à jour, chiffrement, verrouillage, pare-feu, comptes, Wi-Fi…"""
    if report_url and token_file is None:
        raise click.UsageError("--report demande --token-file.")
    token = ""
    if token_file is not None:
        token = token_file.read_text(encoding="utf-8").strip()
        if not token:
            raise click.ClickException(f"Le fichier de jeton {token_file} est vide.")
        if sys.platform != "win32" and token_file.stat().st_mode & 0o077:
            click.echo(
                f"Attention : {token_file} est lisible par d'autres comptes "
                f"(« chmod 600 {token_file} »).",
                err=True,
            )
    host = current_host()
    if host.system not in {"linux", "windows", "macos"}:
        raise click.ClickException(f"Système « {host.system} » non pris en charge.")
    name, home = daily_user(user)
    started = datetime.now(UTC)
    probe = Probe(
        runner=SubprocessRunner(env=child_environment()),
        now=started,
        user=name,
        home=home,
        timeout=timeout,
    )
    results = inspect(probe, host.system, only=only)
    titles = {check_name: title for check_name, (_, title) in CHECKS.items()}
    report = build_report(host, results, titles, started, datetime.now(UTC), __version__)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        render(Console(highlight=False), host.hostname, results)
    if report_url:
        try:
            send_report(
                report_url, token, report, ca_file=ca_file, user_agent=f"egide-agent/{__version__}"
            )
        except ReportDeliveryFailed as error:
            raise click.ClickException(str(error)) from None
        click.echo("Rapport envoyé à la console.", err=True)


# The backup agent's commands live in their own module; registered here, on the one `agent` group.
from .agent_backup import backup_command, drill_command, run_command  # noqa: E402

agent.add_command(run_command)
agent.add_command(backup_command)
agent.add_command(drill_command)
