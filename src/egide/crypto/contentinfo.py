"""Reading and writing the CMS ContentInfo wrapper (RFC 5652 §3) with asn1crypto.

Everything received goes through `load`: DER only (strict: no trailing bytes), parsed completely
up front, so that a malformed structure raises CmsError here and never an arbitrary exception
deeper in the code. Why asn1crypto: docs/decisions/0001-cms-asn1.md.
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
    except CmsError:
        raise
    except PARSE_ERRORS as exc:
        raise CmsError(f"malformed CMS structure: {exc}") from None
    return content_type, content


def dump(content_type: str, content: Any) -> bytes:
    """DER of a ContentInfo wrapping `content`."""
    return bytes(cms.ContentInfo({"content_type": content_type, "content": content}).dump())
