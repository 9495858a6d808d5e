"""`egide smtp …` and the SMTP part of `egide serve`, through click on the test database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from egide.cli.main import cli
from egide.cli.smtp import start_smtp
from egide.console.audit.models import AuditEntry

pytestmark = pytest.mark.django_db
SAMPLE = Path(__file__).parent.parent / "data/messaging/trust/listeblanche-sample.xml"


@pytest.fixture
def trust_file(settings: Any, tmp_path: Path) -> Path:
    settings.EGIDE_TRUST_LIST_FILE = str(tmp_path / "listeblanche.xml")
    return tmp_path / "listeblanche.xml"


def test_refresh_trust_list_installs_a_list_and_says_how_many_domains(trust_file: Path) -> None:
    result = CliRunner().invoke(cli, ["smtp", "refresh-trust-list", "--source", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert "10 domaines" in result.output
    assert trust_file.read_bytes() == SAMPLE.read_bytes()


def test_a_failed_refresh_keeps_the_previous_list_and_is_audited(
    trust_file: Path, tmp_path: Path
) -> None:
    CliRunner().invoke(cli, ["smtp", "refresh-trust-list", "--source", str(SAMPLE)])
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<html>503</html>")
    for source in (str(broken), "http://listeblanche.example/liste.xml", str(tmp_path / "nope")):
        result = CliRunner().invoke(cli, ["smtp", "refresh-trust-list", "--source", source])
        assert result.exit_code == 0, result.output
        assert "10 domaines" in result.output
    assert trust_file.read_bytes() == SAMPLE.read_bytes()
    assert AuditEntry.objects.filter(action="trustlist.refresh_failed").count() == 3


def test_smtp_serve_refuses_to_start_without_tls_material(settings: Any) -> None:
    settings.EGIDE_SMTP_CERT_FILE = ""
    result = CliRunner().invoke(cli, ["smtp", "serve", "--port", "2599"])
    assert result.exit_code != 0
    assert "TLS obligatoire" in result.output
    assert "EGIDE_SMTP_CERT_FILE" in result.output


def test_serve_goes_on_without_smtp_when_tls_is_missing(settings: Any) -> None:
    settings.EGIDE_SMTP_CERT_FILE = ""
    assert start_smtp(2599) == []


def test_smtp_serve_takes_a_number_of_listener_processes_from_option_or_environment() -> None:
    """Checked before anything starts; several processes are exercised in test_smtp_crash."""
    refused = CliRunner().invoke(cli, ["smtp", "serve", "--processes", "0"])
    assert refused.exit_code == 2
    assert "--processes" in refused.output
    from_env = CliRunner().invoke(cli, ["smtp", "serve"], env={"EGIDE_SMTP_PROCESSES": "65"})
    assert from_env.exit_code == 2
    assert "65" in from_env.output
    shown = CliRunner().invoke(cli, ["smtp", "serve", "--help"])
    assert "--processes" in shown.output
    assert "default: 1" in shown.output
