"""XML signatures (XML-DSig, enveloped) checked with signxml, for lists the ANS publishes signed.

signxml is the well-kept Python implementation (it follows the W3C XML-DSig and XAdES
recommendations and checks the certificate path with `cryptography`). We only wrap it so that the
rest of the code never touches it and gets our error tree.

«See what is signed»: callers must read the bytes returned here, which are exactly what the
signature covers, and never the original document — otherwise a signature-wrapping attack could
show them unsigned elements next to a valid signature.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from lxml import etree
from signxml import XMLVerifier  # type: ignore[attr-defined]  # re-exported, untyped
from signxml.exceptions import InvalidInput, SignXMLException

from .errors import SignatureInvalid

__all__ = ["verify_enveloped"]


def verify_enveloped(data: bytes, *, anchors: Sequence[bytes]) -> bytes:
    """Verify the enveloped signature of an XML document; return the signed XML (canonical bytes).

    `anchors` are PEM CA certificates; the signing certificate carried in the signature's KeyInfo
    must chain to one of them and be valid now. Raises SignatureInvalid otherwise (bad value,
    untrusted or expired certificate, several signatures). The caller checks that the signed
    bytes are the document it expects (same root element).
    """
    if not anchors:
        raise SignatureInvalid("no trusted signer configured")
    with tempfile.TemporaryDirectory(prefix="egide-xmldsig-") as directory:
        bundle = Path(directory) / "anchors.pem"
        bundle.write_bytes(b"\n".join(anchors))
        parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)
        try:
            result = XMLVerifier().verify(data, ca_pem_file=str(bundle), parser=parser)
        except (SignXMLException, InvalidInput, ValueError) as error:
            raise SignatureInvalid(f"XML signature rejected: {error}") from None
    if isinstance(result, list):
        raise SignatureInvalid("several XML signatures: expected exactly one")
    return bytes(result.signed_data)
