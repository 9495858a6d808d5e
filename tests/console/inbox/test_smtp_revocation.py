"""Relay port: a peer certificate that is revoked (CRL), expired or from an unknown CA is refused
during the TLS handshake, and the refusal is logged and audited with OpenSSL's reason; a CRL
renewed on disk — by hand or by the worker's download with the trust material — applies to the
next handshake, without restarting the listener."""

from __future__ import annotations

import datetime
import shutil
import smtplib
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from egide.console.audit.models import AuditEntry
from egide.console.inbox import listener, revocation, tasks
from egide.console.inbox.models import Mailbox, Message
from egide.crypto import x509

from .smtp_fixtures import PEER_SENDER, Pair, Pki, free_port

pytestmark = pytest.mark.django_db(transaction=True)


def handshake(port: int, pki: Pki, pair: Pair) -> smtplib.SMTP:
    context = ssl.create_default_context(cafile=pki.root)
    context.check_hostname = False
    context.load_cert_chain(pair.cert, pair.key)
    client = smtplib.SMTP("127.0.0.1", port, timeout=10)
    client.starttls(context=context)
    client.ehlo("smtp-1.operateur-alpha.test")
    return client


def tls_refusals(expected: int = 1) -> list[str]:
    """The audited handshake refusals (written by the server thread, maybe after the client)."""
    replies: list[str] = []
    for _ in range(100):
        replies = [
            str(entry.details.get("reply", ""))
            for entry in AuditEntry.objects.filter(action="smtp.refused", object_id="tls")
        ]
        if len(replies) >= expected:
            return replies
        time.sleep(0.1)
    return replies


def root_of(pki: Pki) -> x509.Identity:
    return x509.Identity(
        x509.load_certificate(Path(pki.root).read_bytes()),
        x509.load_private_key(Path(pki.root_key).read_bytes()),
    )


def crl_bytes(pki: Pki, revoked: list[str], **options: Any) -> bytes:
    certificates = [x509.load_certificate(Path(name).read_bytes()) for name in revoked]
    return x509.crl_pem(x509.issue_crl(root_of(pki), certificates, **options))


def crl_file(pki: Pki, path: Path, revoked: list[str]) -> None:
    path.write_bytes(crl_bytes(pki, revoked))


class CrlPublisher:
    """The CA's CRL distribution point: plain HTTP on loopback, serving whatever `crl` holds."""

    def __init__(self) -> None:
        self.crl = b""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/pkix-crl")
                self.send_header("Content-Length", str(len(outer.crl)))
                self.end_headers()
                self.wfile.write(outer.crl)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/igc-sante.crl"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def publisher(smtp_settings: Any, tmp_path: Path) -> Iterator[CrlPublisher]:
    served = CrlPublisher()
    smtp_settings.EGIDE_SMTP_CRL_FILES = []
    smtp_settings.EGIDE_SMTP_CRL_URLS = [served.url]
    smtp_settings.EGIDE_SMTP_CRL_DIR = str(tmp_path / "crl")
    yield served
    served.stop()


REFUSED = (ssl.SSLError, smtplib.SMTPException, ConnectionError)


@pytest.mark.parametrize(
    ("which", "reason"),
    [
        ("revoked", "certificate revoked"),
        ("expired", "certificate has expired"),
        ("stranger", "unable to get local issuer certificate"),
    ],
)
def test_a_bad_peer_certificate_is_refused_at_the_handshake_and_audited_with_its_reason(
    listeners: dict[str, int],
    pki: Pki,
    hosted: Mailbox,
    caplog: pytest.LogCaptureFixture,
    which: str,
    reason: str,
) -> None:
    with pytest.raises(REFUSED), handshake(listeners["relay"], pki, getattr(pki, which)) as client:
        client.mail(PEER_SENDER)  # TLS 1.3: the client learns of the refusal at its next read
    [reply] = tls_refusals()
    assert reason in reply, reply
    assert reason in caplog.text
    assert not Message.objects.exists()


def test_a_crl_renewed_on_disk_applies_to_the_next_handshake(
    smtp_settings: Any, pki: Pki, hosted: Mailbox, tmp_path: Path
) -> None:
    crl = tmp_path / "igc-sante.crl"
    crl_file(pki, crl, revoked=[])
    smtp_settings.EGIDE_SMTP_CRL_FILES = [str(crl)]
    started = listener.start(port=free_port(), submission_port=0)
    try:
        port = started[0].port
        with handshake(port, pki, pki.peer) as client:
            assert client.mail(PEER_SENDER)[0] == 250  # not revoked yet
        # The CRL download job replaces the file (write then rename, as it should).
        renewed = tmp_path / "igc-sante.crl.new"
        crl_file(pki, renewed, revoked=[pki.peer.cert])
        shutil.move(renewed, crl)
        with pytest.raises(REFUSED), handshake(port, pki, pki.peer) as client:
            client.mail(PEER_SENDER)
        assert "certificate revoked" in tls_refusals()[0]
    finally:
        for item in started:
            item.stop()


def test_the_worker_downloads_a_renewed_crl_and_the_next_handshake_uses_it(
    publisher: CrlPublisher, pki: Pki, hosted: Mailbox
) -> None:
    publisher.crl = crl_bytes(pki, revoked=[])
    assert revocation.refresh_crls() == 1
    started = listener.start(port=free_port(), submission_port=0)
    try:
        port = started[0].port
        with handshake(port, pki, pki.peer) as client:
            assert client.mail(PEER_SENDER)[0] == 250
        publisher.crl = crl_bytes(pki, revoked=[pki.peer.cert])
        tasks.refresh_trust_list.call_local()  # the six-hourly trust material refresh
        with pytest.raises(REFUSED), handshake(port, pki, pki.peer) as client:
            client.mail(PEER_SENDER)
        assert "certificate revoked" in tls_refusals()[0]
    finally:
        for item in started:
            item.stop()
    assert AuditEntry.objects.filter(action="crl.refreshed").count() == 2


def test_a_crl_not_signed_by_the_anchors_or_stale_is_refused_and_the_last_good_kept(
    publisher: CrlPublisher, pki: Pki
) -> None:
    publisher.crl = crl_bytes(pki, revoked=[])
    assert revocation.refresh_crls() == 1
    kept = revocation.downloaded_path(publisher.url).read_bytes()
    stranger = x509.create_ca("IGC-Santé TEST racine", key_type="rsa2048")  # same name, other key
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30)
    for bad in (
        x509.crl_pem(x509.issue_crl(stranger, [])),
        crl_bytes(pki, revoked=[], this_update=long_ago),
        b"<html>maintenance</html>",
    ):
        publisher.crl = bad
        assert revocation.refresh_crls() == 0
        assert revocation.downloaded_path(publisher.url).read_bytes() == kept
    reasons = [
        str(entry.details["reason"])
        for entry in AuditEntry.objects.filter(action="crl.refresh_failed")
    ]
    assert len(reasons) == 3
    assert "not signed by a configured CA" in reasons[0] and "expired" in reasons[1]
