"""`egide audit verify|export`: check and hand over the hash-chained journal."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .bootstrap import start_django


@click.group()
def audit() -> None:
    """Journal d'audit chaîné."""


@audit.command()
def verify() -> None:
    """Recalcule toutes les chaînes ; code de sortie 1 et première anomalie nommée sinon."""
    start_django()
    from egide.console.audit.services import verify_all

    broken = 0
    count = 0
    for key, problem in verify_all():
        count += 1
        if problem is None:
            continue
        broken += 1
        click.echo(f"ALTÉRÉ {key} : {problem.message} [{problem.kind}]", err=True)
    if broken:
        raise SystemExit(1)
    click.echo(f"{count} chaîne(s) vérifiée(s) : intactes.")


@audit.command()
@click.option("--practice", "slug", required=True, help="Identifiant court du cabinet.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Fichier JSON à écrire (sortie standard par défaut).",
)
def export(slug: str, output: Path | None) -> None:
    """Exporte le journal d'un cabinet en JSON avec la tête de sa chaîne."""
    start_django()
    from egide.console.accounts.models import Practice
    from egide.console.audit.services import export_chain, record

    practice = Practice.objects.filter(slug=slug).first()
    if practice is None:
        raise click.ClickException(f"Aucun cabinet « {slug} ».")
    data = export_chain(practice.pk)
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        output.write_text(text + "\n", encoding="utf-8")
    record(
        "audit.exported",
        practice_id=practice.pk,
        actor="cli",
        object_type="practice",
        object_id=practice.pk,
        details={"entries": len(data["entries"])},
    )
