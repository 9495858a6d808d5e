"""The `egide` entry point: one click group, one sub-group per file."""

from __future__ import annotations

import click

from egide import __version__

from .agent import agent
from .audit import audit
from .backup import backup
from .compliance import compliance
from .demo import demo
from .directory import directory
from .imap import imap
from .mail import mail
from .serve import serve
from .smtp import smtp


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="egide")
def cli() -> None:
    """Égide : messagerie sécurisée de santé, sauvegarde HDS et conformité RGPD du cabinet."""


cli.add_command(serve)
cli.add_command(demo)
cli.add_command(audit)
cli.add_command(mail)
cli.add_command(agent)
cli.add_command(compliance)
cli.add_command(backup)
cli.add_command(directory)
cli.add_command(smtp)
cli.add_command(imap)


def main() -> None:
    cli(prog_name="egide")
