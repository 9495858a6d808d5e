"""Errors of the cryptographic recipes.

CryptoError
 ├── DecryptionFailed      authentication failed: wrong key, or the bytes were altered
 │    └── KeyNotFound         none of the keys given is the one the data names
 ├── WrongPassphrase       no key slot opens with the given passphrase
 ├── InvalidKeyMaterial    a key or parameter has the wrong size, type or encoding
 ├── AccessTokenRejected   an OIDC access token (JWT) is malformed, forged, expired or not ours
 └── CmsError              a CMS/S-MIME structure is malformed or unsupported
      ├── SignatureInvalid     a signature does not verify
      └── CertificateRejected  a certificate does not chain, has expired or is not allowed
"""


class CryptoError(Exception):
    """Base of every error raised by `egide.crypto`."""


class DecryptionFailed(CryptoError):
    """Authenticated decryption failed: wrong key, or the ciphertext or its context was altered."""


class KeyNotFound(DecryptionFailed):
    """The data names a key (by its id) that is not among the keys given."""


class WrongPassphrase(CryptoError):
    """The passphrase opens none of the key slots."""


class InvalidKeyMaterial(CryptoError, ValueError):
    """A key or cryptographic parameter is malformed."""


class CmsError(CryptoError):
    """A CMS (RFC 5652) structure is malformed or uses an unsupported algorithm."""


class SignatureInvalid(CmsError):
    """A CMS signature does not verify against the content and the signer's certificate."""


class CertificateRejected(CmsError):
    """A certificate does not chain to a trust anchor, has expired, or lacks a required usage."""


class AccessTokenRejected(CryptoError):
    """An access token does not pass: `reason` says which check failed (for the audit trail)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
