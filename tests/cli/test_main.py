"""The `egide` entry point and the demo command."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from egide import __version__
from egide.cli.main import cli
from egide.console.accounts.models import Practice, Role, User
from egide.messaging.identifiers import validate_rpps


def test_egide_version_prints_the_version() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from egide.cli.main import main; main()", "--version"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert result.stdout.strip() == f"egide, version {__version__}"


@pytest.mark.django_db
def test_demo_creates_the_tilleuls_practice_once() -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["demo"])
    assert first.exit_code == 0, first.output
    assert "Cabinet médical des Tilleuls créé" in first.output
    second = runner.invoke(cli, ["demo"])
    assert second.exit_code == 0 and "existe déjà" in second.output
    practice = Practice.objects.get(slug="tilleuls")
    members = {user.username: user for user in User.objects.filter(practice=practice)}
    assert {m.role for m in members.values()} == {Role.PRACTITIONER, Role.SECRETARY}
    professions = {m.profession for m in members.values()}
    assert {"Médecin généraliste", "Masseur-kinésithérapeute"} <= professions
    for member in members.values():
        if member.rpps:
            assert validate_rpps(member.rpps).startswith("997")  # the ANS test range
