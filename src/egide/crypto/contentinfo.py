"""Reading and writing the CMS ContentInfo wrapper (RFC 5652 §3) with asn1crypto.

Everything received goes through `load`: DER only (no trailing bytes, no BER or indefinite
lengths: what OpenSSL writes unless told to stream), parsed completely up front, so that a
malformed structure raises CmsError here and never an arbitrary exception deeper in the code.
Why asn1crypto: docs/decisions/0006-cms-asn1.md.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import cms

from .errors import CmsError

#: The longest CMS object accepted; a message is capped well below this by the mail layer.
MAX_DER_SIZE = 64 * 1024 * 1024

#: What asn1crypto raises on malformed input (a mix of built-in errors and its own subclasses);
#: all of them mean "not a well-formed structure" to us.
PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)


def load(der: bytes, *expected: str) -> tuple[str, Any]:
    """Parse `der` as a ContentInfo of one of the `expected` types (asn1crypto names).

    Returns the type found and the parsed content.
    """
    if len(der) > MAX_DER_SIZE:
        raise CmsError("CMS object too large")
    try:
        info = cms.ContentInfo.load(der, strict=True)
        content_type = info["content_type"].native
        if content_type not in expected:
            raise CmsError(f"expected CMS {' or '.join(expected)}, got {content_type}")
        content = info["content"]
        # Force a complete parse now: asn1crypto is lazy and would otherwise fail later.
        _ = content.native
        # asn1crypto reads BER leniently (long-form lengths, empty integers…). Re-encoding and
        # comparing makes the input's encoding unique, so no byte can change unnoticed.
        if info.dump(force=True) != der:
            raise CmsError(
                "the CMS object is not DER-encoded (BER or streamed output is not accepted)"
            )
    except CmsError:
        raise
    except PARSE_ERRORS as exc:
        raise CmsError(f"malformed CMS structure: {exc}") from None
    return content_type, content


def content_type(der: bytes) -> str:
    """The asn1crypto name (or dotted OID) of a ContentInfo's type, without parsing the rest."""
    try:
        return str(cms.ContentInfo.load(der, strict=True)["content_type"].native)
    except PARSE_ERRORS as exc:
        raise CmsError(f"malformed CMS structure: {exc}") from None


def dump(content_type: str, content: Any) -> bytes:
    """DER of a ContentInfo wrapping `content`."""
    return bytes(cms.ContentInfo({"content_type": content_type, "content": content}).dump())
