"""CMS RecipientInfo: handing the content-encryption key to each recipient (RFC 5652 §6.2).

- RSA certificates: KeyTransRecipientInfo with RSAES-OAEP, SHA-256 and MGF1-SHA-256 (RFC 8017,
  RFC 4055). PKCS#1 v1.5 key transport is refused both ways: it is the padding-oracle one.
- EC certificates: KeyAgreeRecipientInfo, ECDH ephemeral-static (dhSinglePass-stdDH-sha256kdf-
  scheme, RFC 5753) with the ANSI X9.63 KDF over ECC-CMS-SharedInfo and AES-256 key wrap
  (RFC 3394). A fresh ephemeral key per message, so there is no sender key to protect.

Recipients are named by issuer and serial number (what OpenSSL and mail clients write); a subject
key identifier is accepted on reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asn1crypto import algos, cms, core, keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

from .errors import CmsError, DecryptionFailed, InvalidKeyMaterial, KeyNotFound
from .x509 import Certificate, Identity, certificate_der

#: dhSinglePass-stdDH-sha{1,256,384,512}kdf-scheme (SEC 1 / RFC 5753 §7.1.4). We write SHA-256;
#: SHA-1 is read because it is OpenSSL's default (`openssl cms -encrypt` without ecdh_kdf_md).
ECDH_SCHEMES: dict[str, type[hashes.HashAlgorithm]] = {
    "1.3.133.16.840.63.0.2": hashes.SHA1,
    "1.3.132.1.11.1": hashes.SHA256,
    "1.3.132.1.11.2": hashes.SHA384,
    "1.3.132.1.11.3": hashes.SHA512,
}
_ECDH_SHA256 = "1.3.132.1.11.1"
_WRAP_KEY_SIZES = {"aes128_wrap": 16, "aes192_wrap": 24, "aes256_wrap": 32}
_OAEP_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class EccCmsSharedInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    """ECC-CMS-SharedInfo (RFC 5753 §7.2): the KDF input binding the key-wrap algorithm."""

    _fields = [  # noqa: RUF012  # asn1crypto's declarative schema
        ("key_info", cms.KeyEncryptionAlgorithm),
        ("entity_u_info", core.OctetString, {"explicit": 0, "optional": True}),
        ("supp_pub_info", core.OctetString, {"explicit": 2}),
    ]


def _issuer_and_serial(certificate: Certificate) -> cms.IssuerAndSerialNumber:
    parsed = asn1_x509.Certificate.load(certificate_der(certificate))
    return cms.IssuerAndSerialNumber(
        {"issuer": parsed.issuer, "serial_number": parsed.serial_number}
    )


def recipient_info(certificate: Certificate, content_key: bytes) -> cms.RecipientInfo:
    """The RecipientInfo giving `content_key` to the holder of `certificate`'s private key."""
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        oaep = padding.OAEP(
            mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        )
        return cms.RecipientInfo(
            {
                "ktri": {
                    "version": "v0",
                    "rid": {"issuer_and_serial_number": _issuer_and_serial(certificate)},
                    "key_encryption_algorithm": {
                        "algorithm": "rsaes_oaep",
                        "parameters": algos.RSAESOAEPParams(
                            {
                                "hash_algorithm": {"algorithm": "sha256"},
                                "mask_gen_algorithm": {
                                    "algorithm": "mgf1",
                                    "parameters": {"algorithm": "sha256"},
                                },
                            }
                        ),
                    },
                    "encrypted_key": key.encrypt(content_key, oaep),
                }
            }
        )
    if isinstance(key, ec.EllipticCurvePublicKey):
        return _key_agreement(certificate, key, content_key)
    raise InvalidKeyMaterial("recipients must have RSA or EC certificates")


def _kek(shared_secret: bytes, wrap_algorithm: Any, ukm: bytes | None, hash_type: Any) -> bytes:
    size = _WRAP_KEY_SIZES.get(wrap_algorithm["algorithm"].native)
    if size is None:
        raise CmsError(f"unsupported key wrap {wrap_algorithm['algorithm'].native}")
    info: dict[str, Any] = {
        "key_info": wrap_algorithm,
        "supp_pub_info": (size * 8).to_bytes(4, "big"),
    }
    if ukm is not None:
        info["entity_u_info"] = ukm
    shared_info = EccCmsSharedInfo(info).dump()
    return X963KDF(algorithm=hash_type(), length=size, sharedinfo=shared_info).derive(shared_secret)


def _key_agreement(
    certificate: Certificate, key: ec.EllipticCurvePublicKey, content_key: bytes
) -> cms.RecipientInfo:
    ephemeral = ec.generate_private_key(key.curve)
    wrap_algorithm = cms.KeyEncryptionAlgorithm({"algorithm": "aes256_wrap"})
    kek = _kek(ephemeral.exchange(ec.ECDH(), key), wrap_algorithm, None, hashes.SHA256)
    point = ephemeral.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return cms.RecipientInfo(
        {
            "kari": {
                "version": "v3",
                "originator": {
                    # RFC 5753 §3.1.1: id-ecPublicKey with the parameters absent: the curve is
                    # the recipient's.
                    "originator_key": keys.PublicKeyInfo(
                        {"algorithm": {"algorithm": "ec"}, "public_key": point}
                    )
                },
                "key_encryption_algorithm": {
                    "algorithm": _ECDH_SHA256,
                    "parameters": wrap_algorithm,
                },
                "recipient_encrypted_keys": [
                    {
                        "rid": {"issuer_and_serial_number": _issuer_and_serial(certificate)},
                        "encrypted_key": aes_key_wrap(kek, content_key),
                    }
                ],
            }
        }
    )


