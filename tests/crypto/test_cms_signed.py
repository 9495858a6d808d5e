"""CMS SignedData: round trips, tampering, and certificates that must be refused."""

from __future__ import annotations

import datetime

import pytest

from egide.crypto import cms, x509
from egide.crypto.errors import CertificateRejected, CmsError, SignatureInvalid

from .conftest import Pki

CONTENT = "Content-Type: text/plain\r\n\r\nRésultats de biologie : normaux.\r\n".encode()


SIGNERS: list[tuple[str, cms.RsaPadding]] = [
    ("rsa", "pkcs1v15"),
    ("rsa", "pss"),
    ("rsa3072", "pss"),
    ("ec", "pss"),
]


@pytest.mark.parametrize(("name", "rsa_padding"), SIGNERS)
def test_a_signature_verifies_with_its_chain(
    pki: Pki, name: str, rsa_padding: cms.RsaPadding
) -> None:
    signer: x509.Identity = getattr(pki, name)
    der = cms.sign(CONTENT, signer, rsa_padding=rsa_padding)
    verified = cms.verify_signed(der, anchors=[pki.ca.certificate])
    assert verified.content == CONTENT
    assert verified.signer == signer.certificate
    assert verified.chain == [signer.certificate, pki.ca.certificate]
    assert verified.signer_addresses == x509.mailbox_addresses(signer.certificate)
    assert verified.signing_time is not None


def test_a_detached_signature_needs_and_checks_the_content(pki: Pki) -> None:
    der = cms.sign(CONTENT, pki.ec, detached=True)
    assert CONTENT not in der
    assert cms.verify_signed(der, anchors=[pki.ca.certificate], detached_content=CONTENT)
    with pytest.raises(CmsError):
        cms.verify_signed(der, anchors=[pki.ca.certificate])
    with pytest.raises(SignatureInvalid):
        cms.verify_signed(der, anchors=[pki.ca.certificate], detached_content=CONTENT + b" ")


@pytest.mark.parametrize("name", ["rsa", "ec"])
def test_flipping_any_byte_is_detected(pki: Pki, name: str) -> None:
    der = cms.sign(CONTENT, getattr(pki, name))
    for index in range(len(der)):
        altered = bytearray(der)
        altered[index] ^= 0x01
        with pytest.raises(CmsError):
            cms.verify_signed(bytes(altered), anchors=[pki.ca.certificate])


def test_altered_content_is_a_signature_failure(pki: Pki) -> None:
    der = cms.sign(CONTENT, pki.rsa)
    altered = der.replace(b"normaux", b"anormal")
    with pytest.raises(SignatureInvalid):
        cms.verify_signed(altered, anchors=[pki.ca.certificate])


def test_it_rejects_a_signer_from_an_unknown_ca(pki: Pki) -> None:
    der = cms.sign(CONTENT, pki.stranger)
    with pytest.raises(CertificateRejected):
        cms.verify_signed(der, anchors=[pki.ca.certificate])


def test_it_rejects_an_expired_signer(pki: Pki) -> None:
    old = x509.issue_mailbox_certificate(
        pki.ca,
        "ancien@tilleuls.egide.test",
        key_type="p256",
        not_before=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=10),
        valid_for=datetime.timedelta(days=1),
    )
    with pytest.raises(CertificateRejected):
        cms.verify_signed(cms.sign(CONTENT, old), anchors=[pki.ca.certificate])


def test_it_rejects_a_revoked_signer(pki: Pki) -> None:
    revoked = x509.issue_mailbox_certificate(pki.ca, "parti@tilleuls.egide.test", key_type="p256")
    crl = x509.issue_crl(pki.ca, [revoked.certificate])
    der = cms.sign(CONTENT, revoked)
    with pytest.raises(CertificateRejected, match="revoked"):
        cms.verify_signed(der, anchors=[pki.ca.certificate], crls=[crl])


def test_a_signature_by_another_key_under_the_same_certificate_fails(pki: Pki) -> None:
    impostor = x509.Identity(pki.ec.certificate, x509.generate_private_key("p256"))
    with pytest.raises(SignatureInvalid):
        cms.verify_signed(cms.sign(CONTENT, impostor), anchors=[pki.ca.certificate])


def test_it_refuses_other_cms_types(pki: Pki) -> None:
    encrypted = cms.encrypt(CONTENT, [pki.rsa.certificate])
    with pytest.raises(CmsError, match="signed_data"):
        cms.verify_signed(encrypted, anchors=[pki.ca.certificate])
