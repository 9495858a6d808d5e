"""A small operator CA and the checks on mailbox certificates.

The operator CA issues one certificate per mailbox (subject CN and rfc822Name SAN = the mailbox
address) for S/MIME: signing and encryption. In production the anchors are IGC-Santé's; the CA
here serves tests and the embedded default. Chain building and path validation are
`cryptography.x509.verification` (RFC 5280 rules); revocation is checked against the CRLs given,
because the embedded default has no network to fetch them from.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from .errors import CertificateRejected, InvalidKeyMaterial

#: Re-exported so that callers name these types without importing `cryptography`.
Certificate: TypeAlias = x509.Certificate
CertificateRevocationList: TypeAlias = x509.CertificateRevocationList
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

KeyType = Literal["rsa2048", "rsa3072", "p256"]
Usage = Literal["signing", "encryption"]

_MAX_CHAIN_DEPTH = 4


@dataclass(frozen=True)
class Identity:
    """A certificate with its private key: a CA, or a mailbox able to sign and decrypt."""

    certificate: Certificate
    private_key: PrivateKey


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def generate_private_key(key_type: KeyType) -> PrivateKey:
    """A new RSA 2048/3072 or EC P-256 private key."""
    if key_type == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    bits = {"rsa2048": 2048, "rsa3072": 3072}[key_type]
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _name(common_name: str, organisation: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organisation:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    return x509.Name(attributes)


def create_ca(
    common_name: str,
    *,
    organisation: str = "Égide",
    key_type: KeyType = "p256",
    valid_for: datetime.timedelta = datetime.timedelta(days=3650),
    not_before: datetime.datetime | None = None,
    issuer: Identity | None = None,
) -> Identity:
    """A CA allowed to issue mailbox certificates and CRLs.

    Self-signed (a root, the trust anchor) unless `issuer` is given: then a subordinate CA that
    issues only end-entity certificates (path length 0), as IGC-Santé's issuing CAs are.
    """
    key = generate_private_key(key_type)
    start = not_before or _utcnow() - datetime.timedelta(minutes=5)
    name = _name(common_name, organisation)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    signer_key: PrivateKey = key if issuer is None else issuer.private_key
    issuer_name = name if issuer is None else issuer.certificate.subject
    issuer_ski = (
        ski
        if issuer is None
        else issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + valid_for)
        .add_extension(
            x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0),
            critical=True,
        )
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
            critical=False,
        )
        .sign(signer_key, hashes.SHA256())
    )
    return Identity(certificate, key)


def _key_usage(
    *, cert_sign: bool = False, signature: bool = False, encipher: bool = False, agree: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signature,
        content_commitment=signature,
        key_encipherment=encipher,
        data_encipherment=False,
        key_agreement=agree,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def issue_mailbox_certificate(
    ca: Identity,
    address: str,
    *,
    key_type: KeyType = "rsa2048",
    valid_for: datetime.timedelta = datetime.timedelta(days=3 * 365),
    not_before: datetime.datetime | None = None,
) -> Identity:
    """A new key pair and certificate for one mailbox, for both signing and encryption.

    Key usage: digitalSignature + nonRepudiation, and keyEncipherment (RSA, for RSA-OAEP key
    transport) or keyAgreement (EC, for ECDH). Extended key usage: emailProtection.
    """
    if "@" not in address:
        raise InvalidKeyMaterial(f"not a mailbox address: {address!r}")
    key = generate_private_key(key_type)
    start = not_before or _utcnow() - datetime.timedelta(minutes=5)
    is_ec = isinstance(key, ec.EllipticCurvePrivateKey)
    issuer_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(address))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + valid_for)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signature=True, encipher=not is_ec, agree=is_ec), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(address)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski.value),
            critical=False,
        )
        .sign(ca.private_key, hashes.SHA256())
    )
    return Identity(certificate, key)


def issue_server_certificate(
    ca: Identity,
    host: str,
    *,
    also: Sequence[str] = (),
    organisation: str = "Égide",
    key_type: KeyType = "rsa2048",
    valid_for: datetime.timedelta = datetime.timedelta(days=365),
    not_before: datetime.datetime | None = None,
) -> Identity:
    """A TLS certificate for a mail server (SMTP/IMAP), usable as server and as client.

    Operators authenticate each other with the same certificate in both directions (the
    sending MTA presents it as a client certificate), so both TLS purposes are set. RSA by
    default: the MSSanté cipher suites are ECDHE-RSA. `also` adds more DNS names.
    """
    key = generate_private_key(key_type)
    start = not_before or _utcnow() - datetime.timedelta(minutes=5)
    issuer_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(host, organisation))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + valid_for)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _key_usage(signature=True, encipher=isinstance(key, rsa.RSAPrivateKey)), critical=True
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in (host, *also)]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski.value),
            critical=False,
        )
        .sign(ca.private_key, hashes.SHA256())
    )
    return Identity(certificate, key)


def issue_crl(
    ca: Identity,
    revoked: Iterable[Certificate],
    *,
    this_update: datetime.datetime | None = None,
    valid_for: datetime.timedelta = datetime.timedelta(days=7),
) -> CertificateRevocationList:
    """A CRL signed by `ca` listing `revoked` (certificates it issued)."""
    now = this_update or _utcnow()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(now)
        .next_update(now + valid_for)
    )
    for certificate in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(certificate.serial_number)
            .revocation_date(now)
            .build()
        )
    return builder.sign(ca.private_key, hashes.SHA256())


def certificate_pem(certificate: Certificate) -> bytes:
    """The certificate as PEM text."""
    return certificate.public_bytes(serialization.Encoding.PEM)


def certificate_der(certificate: Certificate) -> bytes:
    """The certificate as DER bytes."""
    return certificate.public_bytes(serialization.Encoding.DER)


def private_key_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """The key as PKCS#8 PEM, encrypted when a passphrase is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def crl_pem(crl: CertificateRevocationList) -> bytes:
    """The CRL as PEM text."""
    return crl.public_bytes(serialization.Encoding.PEM)


