"""`egide imap serve` and the IMAP part of `egide serve`, through click on the test database."""

from __future__ import annotations

import imaplib
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from egide.cli.imap import start_imap
from egide.cli.main import cli
from egide.crypto import x509

pytestmark = pytest.mark.django_db


def test_imap_serve_refuses_to_start_without_tls_material(settings: Any) -> None:
    settings.EGIDE_IMAP_CERT_FILE = settings.EGIDE_SMTP_CERT_FILE = ""
    result = CliRunner().invoke(cli, ["imap", "serve", "--port", "2993"])
    assert result.exit_code != 0
    assert "TLS obligatoire" in result.output
    assert "EGIDE_IMAP_CERT_FILE" in result.output


def test_start_imap_names_its_ports_and_listens_over_tls(settings: Any, tmp_path: Path) -> None:
    root = x509.create_ca("Test root", key_type="rsa2048")
    server = x509.issue_server_certificate(root, "localhost")
    (tmp_path / "imap.crt").write_bytes(x509.certificate_pem(server.certificate))
    (tmp_path / "imap.key").write_bytes(x509.private_key_pem(server.private_key))
    settings.EGIDE_IMAP_CERT_FILE = str(tmp_path / "imap.crt")
    settings.EGIDE_IMAP_KEY_FILE = str(tmp_path / "imap.key")
    settings.EGIDE_IMAP_HOST = "127.0.0.1"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    [started] = start_imap(free, 0)
    try:
        port = started.ports["tls"]  # type: ignore[attr-defined]
        greeting = imaplib.IMAP4_SSL("127.0.0.1", port, timeout=5, ssl_context=_no_check())
        assert "IMAP4REV1" in greeting.capabilities
        greeting.logout()
    finally:
        started.stop()


def _no_check() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_serve_has_an_imap_port_option() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert "--imap-port" in result.output
    assert "1993" in result.output
