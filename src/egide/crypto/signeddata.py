"""CMS SignedData (RFC 5652 §5): sign with RSA (PKCS#1 v1.5 or PSS) or ECDSA over SHA-256.

What we write: version 1, one signer identified by issuer and serial number, signed attributes
(content type, signing time, message digest), the signer's certificate and any intermediate CAs
given (never the root: the verifier has its own trust anchors), the content encapsulated unless
`detached`.

What we accept: the same shapes from other software (OpenSSL, mail clients), SHA-256/384/512,
every signer must verify, and each signer's certificate must chain to the caller's anchors.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509 as cx509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from . import contentinfo
from .errors import CmsError, CryptoError, SignatureInvalid
from .x509 import (
    Certificate,
    CertificateRevocationList,
    Identity,
    certificate_der,
    mailbox_addresses,
    verify_certificate,
)

RsaPadding = Literal["pkcs1v15", "pss"]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@dataclass(frozen=True)
class VerifiedSignature:
    """What a valid signature proves: who signed (a verified chain), what and when (claimed)."""

    content: bytes
    signer: Certificate
    chain: list[Certificate]
    signer_addresses: list[str]
    signing_time: datetime.datetime | None


def _signed_attributes(content: bytes, now: datetime.datetime) -> cms.CMSAttributes:
    attributes = [
        cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": now})]}),
        cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(content).digest()]}),
    ]
    # DER requires a SET OF in the order of its encodings; OpenSSL re-encodes before checking,
    # so any other order would make our signatures fail there.
    attributes.sort(key=lambda attribute: attribute.dump())
    return cms.CMSAttributes(attributes)


def _signature_algorithm(key: Any, rsa_padding: RsaPadding) -> algos.SignedDigestAlgorithm:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
    if rsa_padding == "pss":
        return algos.SignedDigestAlgorithm(
            {
                "algorithm": "rsassa_pss",
                "parameters": algos.RSASSAPSSParams(
                    {
                        "hash_algorithm": {"algorithm": "sha256"},
                        "mask_gen_algorithm": {
                            "algorithm": "mgf1",
                            "parameters": {"algorithm": "sha256"},
                        },
                        "salt_length": 32,
                    }
                ),
            }
        )
    return algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"})


def _sign_bytes(key: Any, data: bytes, rsa_padding: RsaPadding) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if rsa_padding == "pss":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return bytes(key.sign(data, pss, hashes.SHA256()))
    return bytes(key.sign(data, padding.PKCS1v15(), hashes.SHA256()))


def sign(
    content: bytes,
    signer: Identity,
    *,
    detached: bool = False,
    rsa_padding: RsaPadding = "pkcs1v15",
    chain: Sequence[Certificate] = (),
    now: datetime.datetime | None = None,
) -> bytes:
    """A DER ContentInfo(SignedData) of `content` signed by `signer`.

    `chain`: intermediate CA certificates to embed after the signer's, so that a verifier who
    only holds the root can build the path (never the root itself).
    """
    when = (now or datetime.datetime.now(datetime.UTC)).replace(microsecond=0)
    signed_attrs = _signed_attributes(content, when)
    # The signature covers the attributes encoded as a SET (tag 0x31), not as the [0] they
    # carry inside SignerInfo (RFC 5652 §5.4).
    signature = _sign_bytes(signer.private_key, signed_attrs.dump(), rsa_padding)
    certificate = asn1_x509.Certificate.load(certificate_der(signer.certificate))
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {
                            "issuer": certificate.issuer,
                            "serial_number": certificate.serial_number,
                        }
                    )
                }
            ),
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": signed_attrs,
            "signature_algorithm": _signature_algorithm(signer.private_key, rsa_padding),
            "signature": signature,
        }
    )
    encap: dict[str, Any] = {"content_type": "data"}
    if not detached:
        encap["content"] = content
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": encap,
            "certificates": [
                certificate,
                *(asn1_x509.Certificate.load(certificate_der(extra)) for extra in chain),
            ],
            "signer_infos": [signer_info],
        }
    )
    return contentinfo.dump("signed_data", signed_data)


def verify_signed(
    der: bytes,
    *,
    anchors: Sequence[Certificate],
    intermediates: Sequence[Certificate] = (),
    crls: Sequence[CertificateRevocationList] = (),
    detached_content: bytes | None = None,
    at: datetime.datetime | None = None,
) -> VerifiedSignature:
    """Verify every signature of a SignedData AND its signer's certificate chain.

    Raises SignatureInvalid (content or attributes altered, wrong key), CertificateRejected
    (unknown CA, expired, revoked, not for e-mail signing) or CmsError (malformed, unsupported).
    `at` is the time the certificates must be valid at (default: now).
    """
    _, signed_data = contentinfo.load(der, "signed_data")
    try:
        return _verify(signed_data, anchors, intermediates, crls, detached_content, at)
    except CryptoError:
        raise
    except (*contentinfo.PARSE_ERRORS, UnsupportedAlgorithm, cx509.InvalidVersion) as exc:
        raise CmsError(f"malformed or unsupported SignedData: {exc}") from None


def _verify(
    signed_data: Any,
    anchors: Sequence[Certificate],
    intermediates: Sequence[Certificate],
    crls: Sequence[CertificateRevocationList],
    detached_content: bytes | None,
    at: datetime.datetime | None,
) -> VerifiedSignature:
    encap = signed_data["encap_content_info"]
    if encap["content_type"].native != "data":
        raise CmsError("only signed data of type id-data is supported")
    embedded = encap["content"].native if encap["content"] else None
    if (embedded is None) == (detached_content is None):
        raise CmsError("give the content exactly once: embedded or detached")
    content = bytes(embedded if embedded is not None else detached_content or b"")
    certificates = []
    for choice in signed_data["certificates"]:
        if choice.name != "certificate":
            continue
        # DER leaves no freedom in a BIT STRING's unused-bits count; cryptography tolerates a
        # non-zero one, which would let the same certificate travel under several encodings.
        if choice.chosen["signature_value"].contents[:1] != b"\x00":
            raise CmsError("an embedded certificate is not DER-encoded")
        certificates.append(cx509.load_der_x509_certificate(choice.chosen.dump()))
    signer_infos = list(signed_data["signer_infos"])
    if not signer_infos:
        raise SignatureInvalid("the SignedData has no signer")
    # RFC 5652 §5.1 for id-data content without attribute certificates: v3 when a signer is
    # named by key identifier (SignerInfo v3), else v1.
    expected_version = "v3" if any(i["version"].native == "v3" for i in signer_infos) else "v1"
    if signed_data["version"].native != expected_version:
        raise CmsError(f"SignedData version {signed_data['version'].native} is inconsistent")
    declared = {algorithm["algorithm"].native for algorithm in signed_data["digest_algorithms"]}
    result: VerifiedSignature | None = None
    for signer_info in signer_infos:
        digest_name = signer_info["digest_algorithm"]["algorithm"].native
        if digest_name not in declared:
            raise SignatureInvalid("a signer uses a digest the SignedData does not declare")
        certificate = _find_signer(signer_info, certificates)
        signing_time = _check_signature(signer_info, certificate, content)
        chain = verify_certificate(
            certificate,
            anchors=anchors,
            intermediates=[*certificates, *intermediates],
            crls=crls,
            at=at,
            usage="signing",
        )
        result = result or VerifiedSignature(
            content=content,
            signer=certificate,
            chain=chain,
            signer_addresses=mailbox_addresses(certificate),
            signing_time=signing_time,
        )
    assert result is not None
    return result


def _find_signer(signer_info: Any, certificates: list[Certificate]) -> Certificate:
    sid = signer_info["sid"]
    version = signer_info["version"].native
    if sid.name == "issuer_and_serial_number" and version == "v1":
        issuer = sid.chosen["issuer"].dump()
        serial = sid.chosen["serial_number"].native
        for certificate in certificates:
            if certificate.serial_number == serial and certificate.issuer.public_bytes() == issuer:
                return certificate
    elif sid.name == "subject_key_identifier" and version == "v3":
        for certificate in certificates:
            try:
                ski = certificate.extensions.get_extension_for_class(cx509.SubjectKeyIdentifier)
            except cx509.ExtensionNotFound:
                continue
            if ski.value.digest == sid.chosen.native:
                return certificate
    else:
        raise CmsError("the signer identifier does not match the SignerInfo version")
    raise SignatureInvalid("the signer's certificate is not in the message")


def _check_signature(
    signer_info: Any, certificate: Certificate, content: bytes
) -> datetime.datetime | None:
    digest_name = signer_info["digest_algorithm"]["algorithm"].native
    if digest_name not in _HASHES:
        raise CmsError(f"unsupported digest algorithm {digest_name}")
    hash_algorithm = _HASHES[digest_name]()
    digester = hashes.Hash(hash_algorithm)
    digester.update(content)
    digest = digester.finalize()
    signed_attrs = signer_info["signed_attrs"]
    signing_time = None
    if signed_attrs:
        values = {attribute["type"].native: attribute["values"] for attribute in signed_attrs}
        if len(values) != len(signed_attrs):
            raise SignatureInvalid("a signed attribute appears twice")
        content_type = values.get("content_type")
        message_digest = values.get("message_digest")
        if content_type is None or message_digest is None:
            raise SignatureInvalid("content type or message digest attribute missing")
        if [v.native for v in content_type] != ["data"]:
            raise SignatureInvalid("the signed content type does not match")
        if [v.native for v in message_digest] != [digest]:
            raise SignatureInvalid("the content does not match its signed digest")
        if "signing_time" in values and len(values["signing_time"]) == 1:
            signing_time = values["signing_time"][0].native
        # Re-tag the [0] IMPLICIT attributes as the SET they were signed as.
        signed_bytes = b"\x31" + signed_attrs.dump()[1:]
    else:
        signed_bytes = content
    _verify_bytes(signer_info, certificate, signed_bytes, hash_algorithm)
    return signing_time


def _verify_bytes(
    signer_info: Any, certificate: Certificate, data: bytes, hash_algorithm: hashes.HashAlgorithm
) -> None:
    algorithm = signer_info["signature_algorithm"]
    name = algorithm["algorithm"].native
    signature = signer_info["signature"].native
    key = certificate.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and name == f"{hash_algorithm.name}_ecdsa":
            key.verify(signature, data, ec.ECDSA(hash_algorithm))
        elif isinstance(key, rsa.RSAPublicKey) and name in (
            "rsassa_pkcs1v15",
            f"{hash_algorithm.name}_rsa",
        ):
            key.verify(signature, data, padding.PKCS1v15(), hash_algorithm)
        elif isinstance(key, rsa.RSAPublicKey) and name == "rsassa_pss":
            params = algorithm["parameters"]
            pss_hash = params["hash_algorithm"]["algorithm"].native
            mgf_hash = params["mask_gen_algorithm"]["parameters"]["algorithm"].native
            if pss_hash != hash_algorithm.name or mgf_hash != pss_hash:
                raise CmsError("RSA-PSS parameters must use the signer's digest throughout")
            pss = padding.PSS(
                mgf=padding.MGF1(hash_algorithm), salt_length=params["salt_length"].native
            )
            key.verify(signature, data, pss, hash_algorithm)
        else:
            raise CmsError(f"unsupported signature algorithm {name} for this key")
    except InvalidSignature:
        raise SignatureInvalid("the signature does not verify") from None
