"""A throwaway MSSanté-like PKI and trust space for the SMTP tests (files under a tmp dir).

`Pki` holds PEM files: the test «IGC-Santé» root, our server certificate, a peer operator's
certificate (used as TLS client certificate), and the bad ones — unknown CA, expired, revoked
(listed in the CRL). Nothing is committed; everything is generated per test session.
"""

from __future__ import annotations

import datetime
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from egide.crypto import x509

TRUST_LIST = Path(__file__).parents[2] / "data/messaging/trust/listeblanche-sample.xml"
OUR_HOST = "mx.egide.test"
PEER_HOST = "smtp-1.operateur-alpha.test"
PEER_SENDER = "dr.durand@medecin.mssante.test"


@dataclass(frozen=True)
class Pair:
    cert: str
    key: str


@dataclass(frozen=True)
class Pki:
    root: str
    root_key: str  # to issue renewed CRLs in a test
    crl: str
    server: Pair
    peer: Pair
    stranger: Pair
    expired: Pair
    revoked: Pair


def _write(directory: Path, name: str, identity: x509.Identity) -> Pair:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    cert.write_bytes(x509.certificate_pem(identity.certificate))
    key.write_bytes(x509.private_key_pem(identity.private_key))
    return Pair(str(cert), str(key))


def make_pki(directory: Path) -> Pki:
    root = x509.create_ca("IGC-Santé TEST racine", key_type="rsa2048")
    stranger_ca = x509.create_ca("Autorité inconnue", key_type="rsa2048")
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=800)
    revoked = x509.issue_server_certificate(root, "revoque.operateur-beta.test")
    (directory / "root.crt").write_bytes(x509.certificate_pem(root.certificate))
    (directory / "root.key").write_bytes(x509.private_key_pem(root.private_key))
    (directory / "root.crl").write_bytes(x509.crl_pem(x509.issue_crl(root, [revoked.certificate])))
    return Pki(
        root=str(directory / "root.crt"),
        root_key=str(directory / "root.key"),
        crl=str(directory / "root.crl"),
        server=_write(
            directory, "server", x509.issue_server_certificate(root, OUR_HOST, also=["localhost"])
        ),
        peer=_write(
            directory, "peer", x509.issue_server_certificate(root, PEER_HOST, also=["localhost"])
        ),
        stranger=_write(
            directory, "stranger", x509.issue_server_certificate(stranger_ca, "intrus.test")
        ),
        expired=_write(
            directory,
            "expired",
            x509.issue_server_certificate(root, "ancien.operateur-alpha.test", not_before=long_ago),
        ),
        revoked=_write(directory, "revoked", revoked),
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


Configure = Callable[..., None]
