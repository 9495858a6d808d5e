"""`egide compliance …` end to end through click, on the test database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from egide.cli.main import cli
from egide.console.accounts.models import Practice
from egide.console.audit.models import AuditEntry
from egide.console.compliance.models import CertifiedHost, Framework
from egide.console.compliance.services import FRAMEWORKS_DIR

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded() -> None:
    result = CliRunner().invoke(cli, ["compliance", "load-frameworks"])
    assert result.exit_code == 0, result.output
    assert "rcm 2020.1 : importé" in result.output


def test_load_frameworks_is_idempotent(loaded: None) -> None:
    result = CliRunner().invoke(cli, ["compliance", "load-frameworks"])
    assert "déjà à jour" in result.output
    assert Framework.objects.count() == 1


def test_load_frameworks_names_the_file_and_line_of_a_bad_file(tmp_path: Path) -> None:
    for source in FRAMEWORKS_DIR.glob("*.yaml"):
        (tmp_path / source.name).write_bytes(source.read_bytes())
    target = tmp_path / "referentiel-cabinets-2020.yaml"
    target.write_text(
        target.read_text(encoding="utf-8").replace("theme: SEN", "theme: ZZZ", 1), encoding="utf-8"
    )
    result = CliRunner().invoke(
        cli, ["compliance", "load-frameworks", "--directory", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "referentiel-cabinets-2020.yaml:" in result.output
    assert "thème « ZZZ » non déclaré" in result.output


def test_the_dossier_is_written_as_json_and_pdf(loaded: None, tmp_path: Path) -> None:
    Practice.objects.create(name="Cabinet des Lilas", slug="lilas")
    runner = CliRunner()
    result = runner.invoke(cli, ["compliance", "dossier", "--practice", "lilas"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["practice"]["slug"] == "lilas" and len(document["sha256"]) == 64
    pdf = tmp_path / "dossier.pdf"
    result = runner.invoke(
        cli, ["compliance", "dossier", "--practice", "lilas", "--format", "pdf", "-o", str(pdf)]
    )
    assert result.exit_code == 0, result.output
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert AuditEntry.objects.filter(action="compliance.dossier_generated").count() == 2


def test_the_dossier_refuses_an_unknown_practice_and_a_pdf_on_stdout(loaded: None) -> None:
    Practice.objects.create(name="Cabinet des Lilas", slug="lilas")
    runner = CliRunner()
    assert (
        "Aucun cabinet" in runner.invoke(cli, ["compliance", "dossier", "--practice", "x"]).output
    )
    result = runner.invoke(cli, ["compliance", "dossier", "--practice", "lilas", "--format", "pdf"])
    assert result.exit_code == 1 and "-o FICHIER" in result.output


def test_the_certified_host_list_loads_from_csv(tmp_path: Path) -> None:
    csv_file = tmp_path / "hds.csv"
    csv_file.write_text(
        "name;siren;activities;valid_until\nNuage Santé;123456789;1-6;2027-05-01\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli, ["compliance", "load-hds-list", str(csv_file), "--date", "2026-11-01"]
    )
    assert result.exit_code == 0, result.output
    assert CertifiedHost.objects.get().name == "Nuage Santé"
    bad = CliRunner().invoke(cli, ["compliance", "load-hds-list", str(csv_file), "--date", "hier"])
    assert bad.exit_code == 1 and "AAAA-MM-JJ" in bad.output
