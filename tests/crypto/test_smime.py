"""S/MIME parts: sign-then-encrypt between two mailboxes, and what must be refused on the way."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from egide.crypto import cms, x509
from egide.crypto.errors import CertificateRejected, CmsError, KeyNotFound

from .conftest import Pki

ENTITY = (
    b"Content-Type: text/plain; charset=utf-8\n"
    b"Content-Transfer-Encoding: 8bit\n"
    b"\n"
    b"Bonjour Docteur,\nci-joint le compte rendu de Mme Dupont (INS 2 55 08 2A 123 456 78).\n"
)


def test_a_signed_and_encrypted_entity_round_trips_between_two_mailboxes(pki: Pki) -> None:
    part = cms.sign_and_encrypt(
        ENTITY, pki.rsa, [pki.ec.certificate, pki.rsa.certificate], anchors=[pki.ca.certificate]
    )
    assert b"INS" not in part
    assert b"smime-type=authEnveloped-data" in part

    for reader in (pki.ec, pki.rsa):  # the recipient, and the sender's own copy
        opened = cms.open_smime(part, reader, anchors=[pki.ca.certificate])
        assert opened.entity == cms.canonical(ENTITY)
        assert opened.encrypted and opened.authenticated_encryption
        assert opened.signature is not None
        assert opened.signature.signer_addresses == ["dr.martin@tilleuls.egide.test"]


def test_the_part_becomes_a_complete_message_with_the_email_package(pki: Pki) -> None:
    part = cms.sign_and_encrypt(ENTITY, pki.ec, [pki.rsa.certificate], anchors=[pki.ca.certificate])
    message = email.message_from_bytes(part, policy=email.policy.SMTP)
    assert isinstance(message, EmailMessage)
    message["From"] = "kine.durand@tilleuls.egide.test"
    message["To"] = "dr.martin@tilleuls.egide.test"
    message["Subject"] = "Compte rendu"
    message["MIME-Version"] = "1.0"
    wire = message.as_bytes()

    opened = cms.open_smime(wire, pki.rsa, anchors=[pki.ca.certificate])
    assert opened.entity == cms.canonical(ENTITY)
    assert opened.signature is not None
    sender = email.message_from_bytes(wire)["From"]
    assert sender in opened.signature.signer_addresses


def test_a_plain_entity_comes_back_unprotected(pki: Pki) -> None:
    opened = cms.open_smime(ENTITY, pki.ec, anchors=[pki.ca.certificate])
    assert opened.entity == ENTITY
    assert opened.signature is None
    assert not opened.encrypted


def test_a_signed_only_part_is_verified(pki: Pki) -> None:
    part = cms.signed_part(ENTITY, pki.rsa3072, rsa_padding="pss")
    opened = cms.open_smime(part, pki.ec, anchors=[pki.ca.certificate])
    assert opened.signature is not None
    assert not opened.encrypted
    assert opened.entity == cms.canonical(ENTITY)


def test_it_refuses_a_message_for_another_mailbox(pki: Pki) -> None:
    part = cms.sign_and_encrypt(ENTITY, pki.rsa, [pki.ec.certificate], anchors=[pki.ca.certificate])
    with pytest.raises(KeyNotFound):
        cms.open_smime(part, pki.rsa3072, anchors=[pki.ca.certificate])


def test_it_refuses_a_signer_outside_the_trust_anchors(pki: Pki) -> None:
    # Built by hand: `sign_and_encrypt` itself would refuse this signer (next test).
    part = cms.encrypted_part(cms.signed_part(ENTITY, pki.stranger), [pki.ec.certificate])
    with pytest.raises(CertificateRejected):
        cms.open_smime(part, pki.ec, anchors=[pki.ca.certificate])


@pytest.mark.parametrize("role", ["signer", "recipient"])
def test_it_never_protects_with_a_certificate_the_operator_ca_did_not_issue(
    pki: Pki, role: str
) -> None:
    signer = pki.stranger if role == "signer" else pki.rsa
    recipient = pki.stranger if role == "recipient" else pki.ec
    with pytest.raises(CertificateRejected):
        cms.sign_and_encrypt(ENTITY, signer, [recipient.certificate], anchors=[pki.ca.certificate])


def test_cbc_smime_opens_only_when_allowed_and_says_so(pki: Pki) -> None:
    part = cms.sign_and_encrypt(
        ENTITY, pki.rsa, [pki.ec.certificate], cipher="aes256-cbc", anchors=[pki.ca.certificate]
    )
    assert b"smime-type=enveloped-data" in part
    with pytest.raises(CmsError):
        cms.open_smime(part, pki.ec, anchors=[pki.ca.certificate])
    opened = cms.open_smime(part, pki.ec, anchors=[pki.ca.certificate], allow_unauthenticated=True)
    assert opened.encrypted and not opened.authenticated_encryption
    assert opened.signature is not None


def test_it_gives_up_after_too_many_layers(pki: Pki) -> None:
    part = ENTITY
    for _ in range(cms.MAX_LAYERS + 1):
        part = cms.signed_part(part, pki.ec)
    with pytest.raises(CmsError, match="layers"):
        cms.open_smime(part, pki.ec, anchors=[pki.ca.certificate])


@pytest.mark.parametrize(
    "body",
    [
        b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"\r\n\r\nx',
        b'Content-Type: multipart/signed; boundary="b"\r\n\r\n--b\r\nA\r\n--b--\r\n',
        b'Content-Type: multipart/signed; boundary="b"\r\n\r\n--b\r\n\r\nA\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nB\r\n--b--\r\n",
        b"Content-Type: application/pkcs7-mime\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        b"Content-Type: application/pkcs7-mime\r\nContent-Transfer-Encoding: base64\r\n\r\nMAA=",
    ],
)
def test_malformed_smime_structures_are_refused(pki: Pki, body: bytes) -> None:
    with pytest.raises(CmsError):
        cms.open_smime(body, pki.ec, anchors=[pki.ca.certificate])


def test_the_recipient_list_may_mix_key_types(pki: Pki) -> None:
    recipients = [pki.rsa.certificate, pki.rsa3072.certificate, pki.ec.certificate]
    part = cms.sign_and_encrypt(ENTITY, pki.ec, recipients, anchors=[pki.ca.certificate])
    for identity in (pki.rsa, pki.rsa3072, pki.ec):
        assert cms.open_smime(part, identity, anchors=[pki.ca.certificate]).signature


def test_x509_identity_files_feed_the_cms_layer(pki: Pki) -> None:
    # What the lead stores: PEM certificate + PEM key (encrypted with a passphrase).
    certificate = x509.load_certificate(x509.certificate_pem(pki.ec.certificate))
    key = x509.load_private_key(x509.private_key_pem(pki.ec.private_key, b"pw"), b"pw")
    identity = x509.Identity(certificate, key)
    part = cms.sign_and_encrypt(ENTITY, pki.rsa, [certificate], anchors=[pki.ca.certificate])
    assert cms.open_smime(part, identity, anchors=[pki.ca.certificate]).signature
