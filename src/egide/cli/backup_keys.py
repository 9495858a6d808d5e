"""`egide backup key add|list|remove|passwd`: one passphrase per person, one master key."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import click

from egide.crypto.kdf import Argon2Params

from .backup_session import (
    EXIT_FAILURE,
    Context,
    engine_errors,
    fail,
    line,
    pass_context,
    read_passphrase_file,
)


@click.group()
def key() -> None:
    """Clés du dépôt : une phrase de passe par personne ou par usage."""


def _new_passphrase(ctx: Context, new_file: Path | None) -> bytes:
    if new_file is not None:
        return read_passphrase_file(new_file)
    if not sys.stdin.isatty():
        fail("indiquez la nouvelle phrase de passe avec --new-passphrase-file", EXIT_FAILURE)
    return str(click.prompt("Nouvelle phrase de passe", hide_input=True,
                            confirmation_prompt=True)).encode()  # fmt: skip


@key.command("add")
@click.option("--new-passphrase-file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--label", default="", help="À qui ou à quoi sert cette clé.")
@pass_context
def key_add(ctx: Context, new_passphrase_file: Path | None, label: str) -> None:
    """Ajoute une phrase de passe qui ouvre le même dépôt."""
    from egide.backup.keys import add_slot

    with engine_errors(), ctx.open() as repo:
        slot = add_slot(repo.storage, repo.master, _new_passphrase(ctx, new_passphrase_file),
                        Argon2Params(), label)  # fmt: skip
    click.echo(f"Clé {slot} ajoutée.")


@key.command("list")
@pass_context
def key_list(ctx: Context) -> None:
    """Liste les clés (l'astérisque marque celle utilisée)."""
    from egide.backup.keys import list_slots

    with engine_errors(), ctx.open() as repo:
        slots = list_slots(repo.storage)
        current = repo.slot_id
    for slot in slots:
        if ctx.json:
            line({"event": "key", **asdict(slot), "current": slot.slot_id == current})
        else:
            mark = "*" if slot.slot_id == current else " "
            click.echo(f"{mark} {slot.slot_id}  {slot.created}  {slot.label}")


@key.command("remove")
@click.argument("slot_id")
@pass_context
def key_remove(ctx: Context, slot_id: str) -> None:
    """Supprime une clé (jamais la dernière, ni celle utilisée pour ouvrir)."""
    from egide.backup.keys import remove_slot

    with engine_errors(), ctx.open() as repo:
        if slot_id == repo.slot_id:
            fail("on ne supprime pas la clé avec laquelle on vient d'ouvrir le dépôt",
                 EXIT_FAILURE)  # fmt: skip
        remove_slot(repo.storage, slot_id)
    click.echo(f"Clé {slot_id} supprimée.")


@key.command("passwd")
@click.option("--new-passphrase-file", type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def key_passwd(ctx: Context, new_passphrase_file: Path | None) -> None:
    """Change la phrase de passe de la clé utilisée."""
    from egide.backup.keys import add_slot, list_slots, remove_slot

    with engine_errors(), ctx.open() as repo:
        old = next(s for s in list_slots(repo.storage) if s.slot_id == repo.slot_id)
        new_passphrase = _new_passphrase(ctx, new_passphrase_file)
        # The new slot is written before the old one goes: a crash leaves both, never none.
        slot = add_slot(repo.storage, repo.master, new_passphrase, Argon2Params(), old.label)
        remove_slot(repo.storage, repo.slot_id)
    click.echo(f"Phrase de passe changée (nouvelle clé {slot}).")
