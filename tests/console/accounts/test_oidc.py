"""Access tokens as a plain function (what XOAUTH2 and, later, IMAP call): the issuer's JWKS read
from an HTTPS URL and cached, refetched once for a rotated key, kept when the issuer is down;
the user designated by SubjectNameID, email or login; refusals audited, never the token."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from egide.console.accounts import oidc
from egide.console.accounts.models import Practice, User
from egide.console.audit.models import AuditEntry
from egide.console.config import OidcSettings
from egide.crypto import x509
from egide.crypto.errors import AccessTokenRejected

from .oidc_issuer import AUDIENCE, ISSUER, RPPS, Issuer, new_key, public_jwk

pytestmark = pytest.mark.django_db


class JwksServer:
    """The issuer's JWKS endpoint over HTTPS on loopback, counting the downloads."""

    def __init__(self, directory: Path, keys: list[dict[str, Any]]) -> None:
        self.keys = keys
        self.downloads = 0
        ca = x509.create_ca("CA de test JWKS", key_type="rsa2048")
        server = x509.issue_server_certificate(ca, "localhost")
        self.ca_file = directory / "jwks-ca.crt"
        self.ca_file.write_bytes(x509.certificate_pem(ca.certificate))
        (directory / "jwks.crt").write_bytes(x509.certificate_pem(server.certificate))
        (directory / "jwks.key").write_bytes(x509.private_key_pem(server.private_key))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.downloads += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(directory / "jwks.crt", directory / "jwks.key")
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://localhost:{self.httpd.server_address[1]}/certs"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def issuer(tmp_path: Path) -> Issuer:
    return Issuer(tmp_path)


@pytest.fixture
def endpoint(tmp_path: Path, issuer: Issuer) -> Iterator[JwksServer]:
    server = JwksServer(tmp_path, json.loads(issuer.jwks.read_text())["keys"])
    yield server
    server.stop()


@pytest.fixture
def doctor(make_practice: Callable[..., Practice], make_member: Callable[..., User]) -> User:
    user = make_member(make_practice("Cabinet des Tilleuls", "tilleuls"), "dr.martin")
    user.rpps, user.email = RPPS, "claire.martin@tilleuls.test"
    user.save()
    return user


def over_https(endpoint: JwksServer, **changes: Any) -> OidcSettings:
    return OidcSettings(
        ISSUER, AUDIENCE, endpoint.url, jwks_ca_file=str(endpoint.ca_file), **changes
    )


def test_the_issuer_keys_are_downloaded_once_and_cached(
    endpoint: JwksServer, issuer: Issuer, doctor: User
) -> None:
    settings = over_https(endpoint)
    for _ in range(3):
        assert oidc.verify(issuer.token(), settings)["SubjectNameID"] == "8" + RPPS
    assert endpoint.downloads == 1


def test_a_rotated_key_is_fetched_once_more(endpoint: JwksServer, issuer: Issuer) -> None:
    settings = over_https(endpoint)
    oidc.verify(issuer.token(), settings)
    rotated = new_key()
    endpoint.keys = [*endpoint.keys, public_jwk(rotated, "psc-2")]
    assert oidc.verify(issuer.token(key=rotated, kid="psc-2"), settings)["iss"] == ISSUER
    assert endpoint.downloads == 2


def test_when_the_issuer_is_down_the_keys_fetched_before_stay_in_use(
    endpoint: JwksServer, issuer: Issuer
) -> None:
    settings = over_https(endpoint)
    oidc.verify(issuer.token(), settings)
    endpoint.stop()
    assert oidc.verify(issuer.token(), settings)["iss"] == ISSUER
    with pytest.raises(AccessTokenRejected) as refused:  # the refetch fails: old keys kept
        oidc.verify(issuer.token(key=new_key(), kid="psc-9"), settings)
    assert refused.value.reason == "unknown_key"


def test_the_jwks_download_checks_the_issuer_certificate(
    endpoint: JwksServer, issuer: Issuer, doctor: User, settings: Any
) -> None:
    settings.EGIDE_OIDC = OidcSettings(ISSUER, AUDIENCE, endpoint.url + "?other")  # system CAs
    assert oidc.user_for_access_token(issuer.token(), ip="192.0.2.1", channel="imap") is None
    entry = AuditEntry.objects.get(action="access_token.refused")
    assert entry.details == {"channel": "imap", "reason": "jwks"}
    assert endpoint.downloads == 0


@pytest.mark.parametrize(
    ("claim", "claims", "found"),
    [
        ("SubjectNameID", {"SubjectNameID": "8" + RPPS}, True),
        ("SubjectNameID", {"SubjectNameID": RPPS}, False),  # not the national identifier
        ("SubjectNameID", {"SubjectNameID": "810003456789"}, False),
        ("email", {"email": "Claire.Martin@tilleuls.test"}, True),
        ("email", {"email": "inconnu@tilleuls.test"}, False),
        ("preferred_username", {"preferred_username": "dr.martin"}, True),
        ("preferred_username", {}, False),
    ],
)
def test_the_configured_claim_designates_the_user(
    doctor: User, claim: str, claims: dict[str, str], found: bool
) -> None:
    assert (oidc.user_for_claims(claims, claim) == doctor) is found


def test_an_inactive_user_is_nobody(doctor: User) -> None:
    doctor.is_active = False
    doctor.save()
    assert oidc.user_for_claims({"SubjectNameID": "8" + RPPS}, "SubjectNameID") is None


def test_a_refusal_is_audited_without_the_token(
    issuer: Issuer, doctor: User, settings: Any
) -> None:
    settings.EGIDE_OIDC = OidcSettings(ISSUER, AUDIENCE, str(issuer.jwks))
    token = issuer.token(aud="someone-else")
    assert oidc.user_for_access_token(token, ip="192.0.2.1", channel="smtp") is None
    assert oidc.user_for_access_token(issuer.token(), ip="192.0.2.1", channel="smtp") == doctor
    [entry] = AuditEntry.objects.filter(action="access_token.refused")
    assert entry.details == {"channel": "smtp", "reason": "audience"}
    assert token not in json.dumps(entry.details)


def test_without_an_issuer_no_token_is_accepted(issuer: Issuer, settings: Any) -> None:
    settings.EGIDE_OIDC = None
    assert oidc.user_for_access_token(issuer.token(), ip=None, channel="smtp") is None
    assert AuditEntry.objects.get().details["reason"] == "not_configured"
