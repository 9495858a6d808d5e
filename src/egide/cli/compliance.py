"""`egide compliance load-frameworks|dossier|load-hds-list`: the compliance desk from a shell."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from .bootstrap import start_django


@click.group()
def compliance() -> None:
    """Conformité RGPD : référentiels, dossier de conformité, liste des hébergeurs HDS."""


@compliance.command("load-frameworks")
@click.option(
    "--directory",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Dossier des fichiers YAML (par défaut : ceux livrés avec Égide).",
)
def load_frameworks(directory: Path | None) -> None:
    """Valide puis importe les référentiels ; un fichier invalide est refusé avec sa ligne."""
    start_django()
    from egide.console.compliance import services
    from egide.console.compliance.errors import ComplianceError

    try:
        results = services.load_frameworks(directory or services.FRAMEWORKS_DIR)
    except ComplianceError as error:
        raise click.ClickException(str(error)) from None
    for framework, created in results:
        state = "importé" if created else "déjà à jour"
        click.echo(f"{framework.code} {framework.version} : {state}")


@compliance.command()
@click.option("--practice", "slug", required=True, help="Identifiant court du cabinet.")
@click.option("--format", "fmt", type=click.Choice(["pdf", "json"]), default="json")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Fichier à écrire (sortie standard par défaut pour le JSON).",
)
def dossier(slug: str, fmt: str, output: Path | None) -> None:
    """Produit le dossier de conformité daté d'un cabinet, avec son empreinte SHA-256."""
    start_django()
    from egide.console.accounts.models import Practice
    from egide.console.compliance import dossier as dossiers
    from egide.console.compliance.errors import ComplianceError

    practice = Practice.objects.filter(slug=slug).first()
    if practice is None:
        raise click.ClickException(f"Aucun cabinet « {slug} ».")
    if fmt == "pdf" and output is None:
        raise click.ClickException("Le PDF doit être écrit dans un fichier : ajoutez -o FICHIER.")
    try:
        rendered = dossiers.generate(practice, None, fmt, actor="cli")
    except ComplianceError as error:
        raise click.ClickException(str(error)) from None
    if output is None:
        sys.stdout.buffer.write(rendered.content)
        return
    output.write_bytes(rendered.content)
    click.echo(f"{output} : SHA-256 du contenu {rendered.content_sha256}", err=True)
    click.echo(f"{output} : SHA-256 du fichier {rendered.file_sha256}", err=True)


@compliance.command("load-hds-list")
@click.argument("csv_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--date", "snapshot", required=True, help="Date de la liste ANS (AAAA-MM-JJ).")
@click.option("--source", default="ANS, liste des hébergeurs certifiés", show_default=True)
def load_hds_list(csv_file: Path, snapshot: str, source: str) -> None:
    """Charge un instantané daté de la liste des hébergeurs certifiés HDS (CSV ; séparé)."""
    start_django()
    from egide.console.compliance.errors import ComplianceError
    from egide.console.compliance.register import load_certified_hosts

    try:
        day = date.fromisoformat(snapshot)
    except ValueError:
        raise click.ClickException("Date invalide : AAAA-MM-JJ attendu.") from None
    try:
        host_list = load_certified_hosts(csv_file.read_text(encoding="utf-8"), day, source)
    except (ComplianceError, UnicodeDecodeError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{host_list.hosts.count()} hébergeur(s) chargé(s), liste du {day.isoformat()}")
