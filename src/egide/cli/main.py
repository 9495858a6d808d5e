"""The `egide` entry point: one click group, one sub-group per file, imported when used.

Each command group is imported only when it is run (or when the help lists them all): `egide
backup restore` does not pay for the messaging and compliance libraries — a third of a second of
CPU per command, measured, on the backup benchmark's 2-core VM.
"""

from __future__ import annotations

import importlib

import click

from egide import __version__

# Name → "module:attribute" of each command group, relative to this package.
_COMMANDS = {
    "serve": ".serve:serve",
    "demo": ".demo:demo",
    "audit": ".audit:audit",
    "mail": ".mail:mail",
    "agent": ".agent:agent",
    "compliance": ".compliance:compliance",
    "backup": ".backup:backup",
    "directory": ".directory:directory",
    "smtp": ".smtp:smtp",
    "imap": ".imap:imap",
}


class _LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in _COMMANDS:
            return found
        module, _, attribute = _COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(module, __package__), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{_COMMANDS[cmd_name]} is not a click command")
        self.add_command(command, cmd_name)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="egide")
def cli() -> None:
    """Égide : messagerie sécurisée de santé, sauvegarde HDS et conformité RGPD du cabinet."""


def main() -> None:
    cli(prog_name="egide")
