"""CMS AuthEnvelopedData (AES-256-GCM) and EnvelopedData (AES-256-CBC)."""

from __future__ import annotations

import pytest

from egide.crypto import cms, x509
from egide.crypto.errors import CmsError, DecryptionFailed, InvalidKeyMaterial, KeyNotFound

from .conftest import Pki

CONTENT = b"Content-Type: text/plain\r\n\r\nINS 2 55 08 2A 123 456 78\r\n"


@pytest.mark.parametrize("name", ["rsa", "rsa3072", "ec"])
@pytest.mark.parametrize("cipher", ["aes256-gcm", "aes256-cbc"])
def test_each_key_type_decrypts_what_was_encrypted_for_it(
    pki: Pki, name: str, cipher: cms.ContentCipher
) -> None:
    recipient: x509.Identity = getattr(pki, name)
    der = cms.encrypt(CONTENT, [recipient.certificate], cipher=cipher)
    assert b"INS" not in der
    decrypted = cms.decrypt(der, recipient, allow_unauthenticated=True)
    assert decrypted.content == CONTENT
    assert decrypted.authenticated is (cipher == "aes256-gcm")


def test_every_recipient_of_a_mixed_list_can_decrypt(pki: Pki) -> None:
    der = cms.encrypt(CONTENT, [pki.rsa.certificate, pki.ec.certificate, pki.rsa3072.certificate])
    for recipient in (pki.rsa, pki.ec, pki.rsa3072):
        assert cms.decrypt(der, recipient).content == CONTENT


def test_someone_else_cannot_decrypt(pki: Pki) -> None:
    der = cms.encrypt(CONTENT, [pki.rsa.certificate])
    with pytest.raises(KeyNotFound):
        cms.decrypt(der, pki.ec)
    # Same certificate, wrong private key: the key transport fails.
    impostor = x509.Identity(pki.rsa.certificate, x509.generate_private_key("rsa2048"))
    with pytest.raises(DecryptionFailed):
        cms.decrypt(der, impostor)


def test_an_ec_recipient_with_the_wrong_private_key_fails(pki: Pki) -> None:
    der = cms.encrypt(CONTENT, [pki.ec.certificate])
    impostor = x509.Identity(pki.ec.certificate, x509.generate_private_key("p256"))
    with pytest.raises(DecryptionFailed):
        cms.decrypt(der, impostor)


def test_cbc_is_refused_unless_explicitly_allowed(pki: Pki) -> None:
    der = cms.encrypt(CONTENT, [pki.rsa.certificate], cipher="aes256-cbc")
    with pytest.raises(CmsError, match="no integrity"):
        cms.decrypt(der, pki.rsa)


@pytest.mark.parametrize("name", ["rsa", "ec"])
def test_flipping_any_byte_of_authenticated_encryption_is_detected(pki: Pki, name: str) -> None:
    recipient: x509.Identity = getattr(pki, name)
    der = cms.encrypt(CONTENT, [recipient.certificate])
    for index in range(len(der)):
        altered = bytearray(der)
        altered[index] ^= 0x01
        with pytest.raises((DecryptionFailed, CmsError)):
            cms.decrypt(bytes(altered), recipient)


def test_altered_ciphertext_is_a_decryption_failure(pki: Pki) -> None:
    der = bytearray(cms.encrypt(CONTENT, [pki.ec.certificate]))
    der[-30] ^= 0xFF  # inside the ciphertext, just before the 16-byte tag
    with pytest.raises(DecryptionFailed):
        cms.decrypt(bytes(der), pki.ec)


def test_it_needs_a_recipient(pki: Pki) -> None:
    with pytest.raises(InvalidKeyMaterial):
        cms.encrypt(CONTENT, [])
