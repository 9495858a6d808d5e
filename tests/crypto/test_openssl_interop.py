"""Interoperability with the real `openssl cms` (OpenSSL 3), both ways.

Our CMS is written from the RFCs with asn1crypto; OpenSSL is the independent implementation that
proves the bytes are right: what we encrypt or sign, it decrypts or verifies, and the reverse.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from egide.crypto import cms, x509
from egide.crypto.errors import CertificateRejected, CmsError

from .conftest import Pki

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")

CONTENT = "Content-Type: text/plain; charset=utf-8\r\n\r\nCompte rendu opératoire.\r\n".encode()
OAEP_SHA256 = ["-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"]


@dataclass(frozen=True)
class Files:
    """PEM files of the test PKI, as `openssl` needs them."""

    directory: Path

    def cert(self, name: str) -> str:
        return str(self.directory / f"{name}.crt")

    def key(self, name: str) -> str:
        return str(self.directory / f"{name}.key")

    def path(self, name: str) -> Path:
        return self.directory / name


@pytest.fixture(scope="module")
def files(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Files:
    directory = tmp_path_factory.mktemp("pki")
    for name in ("ca", "rsa", "rsa3072", "ec", "other_ca", "stranger"):
        identity: x509.Identity = getattr(pki, name)
        (directory / f"{name}.crt").write_bytes(x509.certificate_pem(identity.certificate))
        (directory / f"{name}.key").write_bytes(x509.private_key_pem(identity.private_key))
    (directory / "content.txt").write_bytes(CONTENT)
    return Files(directory)


def openssl(*args: str, stdin: bytes | None = None) -> bytes:
    result = subprocess.run(
        ["openssl", "cms", *args], input=stdin, capture_output=True, check=False, timeout=60
    )
    if result.returncode != 0:
        raise AssertionError(f"openssl cms {' '.join(args)} failed: {result.stderr.decode()}")
    return result.stdout


def openssl_fails(*args: str, stdin: bytes | None = None) -> bool:
    result = subprocess.run(
        ["openssl", "cms", *args], input=stdin, capture_output=True, check=False, timeout=60
    )
    return result.returncode != 0


def test_this_openssl_supports_authenveloped_gcm() -> None:
    version = subprocess.run(["openssl", "version"], capture_output=True, check=True).stdout
    assert version.startswith(b"OpenSSL 3."), version


# --- encryption: here → openssl ------------------------------------------------------------


@pytest.mark.parametrize("name", ["rsa", "rsa3072", "ec"])
@pytest.mark.parametrize("cipher", ["aes256-gcm", "aes256-cbc"])
def test_openssl_decrypts_what_we_encrypt(
    files: Files, pki: Pki, name: str, cipher: cms.ContentCipher
) -> None:
    der = cms.encrypt(CONTENT, [getattr(pki, name).certificate], cipher=cipher)
    plaintext = openssl(
        "-decrypt", "-inform", "DER", "-inkey", files.key(name), "-recip", files.cert(name),
        stdin=der,
    )  # fmt: skip
    assert plaintext == CONTENT


def test_openssl_decrypts_a_message_for_several_recipients_of_both_key_types(
    files: Files, pki: Pki
) -> None:
    der = cms.encrypt(CONTENT, [pki.rsa.certificate, pki.ec.certificate])
    for name in ("rsa", "ec"):
        plaintext = openssl(
            "-decrypt", "-inform", "DER", "-inkey", files.key(name), "-recip", files.cert(name),
            stdin=der,
        )  # fmt: skip
        assert plaintext == CONTENT


def test_openssl_refuses_our_gcm_message_when_altered(files: Files, pki: Pki) -> None:
    der = bytearray(cms.encrypt(CONTENT, [pki.rsa.certificate]))
    der[-20] ^= 0x01  # the GCM tag
    assert openssl_fails(
        "-decrypt", "-inform", "DER", "-inkey", files.key("rsa"), "-recip", files.cert("rsa"),
        stdin=bytes(der),
    )  # fmt: skip


def test_openssl_cannot_decrypt_for_someone_else(files: Files, pki: Pki) -> None:
    der = cms.encrypt(CONTENT, [pki.rsa.certificate])
    assert openssl_fails(
        "-decrypt", "-inform", "DER", "-inkey", files.key("rsa3072"),
        "-recip", files.cert("rsa3072"), stdin=der,
    )  # fmt: skip


# --- encryption: openssl → here ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("rsa", OAEP_SHA256),
        ("rsa3072", OAEP_SHA256),
        ("ec", []),  # OpenSSL's default ECDH KDF: X9.63 with SHA-1
        ("ec", ["-keyopt", "ecdh_kdf_md:sha256"]),
    ],
)
@pytest.mark.parametrize("cipher", ["-aes-256-gcm", "-aes-256-cbc"])
def test_we_decrypt_what_openssl_encrypts(
    files: Files, pki: Pki, name: str, options: list[str], cipher: str
) -> None:
    der = openssl(
        "-encrypt", "-binary", cipher, "-outform", "DER", "-in", str(files.path("content.txt")),
        "-recip", files.cert(name), *options,
    )  # fmt: skip
    decrypted = cms.decrypt(der, getattr(pki, name), allow_unauthenticated=True)
    assert decrypted.content == CONTENT
    assert decrypted.authenticated is (cipher == "-aes-256-gcm")


def test_we_refuse_openssl_pkcs1v15_key_transport(files: Files, pki: Pki) -> None:
    der = openssl(
        "-encrypt", "-binary", "-aes-256-gcm", "-outform", "DER",
        "-in", str(files.path("content.txt")), "-recip", files.cert("rsa"),
    )  # fmt: skip
    with pytest.raises(CmsError, match="only RSA-OAEP"):
        cms.decrypt(der, pki.rsa)


def test_we_refuse_openssl_streamed_ber_with_a_clear_error(files: Files, pki: Pki) -> None:
    der = openssl(
        "-encrypt", "-binary", "-stream", "-aes-256-gcm", "-outform", "DER",
        "-in", str(files.path("content.txt")), "-recip", files.cert("ec"),
    )  # fmt: skip
    with pytest.raises(CmsError, match="DER"):
        cms.decrypt(der, pki.ec)


# --- signatures, both ways -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rsa_padding"),
    [("rsa", "pkcs1v15"), ("rsa", "pss"), ("rsa3072", "pss"), ("ec", "pss")],
)
def test_openssl_verifies_what_we_sign(
    files: Files, pki: Pki, name: str, rsa_padding: cms.RsaPadding
) -> None:
    der = cms.sign(CONTENT, getattr(pki, name), rsa_padding=rsa_padding)
    content = openssl("-verify", "-inform", "DER", "-CAfile", files.cert("ca"), stdin=der)
    assert content == CONTENT


def test_openssl_verifies_our_detached_signature(files: Files, pki: Pki) -> None:
    der = cms.sign(CONTENT, pki.rsa, detached=True)
    files.path("detached.p7s").write_bytes(der)
    openssl(
        "-verify", "-binary", "-inform", "DER", "-in", str(files.path("detached.p7s")),
        "-content", str(files.path("content.txt")), "-CAfile", files.cert("ca"),
    )  # fmt: skip


def test_openssl_rejects_our_signature_under_another_ca(files: Files, pki: Pki) -> None:
    der = cms.sign(CONTENT, pki.rsa)
    assert openssl_fails("-verify", "-inform", "DER", "-CAfile", files.cert("other_ca"), stdin=der)


@pytest.mark.parametrize(
    ("name", "options"),
    [("rsa", []), ("rsa", ["-keyopt", "rsa_padding_mode:pss"]), ("ec", [])],
)
def test_we_verify_what_openssl_signs(
    files: Files, pki: Pki, name: str, options: list[str]
) -> None:
    der = openssl(
        "-sign", "-binary", "-nodetach", "-md", "sha256", "-outform", "DER",
        "-in", str(files.path("content.txt")), "-signer", files.cert(name),
        "-inkey", files.key(name), *options,
    )  # fmt: skip
    verified = cms.verify_signed(der, anchors=[pki.ca.certificate])
    assert verified.content == CONTENT
    assert verified.signer == getattr(pki, name).certificate


def test_we_verify_an_openssl_detached_signature(files: Files, pki: Pki) -> None:
    der = openssl(
        "-sign", "-binary", "-outform", "DER", "-in", str(files.path("content.txt")),
        "-signer", files.cert("ec"), "-inkey", files.key("ec"),
    )  # fmt: skip
    verified = cms.verify_signed(der, anchors=[pki.ca.certificate], detached_content=CONTENT)
    assert verified.signer_addresses == ["kine.durand@tilleuls.egide.test"]


def test_we_reject_an_openssl_signature_from_an_unknown_ca(files: Files, pki: Pki) -> None:
    der = openssl(
        "-sign", "-binary", "-nodetach", "-outform", "DER", "-in", str(files.path("content.txt")),
        "-signer", files.cert("stranger"), "-inkey", files.key("stranger"),
    )  # fmt: skip
    with pytest.raises(CertificateRejected):
        cms.verify_signed(der, anchors=[pki.ca.certificate])


# --- S/MIME sign-then-encrypt, both ways ---------------------------------------------------


@pytest.mark.parametrize(("sender", "recipient"), [("rsa", "ec"), ("ec", "rsa3072")])
def test_openssl_opens_our_signed_then_encrypted_smime(
    files: Files, pki: Pki, sender: str, recipient: str
) -> None:
    part = cms.sign_and_encrypt(
        CONTENT,
        getattr(pki, sender),
        [getattr(pki, recipient).certificate],
        anchors=[pki.ca.certificate],
    )
    assert b"smime-type=authEnveloped-data" in part
    signed = openssl("-decrypt", "-inkey", files.key(recipient), stdin=part)
    assert b"smime-type=signed-data" in signed
    assert openssl("-verify", "-CAfile", files.cert("ca"), stdin=signed) == CONTENT


@pytest.mark.parametrize(
    ("sender", "recipient", "options"), [("ec", "rsa", OAEP_SHA256), ("rsa", "ec", [])]
)
def test_we_open_openssl_signed_then_encrypted_smime(
    files: Files, pki: Pki, sender: str, recipient: str, options: list[str]
) -> None:
    # OpenSSL's default: a detached multipart/signed, then encrypted.
    signed = openssl(
        "-sign", "-in", str(files.path("content.txt")), "-signer", files.cert(sender),
        "-inkey", files.key(sender),
    )  # fmt: skip
    assert b"multipart/signed" in signed
    message = openssl(
        "-encrypt", "-aes-256-gcm", "-recip", files.cert(recipient), *options, stdin=signed
    )
    opened = cms.open_smime(message, getattr(pki, recipient), anchors=[pki.ca.certificate])
    assert opened.entity == CONTENT
    assert opened.encrypted and opened.authenticated_encryption
    assert opened.signature is not None
    assert opened.signature.signer == getattr(pki, sender).certificate


def test_a_chain_through_a_subordinate_ca_verifies_both_ways(files: Files) -> None:
    root = x509.create_ca("Root", key_type="rsa3072")
    issuing = x509.create_ca("Issuing CA", issuer=root)
    leaf = x509.issue_mailbox_certificate(issuing, "dr.sub@tilleuls.egide.test")
    files.path("root.crt").write_bytes(x509.certificate_pem(root.certificate))
    files.path("issuing.crt").write_bytes(x509.certificate_pem(issuing.certificate))
    files.path("leaf.crt").write_bytes(x509.certificate_pem(leaf.certificate))
    files.path("leaf.key").write_bytes(x509.private_key_pem(leaf.private_key))

    ours = cms.sign(CONTENT, leaf, chain=[issuing.certificate])
    assert openssl("-verify", "-inform", "DER", "-CAfile", files.cert("root"), stdin=ours)
    assert cms.verify_signed(ours, anchors=[root.certificate]).chain[-1] == root.certificate

    theirs = openssl(
        "-sign", "-binary", "-nodetach", "-outform", "DER", "-in", str(files.path("content.txt")),
        "-signer", files.cert("leaf"), "-inkey", files.key("leaf"),
        "-certfile", files.cert("issuing"),
    )  # fmt: skip
    assert cms.verify_signed(theirs, anchors=[root.certificate]).signer == leaf.certificate
