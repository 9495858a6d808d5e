"""Settings: safe production defaults, and a loud refusal of bad values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

PRINT_SETTINGS = (
    "from egide.console import settings as s; "
    "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
    "s.SECURE_HSTS_SECONDS, s.X_FRAME_OPTIONS, s.SESSION_COOKIE_AGE, "
    "s.DATABASES['default']['ENGINE'])"
)


def run_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EGIDE_")}
    clean.update({"EGIDE_DATA_DIR": str(tmp_path / "data"), **env})
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_defaults_are_safe(tmp_path: Path) -> None:
    result = run_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "False",
        "True",
        "True",
        "True",
        "31536000",
        "DENY",
        "7200",
        "django.db.backends.sqlite3",
    ]
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_the_operator_database_is_postgresql_through_the_url(tmp_path: Path) -> None:
    result = run_settings(tmp_path, EGIDE_DATABASE_URL="postgresql://postgres@127.0.0.1:5432/egide")
    assert result.stdout.split()[-1] == "django.db.backends.postgresql"


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("EGIDE_DEBUG", "peut-être", "EGIDE_DEBUG='peut-être' is not a boolean"),
        ("EGIDE_DATABASE_URL", "mysql://root@localhost/egide", "EGIDE_DATABASE_URL="),
        ("EGIDE_SECRET_KEY_FILE", "/nonexistent/secret", "EGIDE_SECRET_KEY_FILE: cannot read"),
        ("EGIDE_HTTPS", "0", "EGIDE_HTTPS=0 is only allowed when EGIDE_ALLOWED_HOSTS"),
    ],
)
def test_a_bad_setting_stops_the_process_naming_the_variable(
    tmp_path: Path, variable: str, value: str, says: str
) -> None:
    env = {variable: value}
    if variable == "EGIDE_HTTPS":
        env["EGIDE_ALLOWED_HOSTS"] = "egide.example.org"
    result = run_settings(tmp_path, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and says in result.stderr


@pytest.mark.django_db
def test_responses_carry_the_security_headers(client: Client, settings: object) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["database"] == "ok"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_hsts_is_sent_over_https(client: Client, settings: object) -> None:
    settings.SECURE_HSTS_SECONDS = 31_536_000  # type: ignore[attr-defined]
    assert "max-age=31536000" in client.get("/healthz", secure=True)["Strict-Transport-Security"]
    assert "Strict-Transport-Security" not in client.get("/healthz")


def test_the_backup_gateway_configuration_is_read_from_a_json_file(tmp_path: Path) -> None:
    good = tmp_path / "gateway.json"
    good.write_text('{"bucket": "hds", "access_key_id": "k", "secret_access_key": "s"}')
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from egide.console import settings as s; print(s.EGIDE_BACKUP_GATEWAY['bucket'])",
        ],
        env={
            **os.environ,
            "EGIDE_DATA_DIR": str(tmp_path / "d"),
            "EGIDE_BACKUP_GATEWAY_FILE": str(good),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.strip() == "hds", result.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"bucket": "hds"}')
    refused = run_settings(tmp_path, EGIDE_BACKUP_GATEWAY_FILE=str(bad))
    assert refused.returncode != 0 and "missing keys access_key_id" in refused.stderr


PRINT_OIDC = "from egide.console import settings as s; print(s.EGIDE_OIDC)"


def test_the_oidc_issuer_for_access_tokens_is_read_and_checked(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EGIDE_")}
    clean["EGIDE_DATA_DIR"] = str(tmp_path / "data")
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')

    def run(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", PRINT_OIDC],
            env={**clean, **env},
            capture_output=True,
            text=True,
            check=False,
        )

    assert run().stdout.strip() == "None"
    issuer = {"EGIDE_OIDC_ISSUER": "https://auth.esante.test", "EGIDE_OIDC_AUDIENCE": "egide"}
    read = run(**issuer, EGIDE_OIDC_JWKS=str(jwks))
    assert read.returncode == 0, read.stderr
    assert "user_claim='SubjectNameID'" in read.stdout and str(jwks) in read.stdout
    for bad, named in [
        ({"EGIDE_OIDC_JWKS": "http://auth.esante.test/certs"}, "only https"),
        ({"EGIDE_OIDC_JWKS": str(tmp_path / "absent.json")}, "no such file"),
        ({"EGIDE_OIDC_JWKS": str(jwks), "EGIDE_OIDC_USER_CLAIM": "sub"}, "use one of"),
        ({}, "EGIDE_OIDC_JWKS"),
    ]:
        result = run(**issuer, **bad)
        assert result.returncode != 0 and named in result.stderr, result.stderr
