"""`egide directory import|search|history`: the national directory from the command line.

Where the index lives, first match wins: `--index PATH` (an SQLite file or a directory),
`--database-url URL` (PostgreSQL), `EGIDE_DATABASE_URL` when it names PostgreSQL (the
operator's configuration), else `directory.sqlite3` in `EGIDE_DATA_DIR`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from egide.messaging.directory import (
    DirectoryIndex,
    ImportRecord,
    Source,
    import_file,
    is_database_url,
    open_index,
)
from egide.messaging.errors import DirectoryError

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "egide"


def index_location(index: Path | None, database_url: str | None) -> Path | str:
    """The index the options and the environment name (see the module docstring)."""
    if index is not None:
        return index
    if database_url:
        if not is_database_url(database_url):
            raise click.BadParameter("URL PostgreSQL attendue (postgresql://…).")
        return database_url
    configured = os.environ.get("EGIDE_DATABASE_URL", "")
    if is_database_url(configured):
        return configured
    return Path(os.environ.get("EGIDE_DATA_DIR") or DEFAULT_DATA_DIR)


@contextmanager
def opened(location: Path | str, *, create: bool) -> Iterator[DirectoryIndex]:
    if isinstance(location, Path) and create:
        target = location if location.suffix == "" else location.parent
        target.mkdir(parents=True, exist_ok=True)
    try:
        index = open_index(location, create=create)
    except DirectoryError as error:
        raise click.ClickException(str(error)) from error
    try:
        yield index
    finally:
        index.close()


def where_options(function: click.decorators.FC) -> click.decorators.FC:
    function = click.option(
        "--database-url",
        metavar="URL",
        help="Annuaire sur PostgreSQL (postgresql://utilisateur@hôte:5432/base).",
    )(function)
    return click.option(
        "--index",
        "index_path",
        type=click.Path(path_type=Path),
        help="Fichier SQLite de l'annuaire, ou le dossier qui le contient.",
    )(function)


@click.group()
def directory() -> None:
    """Annuaire national MSSanté : import des extractions de l'ANS et recherche."""


@directory.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice([source.value for source in Source]),
    help="Type d'extraction (reconnu d'après l'en-tête par défaut).",
)
@where_options
@click.option(
    "--red-list",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Fichier d'adresses en liste rouge (une par ligne), jamais publiées.",
)
@click.option("--allow-shrink", is_flag=True, help="Accepter un fichier bien plus petit.")
@click.option("--json", "as_json", is_flag=True, help="Compte rendu en JSON.")
def import_command(
    file: Path,
    kind: str | None,
    index_path: Path | None,
    database_url: str | None,
    red_list: Path | None,
    allow_shrink: bool,
    as_json: bool,
) -> None:
    """Importe une extraction (Extraction_Correspondance_MSSante ou PS_LibreAcces)."""
    withheld: list[str] = []
    if red_list is not None:
        lines = red_list.read_text(encoding="utf-8").splitlines()
        withheld = [line.strip() for line in lines if line.strip()]
    location = index_location(index_path, database_url)
    with opened(location, create=True) as index:
        try:
            record = import_file(
                index,
                file,
                Source(kind) if kind else None,
                red_list=withheld,
                allow_shrink=allow_shrink,
            )
        except DirectoryError as error:
            raise click.ClickException(str(error)) from error
    if as_json:
        sys.stdout.write(json.dumps(record_as_dict(record), ensure_ascii=False, indent=2) + "\n")
        return
    click.echo(
        f"Import n°{record.id} du {record.imported_at:%d/%m/%Y %H:%M} ({record.source.value}) :"
        f" {record.entries} entrée(s) publiée(s) sur {record.lines - 1} ligne(s) ;"
        f" {record.added} nouvelle(s), {record.removed} retirée(s), {record.changed} modifiée(s) ;"
        f" {record.merged} doublon(s) fusionné(s), {record.withheld} en liste rouge."
    )
    if record.malformed:
        click.echo(f"{record.malformed} ligne(s) écartée(s) :", err=True)
        for problem in record.problems[:20]:
            click.echo(f"  ligne {problem.number} : {problem.reason}", err=True)


@directory.command()
@click.argument("query")
@where_options
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Résultats en JSON (une liste).")
def search(
    query: str, index_path: Path | None, database_url: str | None, limit: int, as_json: bool
) -> None:
    """Recherche comme dans le formulaire : nom, profession, ville, RPPS ou adresse."""
    with opened(index_location(index_path, database_url), create=False) as index:
        entries = index.search(query, limit)
    if as_json:
        data = [entry.as_dict() for entry in entries]
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return
    if not entries:
        click.echo("Aucun résultat.")
    for entry in entries:
        what = " – ".join(part for part in (entry.profession, entry.specialty) if part)
        place = " ".join(part for part in (entry.postcode, entry.city) if part)
        address = entry.address or "(sans adresse MSSanté)"
        click.echo(f"{entry.display_name} | {what} | {place} | {address}")


@directory.command()
@where_options
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
def history(index_path: Path | None, database_url: str | None, limit: int) -> None:
    """Les derniers imports et leurs différences datées."""
    with opened(index_location(index_path, database_url), create=False) as index:
        records = index.imports(limit)
    for record in records:
        click.echo(
            f"n°{record.id} {record.imported_at:%Y-%m-%d %H:%M} {record.source.value}"
            f" {record.file_name} : +{record.added} -{record.removed} ~{record.changed}"
            f" ({record.entries} entrées, {record.malformed} ligne(s) écartée(s))"
        )


def record_as_dict(record: ImportRecord) -> dict[str, object]:
    """An import record as JSON-ready data."""
    return {
        "id": record.id,
        "source": record.source.value,
        "imported_at": record.imported_at.isoformat(),
        "file_name": record.file_name,
        "lines": record.lines,
        "entries": record.entries,
        "merged": record.merged,
        "malformed": record.malformed,
        "withheld": record.withheld,
        "added": record.added,
        "removed": record.removed,
        "changed": record.changed,
        "problems": [
            {"line": p.number, "reason": p.reason, "excerpt": p.excerpt} for p in record.problems
        ],
    }