def load_certificates(data: bytes) -> list[Certificate]:
    """Every certificate of a PEM bundle, or the one certificate of a DER file."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise InvalidKeyMaterial(f"not a certificate: {exc}") from None


def load_certificate(data: bytes) -> Certificate:
    """Exactly one certificate, PEM or DER."""
    certificates = load_certificates(data)
    if len(certificates) != 1:
        raise InvalidKeyMaterial(f"expected one certificate, found {len(certificates)}")
    return certificates[0]


def load_private_key(data: bytes, passphrase: bytes | None = None) -> PrivateKey:
    """An RSA or EC private key from PEM or DER (PKCS#8 or traditional)."""
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, passphrase)
        else:
            key = serialization.load_der_private_key(data, passphrase)
    except (ValueError, TypeError) as exc:
        raise InvalidKeyMaterial(f"not a usable private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise InvalidKeyMaterial("only RSA and EC private keys are supported")
    return key


def load_crl(data: bytes) -> CertificateRevocationList:
    """A CRL from PEM or DER."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise InvalidKeyMaterial(f"not a CRL: {exc}") from None


def check_crl(
    data: bytes, *, issuers: Sequence[Certificate], at: datetime.datetime | None = None
) -> bytes:
    """A downloaded CRL as PEM, once it is known to be signed by one of `issuers` and current.

    Raises InvalidKeyMaterial for bytes that are not a CRL, CertificateRejected for a CRL that
    no given CA signed or whose next update has passed (a stale list hides new revocations).
    """
    crl = load_crl(data)
    when = at or _utcnow()
    for issuer in issuers:
        if crl.issuer == issuer.subject and crl.is_signature_valid(
            issuer.public_key()  # type: ignore[arg-type]  # RSA or EC keys only
        ):
            break
    else:
        raise CertificateRejected(
            f"the CRL of {crl.issuer.rfc4514_string()} is not signed by a configured CA"
        )
    next_update = crl.next_update_utc
    if next_update is not None and next_update < when:
        raise CertificateRejected(
            f"the CRL of {crl.issuer.rfc4514_string()} expired on {next_update:%Y-%m-%d}"
        )
    return crl.public_bytes(serialization.Encoding.PEM)


def mailbox_addresses(certificate: Certificate) -> list[str]:
    """The e-mail addresses a certificate names (rfc822Name SANs), lower-cased."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [value.lower() for value in san.value.get_values_for_type(x509.RFC822Name)]


def verify_certificate(
    certificate: Certificate,
    *,
    anchors: Sequence[Certificate],
    intermediates: Sequence[Certificate] = (),
    crls: Sequence[CertificateRevocationList] = (),
    at: datetime.datetime | None = None,
    usage: Usage | None = None,
) -> list[Certificate]:
    """Check that `certificate` chains to one of `anchors` and may be used now; return the chain.

    Raises CertificateRejected when no valid path exists (unknown CA, bad signature, outside its
    validity period, CA constraints broken), when a CRL given for an issuer lists a certificate
    of the path or has itself expired, or when the key usage does not allow `usage`.
    """
    if not anchors:
        raise CertificateRejected("no trust anchor configured")
    when = at or _utcnow()
    verifier = (
        PolicyBuilder()
        .store(Store(list(anchors)))
        .time(when)
        .max_chain_depth(_MAX_CHAIN_DEPTH)
        # The WebPKI end-entity policy requires the TLS clientAuth/serverAuth purposes; S/MIME
        # certificates carry emailProtection instead, checked below by `_check_usage`.
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all()
        )
        .build_client_verifier()
    )
    try:
        chain = verifier.verify(certificate, list(intermediates)).chain
    except VerificationError as exc:
        reason = str(exc)
        if "candidates exhausted" in reason:
            reason = "it does not chain to a trusted CA"
        raise CertificateRejected(
            f"certificate {certificate.subject.rfc4514_string()} rejected: {reason}"
        ) from None
    _check_revocation(chain, crls, when)
    _check_usage(certificate, usage)
    return chain


