"""The one way the messaging engine parses XML received from outside: hardened lxml.

Received CDA documents and XDM metadata are hostile until proven otherwise. libxml2 is asked
never to load a DTD, never to expand an entity and never to touch the network; on top of that
any document type declaration is refused outright, because a health document has no business
carrying one (XXE, « billion laughs »), and the input size is capped before parsing starts.

`huge_tree` is on: without it libxml2 refuses any text node over 10 MB, i.e. a level-1 CDA whose
embedded PDF exceeds about 7.5 MB (a scanned report). What that limit protects against is
covered otherwise: no DTD means no entity amplification, the input is capped at MAX_XML_BYTES,
and nesting stays bounded by libxml2 (2048 levels) while our only recursive walk (the narrative
renderer) flattens anything deeper than a few dozen levels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from .errors import UnsafeXml

__all__ = ["MAX_XML_BYTES", "ParsedXml", "parse_xml"]

# The largest ANS example CDA is 0.45 MB; a level-1 CDA carries a base64 PDF, which can be a
# few MB. 32 MB leaves room for scanned reports while bounding memory.
MAX_XML_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class ParsedXml:
    """A parsed document and the defects tolerated while reading it (French)."""

    root: etree._Element
    warnings: list[str] = field(default_factory=list)


def _parser(recover: bool) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=True,
        recover=recover,
        remove_comments=True,
        remove_pis=True,
    )


_DOCTYPE_REFUSAL = (
    "{what} : une déclaration DOCTYPE/DTD ou ENTITY est présente ; elle est refusée "
    "(risque d'entités externes ou d'expansion d'entités)."
)
_DECLARATION_MARKERS = tuple(
    marker.encode(encoding)
    for marker in ("<!DOCTYPE", "<!ENTITY")
    for encoding in ("ascii", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)


def _refuse_doctype(tree: etree._ElementTree, what: str) -> None:
    info = tree.docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise UnsafeXml(_DOCTYPE_REFUSAL.format(what=what))


def parse_xml(
    data: bytes,
    *,
    what: str = "Document XML",
    max_bytes: int = MAX_XML_BYTES,
    tolerant: bool = False,
) -> ParsedXml:
    """Parse untrusted XML bytes safely.

    With `tolerant`, a document that is not namespace-well-formed (an undeclared prefix, as in
    some XDM packages from the field) is read in libxml2's recovery mode and every problem is
    returned as a warning; without it, such a document is refused. DTDs are refused in both
    modes. Raises UnsafeXml for any refusal.
    """
    if len(data) > max_bytes:
        raise UnsafeXml(f"{what} : {len(data)} octets, au-delà de la limite de {max_bytes} octets.")
    if not data.strip():
        raise UnsafeXml(f"{what} : le fichier est vide.")
    # Refused before libxml2 sees it, whatever it would do with it; the post-parse check below
    # catches encodings where these markers are not plain ASCII bytes.
    if any(marker in data for marker in _DECLARATION_MARKERS):
        raise UnsafeXml(_DOCTYPE_REFUSAL.format(what=what))
    try:
        tree = etree.ElementTree(etree.fromstring(data, _parser(recover=False)))
    except etree.XMLSyntaxError as strict_error:
        if not tolerant:
            raise UnsafeXml(f"{what} : XML invalide ({_first_line(strict_error)}).") from None
        parser = _parser(recover=True)
        try:
            root = etree.fromstring(data, parser)
        except etree.XMLSyntaxError as error:
            raise UnsafeXml(f"{what} : XML illisible ({_first_line(error)}).") from None
        if root is None:
            raise UnsafeXml(f"{what} : XML illisible ({_first_line(strict_error)}).") from None
        tree = etree.ElementTree(root)
        _refuse_doctype(tree, what)
        warnings = [
            f"{what} : XML non conforme lu en mode tolérant (ligne {entry.line} : {entry.message})"
            for entry in parser.error_log
        ][:20]
        return ParsedXml(root, warnings)
    _refuse_doctype(tree, what)
    return ParsedXml(tree.getroot())


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__
