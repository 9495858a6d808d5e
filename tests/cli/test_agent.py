"""`egide agent check`: French report, JSON findings, and delivery to a console over HTTP(S)."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from egide.cli.main import cli

FAST = ["--only", "os_supported", "--only", "firewall", "--only", "wifi_security"]


@dataclass
class Console:
    """A stand-in console endpoint: records what it receives, answers with a chosen status."""

    url: str
    status: int = 201
    received: list[dict[str, Any]] = field(default_factory=list)


def serve(status: int, tls: ssl.SSLContext | None = None) -> Iterator[Console]:
    console = Console(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            console.received.append(
                {
                    "path": self.path,
                    "authorization": self.headers["Authorization"],
                    "content_type": self.headers["Content-Type"],
                    "body": json.loads(self.rfile.read(length)),
                }
            )
            answer = json.dumps({"accepted": console.status < 300}).encode()
            self.send_response(console.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls else "http"
    console.url = f"{scheme}://127.0.0.1:{server.server_address[1]}/api/agent/posture"
    console.status = status
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield console
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def console() -> Iterator[Console]:
    yield from serve(201)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "agent.token"
    path.write_text("egide-agent-3f9c2d7a1b\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["agent", "check", *args], catch_exceptions=False)


def test_it_prints_a_french_report() -> None:
    result = run(*FAST)
    assert result.exit_code == 0, result.output
    assert "Vérification du poste" in result.output
    assert "Système d'exploitation encore maintenu (RCM-SRV-2)" in result.output
    assert "Pare-feu activé (RCM-POS-3)" in result.output
    assert "conforme(s)" in result.output


def test_it_prints_ocsf_like_findings_in_json() -> None:
    result = run("--json", *FAST)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["format"] == "egide.posture.report"
    assert report["version"] == 1
    assert report["device"]["hostname"]
    assert [f["check"] for f in report["findings"]] == ["os_supported", "firewall", "wifi_security"]
    for finding in report["findings"]:
        assert {"check", "measure_id", "status", "observed", "explanation", "remediation"} <= set(
            finding
        )
        assert finding["class_uid"] == 2003
        assert finding["compliance"]["requirements"] == [finding["measure_id"]]
        assert finding["measure_id"].startswith("RCM-")
    assert sum(report["summary"].values()) == 3


def test_it_sends_the_report_with_the_agent_token(console: Console, token_file: Path) -> None:
    result = run("--json", *FAST, "--report", console.url, "--token-file", str(token_file))
    assert result.exit_code == 0, result.output
    [request] = console.received
    assert request["path"] == "/api/agent/posture"
    assert request["authorization"] == "Bearer egide-agent-3f9c2d7a1b"
    assert request["content_type"].startswith("application/json")
    assert [f["check"] for f in request["body"]["findings"]] == [
        "os_supported",
        "firewall",
        "wifi_security",
    ]


@pytest.mark.parametrize(
    ("status", "message"),
    [(401, "refusé le jeton"), (403, "refusé le jeton"), (400, "HTTP 400"), (500, "HTTP 500")],
)
def test_it_says_clearly_when_the_console_refuses(
    token_file: Path, status: int, message: str
) -> None:
    for console in serve(status):
        result = run(*FAST, "--report", console.url, "--token-file", str(token_file))
        assert result.exit_code == 1
        assert message in result.output


def test_it_says_clearly_when_the_console_cannot_be_reached(token_file: Path) -> None:
    for console in serve(201):
        url = console.url
    result = run(*FAST, "--report", url, "--token-file", str(token_file))
    assert result.exit_code == 1
    assert "Console injoignable" in result.output


def test_it_refuses_to_send_the_token_in_clear_over_a_network(token_file: Path) -> None:
    result = run(
        *FAST,
        "--report",
        "http://console.example.fr/api/agent/posture",
        "--token-file",
        str(token_file),
    )
    assert result.exit_code == 1
    assert "HTTPS" in result.output


def test_it_needs_a_token_file_to_report(tmp_path: Path) -> None:
    result = run(*FAST, "--report", "https://console.example.fr/api/agent/posture")
    assert result.exit_code == 2
    empty = tmp_path / "empty.token"
    empty.write_text("\n", encoding="utf-8")
    result = run(*FAST, "--report", "https://x.example/api", "--token-file", str(empty))
    assert result.exit_code == 1
    assert "vide" in result.output


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1, made by the openssl program."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl absent")
    folder = tmp_path_factory.mktemp("pki")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


def test_it_reports_over_https_trusting_the_given_authority(
    certificate: tuple[Path, Path], token_file: Path
) -> None:
    key, cert = certificate
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    for console in serve(201, tls):
        refused = run(*FAST, "--report", console.url, "--token-file", str(token_file))
        assert refused.exit_code == 1
        assert "Certificat de la console non reconnu" in refused.output
        assert console.received == []
        accepted = run(
            *FAST,
            "--report",
            console.url,
            "--token-file",
            str(token_file),
            "--ca-file",
            str(cert),
        )
        assert accepted.exit_code == 0, accepted.output
        assert len(console.received) == 1


def test_it_warns_when_the_token_file_is_readable_by_others(
    console: Console, token_file: Path
) -> None:
    token_file.chmod(0o644)
    result = run(*FAST, "--report", console.url, "--token-file", str(token_file))
    assert result.exit_code == 0
    assert "lisible par d'autres comptes" in result.output
    assert len(console.received) == 1
