"""`egide mail inspect FILE`: describe a received e-mail, IHE_XDM.ZIP, CDA or HL7 v2 file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from egide.messaging.inspection import Inspection, inspect_bytes
from egide.messaging.mime import DEFAULT_MAX_BYTES

# Files larger than this are not even read: no legitimate message item comes close.
_READ_LIMIT_FACTOR = 4


@click.group()
def mail() -> None:
    """Messagerie sécurisée de santé : examen des messages et documents reçus."""


@mail.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--max-bytes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    help="Taille maximale d'un message ou d'une pièce jointe.",
)
def inspect(file: Path, max_bytes: int) -> None:
    """Affiche un objet JSON décrivant FILE ; code de sortie 1 s'il n'a pas pu être lu."""
    size = file.stat().st_size
    if size > max_bytes * _READ_LIMIT_FACTOR:
        result = Inspection(kind="unknown")
        result.errors.append(f"Fichier de {size} octets, trop volumineux pour être examiné.")
    else:
        result = inspect_bytes(file.read_bytes(), max_bytes=max_bytes)
    sys.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False, indent=2) + "\n")
    if not result.understood:
        raise SystemExit(1)
