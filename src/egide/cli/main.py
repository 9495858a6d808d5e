"""The `egide` entry point: one click group, one sub-group per file.

Sub-groups are imported when used: `egide backup run` does not load the messaging, console and
agent modules (a few tenths of a second at every start, on a small machine).
"""

from __future__ import annotations

import importlib

import click

# Command name → module of `egide.cli` defining a command of the same name.
_COMMANDS = (
    "serve", "demo", "audit", "mail", "agent", "compliance", "backup", "directory", "smtp",
    "imap",
)  # fmt: skip


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _COMMANDS and cmd_name not in self.commands:
            module = importlib.import_module(f"{__package__}.{cmd_name}")
            self.add_command(getattr(module, cmd_name))
        return super().get_command(ctx, cmd_name)


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    # Not `click.version_option(__version__)`: the version is looked up only when asked for
    # (`importlib.metadata` costs ~45 ms at every start, see `egide/__init__.py`).
    if value and not ctx.resilient_parsing:
        from egide import __version__

        click.echo(f"egide, version {__version__}")
        ctx.exit()


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version", is_flag=True, expose_value=False, is_eager=True, callback=_show_version,
    help="Show the version and exit.",
)  # fmt: skip
def cli() -> None:
    """Égide : messagerie sécurisée de santé, sauvegarde HDS et conformité RGPD du cabinet."""


def main() -> None:
    cli(prog_name="egide")
