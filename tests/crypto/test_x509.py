"""The operator CA and the checks on mailbox certificates."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from egide.crypto import x509
from egide.crypto.errors import CertificateRejected, InvalidKeyMaterial

from .conftest import Pki

UTC = datetime.UTC


@pytest.mark.parametrize("name", ["rsa", "rsa3072", "ec"])
def test_a_mailbox_certificate_chains_to_the_operator_ca(pki: Pki, name: str) -> None:
    identity: x509.Identity = getattr(pki, name)
    chain = x509.verify_certificate(
        identity.certificate, anchors=[pki.ca.certificate], usage="signing"
    )
    assert chain == [identity.certificate, pki.ca.certificate]
    x509.verify_certificate(identity.certificate, anchors=[pki.ca.certificate], usage="encryption")


def test_mailbox_certificates_have_the_requested_keys_and_name_their_address(pki: Pki) -> None:
    assert isinstance(pki.rsa.private_key, rsa.RSAPrivateKey)
    assert pki.rsa.private_key.key_size == 2048
    assert isinstance(pki.rsa3072.private_key, rsa.RSAPrivateKey)
    assert pki.rsa3072.private_key.key_size == 3072
    assert isinstance(pki.ec.private_key, ec.EllipticCurvePrivateKey)
    assert pki.ec.private_key.curve.name == "secp256r1"
    assert x509.mailbox_addresses(pki.rsa.certificate) == ["dr.martin@tilleuls.egide.test"]
    assert x509.mailbox_addresses(pki.ca.certificate) == []


def test_it_rejects_a_certificate_from_an_unknown_ca(pki: Pki) -> None:
    with pytest.raises(CertificateRejected, match="trusted CA"):
        x509.verify_certificate(pki.stranger.certificate, anchors=[pki.ca.certificate])


def test_it_rejects_a_certificate_outside_its_validity_period() -> None:
    ca = x509.create_ca("Old CA", not_before=datetime.datetime(2019, 1, 1, tzinfo=UTC))
    expired = x509.issue_mailbox_certificate(
        ca,
        "ancien@tilleuls.egide.test",
        key_type="p256",
        not_before=datetime.datetime(2020, 1, 1, tzinfo=UTC),
        valid_for=datetime.timedelta(days=365),
    )
    with pytest.raises(CertificateRejected, match="validation time"):
        x509.verify_certificate(expired.certificate, anchors=[ca.certificate])
    # Still valid when checked as of a date inside its period (e.g. a signature made back then).
    x509.verify_certificate(
        expired.certificate, anchors=[ca.certificate], at=datetime.datetime(2020, 6, 1, tzinfo=UTC)
    )


def test_it_rejects_a_certificate_not_yet_valid(pki: Pki) -> None:
    future = x509.issue_mailbox_certificate(
        pki.ca,
        "futur@tilleuls.egide.test",
        key_type="p256",
        not_before=datetime.datetime.now(UTC) + datetime.timedelta(days=2),
    )
    with pytest.raises(CertificateRejected, match="validation time"):
        x509.verify_certificate(future.certificate, anchors=[pki.ca.certificate])


def test_it_rejects_a_revoked_certificate_and_accepts_the_others(pki: Pki) -> None:
    revoked = x509.issue_mailbox_certificate(pki.ca, "parti@tilleuls.egide.test", key_type="p256")
    crl = x509.issue_crl(pki.ca, [revoked.certificate])
    with pytest.raises(CertificateRejected, match="revoked"):
        x509.verify_certificate(revoked.certificate, anchors=[pki.ca.certificate], crls=[crl])
    x509.verify_certificate(pki.ec.certificate, anchors=[pki.ca.certificate], crls=[crl])


def test_it_ignores_a_crl_signed_by_someone_else(pki: Pki) -> None:
    forged = x509.issue_crl(pki.other_ca, [pki.ec.certificate])
    x509.verify_certificate(pki.ec.certificate, anchors=[pki.ca.certificate], crls=[forged])


def test_it_rejects_when_the_crl_has_expired(pki: Pki) -> None:
    stale = x509.issue_crl(
        pki.ca, [], this_update=datetime.datetime.now(UTC) - datetime.timedelta(days=30)
    )
    with pytest.raises(CertificateRejected, match="CRL"):
        x509.verify_certificate(pki.ec.certificate, anchors=[pki.ca.certificate], crls=[stale])


def test_it_rejects_a_ca_certificate_used_as_a_mailbox(pki: Pki) -> None:
    key = x509.generate_private_key("p256")
    now = datetime.datetime.now(UTC)
    sub_ca = (
        cx509.CertificateBuilder()
        .subject_name(cx509.Name.from_rfc4514_string("CN=Sub CA"))
        .issuer_name(pki.ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(cx509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(cx509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            cx509.SubjectAlternativeName([cx509.RFC822Name("ca@tilleuls.egide.test")]),
            critical=False,
        )
        .sign(pki.ca.private_key, hashes.SHA256())
    )
    with pytest.raises(CertificateRejected, match="CA certificate"):
        x509.verify_certificate(sub_ca, anchors=[pki.ca.certificate])


def test_it_refuses_to_verify_without_anchors(pki: Pki) -> None:
    with pytest.raises(CertificateRejected):
        x509.verify_certificate(pki.rsa.certificate, anchors=[])


def test_pem_round_trips(pki: Pki) -> None:
    bundle = x509.certificate_pem(pki.rsa.certificate) + x509.certificate_pem(pki.ca.certificate)
    assert x509.load_certificates(bundle) == [pki.rsa.certificate, pki.ca.certificate]
    der = x509.certificate_der(pki.ec.certificate)
    assert x509.load_certificate(der) == pki.ec.certificate
    key = x509.load_private_key(x509.private_key_pem(pki.ec.private_key, b"secret"), b"secret")
    assert key.public_key() == pki.ec.private_key.public_key()
    crl = x509.issue_crl(pki.ca, [pki.rsa.certificate])
    assert x509.load_crl(x509.crl_pem(crl)) == crl


@pytest.mark.parametrize(
    "data", [b"", b"garbage", b"-----BEGIN CERTIFICATE-----\nAAAA\n", b"\x30\x03"]
)
def test_it_refuses_malformed_certificates_keys_and_crls(data: bytes) -> None:
    with pytest.raises(InvalidKeyMaterial):
        x509.load_certificate(data)
    with pytest.raises(InvalidKeyMaterial):
        x509.load_private_key(data)
    with pytest.raises(InvalidKeyMaterial):
        x509.load_crl(data)


def test_it_rejects_a_certificate_without_email_protection(pki: Pki) -> None:
    key = x509.generate_private_key("p256")
    server = (
        cx509.CertificateBuilder()
        .subject_name(cx509.Name([]))
        .issuer_name(pki.ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(cx509.random_serial_number())
        .not_valid_before(datetime.datetime.now(UTC) - datetime.timedelta(days=1))
        .not_valid_after(datetime.datetime.now(UTC) + datetime.timedelta(days=1))
        .add_extension(
            cx509.ExtendedKeyUsage([cx509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            cx509.SubjectAlternativeName([cx509.DNSName("mx.egide.test")]), critical=False
        )
        .sign(pki.ca.private_key, hashes.SHA256())
    )
    with pytest.raises(CertificateRejected, match="e-mail"):
        x509.verify_certificate(server, anchors=[pki.ca.certificate])


def test_a_subordinate_ca_chain_verifies_from_the_root() -> None:
    root = x509.create_ca("Root")
    issuing = x509.create_ca("Issuing CA", issuer=root)
    leaf = x509.issue_mailbox_certificate(issuing, "dr.sub@tilleuls.egide.test", key_type="p256")
    chain = x509.verify_certificate(
        leaf.certificate, anchors=[root.certificate], intermediates=[issuing.certificate]
    )
    assert chain == [leaf.certificate, issuing.certificate, root.certificate]
    with pytest.raises(CertificateRejected):
        x509.verify_certificate(leaf.certificate, anchors=[root.certificate])
    # Revoking the issuing CA at the root revokes everything under it.
    crl = x509.issue_crl(root, [issuing.certificate])
    with pytest.raises(CertificateRejected, match="revoked"):
        x509.verify_certificate(
            leaf.certificate,
            anchors=[root.certificate],
            intermediates=[issuing.certificate],
            crls=[crl],
        )