def _check_revocation(
    chain: Sequence[Certificate], crls: Sequence[CertificateRevocationList], when: datetime.datetime
) -> None:
    # chain[0] is the leaf, chain[-1] the anchor; each certificate is checked against the CRLs
    # its own issuer (the next one up) signed. CRLs signed by anyone else are ignored.
    for certificate, issuer in itertools.pairwise(chain):
        for crl in crls:
            if crl.issuer != certificate.issuer or not crl.is_signature_valid(
                issuer.public_key()  # type: ignore[arg-type]  # RSA or EC keys only
            ):
                continue
            next_update = crl.next_update_utc
            if next_update is not None and next_update < when:
                raise CertificateRejected(
                    f"the CRL of {issuer.subject.rfc4514_string()} expired "
                    f"on {next_update:%Y-%m-%d}: fetch a fresh one"
                )
            if crl.get_revoked_certificate_by_serial_number(certificate.serial_number):
                raise CertificateRejected(
                    f"certificate {certificate.serial_number:x} "
                    f"({certificate.subject.rfc4514_string()}) is revoked"
                )


def _check_usage(certificate: Certificate, usage: Usage | None) -> None:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is not None and constraints.value.ca:
        raise CertificateRejected("a CA certificate cannot be a mailbox certificate")
    try:
        key_usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        key_usage = None
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is not None and ExtendedKeyUsageOID.EMAIL_PROTECTION not in eku:
        raise CertificateRejected("the certificate is not for e-mail protection (EKU)")
    if usage is None or key_usage is None:
        return
    if usage == "signing" and not (key_usage.digital_signature or key_usage.content_commitment):
        raise CertificateRejected("the certificate's key usage does not allow signing")
    if usage == "encryption":
        is_ec = isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
        allowed = key_usage.key_agreement if is_ec else key_usage.key_encipherment
        if not allowed:
            raise CertificateRejected("the certificate's key usage does not allow encryption")