def _names(identifier: Any, certificate: Certificate, issuer_and_serial: bytes) -> bool:
    if identifier.name == "issuer_and_serial_number":
        return bool(identifier.chosen.dump() == issuer_and_serial)
    if identifier.name in ("subject_key_identifier", "r_key_id"):
        wanted = identifier.chosen.native
        if isinstance(wanted, dict):
            wanted = wanted["subject_key_identifier"]
        try:
            ski = certificate.extensions.get_extension_for_class(cx509.SubjectKeyIdentifier)
        except cx509.ExtensionNotFound:
            return False
        return bool(ski.value.digest == wanted)
    return False


def unwrap_content_key(recipient_infos: Sequence[Any], recipient: Identity) -> bytes:
    """Find the RecipientInfo meant for `recipient` and recover the content-encryption key.

    Raises KeyNotFound when the message is not addressed to this certificate, DecryptionFailed
    when the key cannot be recovered (wrong private key, altered bytes).
    """
    own = _issuer_and_serial(recipient.certificate).dump()
    for info in recipient_infos:
        _check_version(info)
        if info.name == "ktri" and _names(info.chosen["rid"], recipient.certificate, own):
            return _unwrap_transport(info.chosen, recipient)
        if info.name == "kari":
            for encrypted in info.chosen["recipient_encrypted_keys"]:
                if _names(encrypted["rid"], recipient.certificate, own):
                    return _unwrap_agreement(info.chosen, encrypted, recipient)
    raise KeyNotFound("the message is not addressed to this certificate")


def _check_version(info: Any) -> None:
    # RFC 5652 §6.2: ktri is v0 with issuer-and-serial, v2 with a key identifier; kari is v3.
    version = info.chosen["version"].native if info.name in ("ktri", "kari") else None
    if info.name == "ktri":
        by_serial = info.chosen["rid"].name == "issuer_and_serial_number"
        if version != ("v0" if by_serial else "v2"):
            raise CmsError(f"KeyTransRecipientInfo version {version} is inconsistent")
    elif info.name == "kari" and version != "v3":
        raise CmsError(f"KeyAgreeRecipientInfo version {version} is inconsistent")


def _unwrap_transport(ktri: Any, recipient: Identity) -> bytes:
    private_key = recipient.private_key
    algorithm = ktri["key_encryption_algorithm"]
    if algorithm["algorithm"].native != "rsaes_oaep":
        raise CmsError(f"refused key transport {algorithm['algorithm'].native}: only RSA-OAEP")
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise InvalidKeyMaterial("RSA-OAEP key transport needs an RSA private key")
    params = algorithm["parameters"]
    hash_name = params["hash_algorithm"]["algorithm"].native
    mgf_hash = params["mask_gen_algorithm"]["parameters"]["algorithm"].native
    label = params["p_source_algorithm"]["parameters"].native or None
    if hash_name not in _OAEP_HASHES or mgf_hash not in _OAEP_HASHES:
        raise CmsError(f"unsupported RSA-OAEP digest {hash_name}/{mgf_hash}")
    oaep = padding.OAEP(
        mgf=padding.MGF1(_OAEP_HASHES[mgf_hash]()),
        algorithm=_OAEP_HASHES[hash_name](),
        label=label,
    )
    try:
        return private_key.decrypt(ktri["encrypted_key"].native, oaep)
    except ValueError:
        raise DecryptionFailed("the content key cannot be recovered") from None


def _unwrap_agreement(kari: Any, encrypted: Any, recipient: Identity) -> bytes:
    private_key = recipient.private_key
    if not isinstance(private_key, ec.EllipticCurvePrivateKey):
        raise InvalidKeyMaterial("ECDH key agreement needs an EC private key")
    algorithm = kari["key_encryption_algorithm"]
    hash_type = ECDH_SCHEMES.get(algorithm["algorithm"].dotted)
    if hash_type is None:
        raise CmsError(f"unsupported key agreement {algorithm['algorithm'].dotted}")
    originator = kari["originator"]
    if originator.name != "originator_key":
        raise CmsError("only ephemeral-static ECDH (an originator public key) is supported")
    parameters = originator.chosen["algorithm"]["parameters"]
    if originator.chosen["algorithm"]["algorithm"].native != "ec" or (
        parameters.native is not None and parameters.chosen.dump() != _named_curve(private_key)
    ):
        raise CmsError("the originator key is not on the recipient's curve")
    wrap_algorithm = cms.KeyEncryptionAlgorithm.load(algorithm["parameters"].dump())
    ukm = kari["ukm"].native if kari["ukm"] else None
    try:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(
            private_key.curve, originator.chosen["public_key"].native
        )
        shared_secret = private_key.exchange(ec.ECDH(), peer)
        kek = _kek(shared_secret, wrap_algorithm, ukm, hash_type)
        return aes_key_unwrap(kek, encrypted["encrypted_key"].native)
    except (ValueError, InvalidUnwrap):
        raise DecryptionFailed("the content key cannot be recovered") from None


def _named_curve(private_key: ec.EllipticCurvePrivateKey) -> bytes:
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    parsed = keys.PublicKeyInfo.load(der)
    return bytes(parsed["algorithm"]["parameters"].chosen.dump())
