"""CDA narrative blocks rendered as safe HTML, by an allow-list of elements and attributes.

The CDA narrative (`section/text`) is a small XHTML-like vocabulary. Each element we know is
mapped to one HTML element; anything else is replaced by its text. No attribute crosses over
except table spans and a closed set of style classes; a `linkHtml` becomes a link only for
http(s) and mailto targets; multimedia references are shown as a placeholder, never fetched.
The result is then passed through `nh3` (the Rust « ammonia » sanitizer) with the same
allow-list, so that a slip in the mapping cannot reach the inbox as active content.
"""

from __future__ import annotations

import html

import nh3
from lxml import etree

from .cda import HL7_NS, CdaDocument

__all__ = ["ALLOWED_TAGS", "render_narrative", "sanitize_html"]

_NS = {"h": HL7_NS}

_DIRECT = {
    "paragraph": "p",
    "br": "br",
    "sub": "sub",
    "sup": "sup",
    "table": "table",
    "thead": "thead",
    "tbody": "tbody",
    "tfoot": "tfoot",
    "tr": "tr",
    "th": "th",
    "td": "td",
    "caption": "caption",
    "item": "li",
    "content": "span",
    "footnote": "small",
    "footnoteRef": "sup",
    "col": "col",
    "colgroup": "colgroup",
}
_STYLE_CLASSES = {
    "bold": "cda-bold",
    "italics": "cda-italics",
    "underline": "cda-underline",
    "emphasis": "cda-emphasis",
    "bolditalics": "cda-bold cda-italics",
    "lrule": "cda-lrule",
    "rrule": "cda-rrule",
    "toprule": "cda-toprule",
    "botrule": "cda-botrule",
}
ALLOWED_TAGS = {
    *_DIRECT.values(),
    "ul",
    "ol",
    "a",
    "section",
    "h2",
    "h3",
    "h4",
    "div",
    "em",
}
_ALLOWED_ATTRIBUTES = {
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "a": {"href"},
    "*": {"class"},
}
_SAFE_LINK_SCHEMES = {"http", "https", "mailto"}


def sanitize_html(fragment: str) -> str:
    """Clean an HTML fragment with our allow-list (defence in depth after the mapping)."""
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes=_SAFE_LINK_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def _local(element: etree._Element) -> str | None:
    if not isinstance(element.tag, str):
        return None  # comments and processing instructions
    return etree.QName(element).localname


def _classes(element: etree._Element) -> str | None:
    style = element.get("styleCode") or ""
    names = [_STYLE_CLASSES[w.lower()] for w in style.split() if w.lower() in _STYLE_CLASSES]
    return " ".join(names) or None


# Nesting deeper than this is flattened to its text: no narrative needs it, and recursion
# must stay far from Python's limit whatever libxml2 accepts.
_MAX_DEPTH = 48


def _convert(source: etree._Element, target: etree._Element, depth: int = 0) -> None:
    """Append the safe HTML equivalent of `source`'s children to `target`."""
    if depth > _MAX_DEPTH:
        _append_text(target, " ".join("".join(source.itertext()).split()))
        return
    _append_text(target, source.text)
    for child in source:
        name = _local(child)
        if name is None:
            _append_text(target, child.tail)
            continue
        produced = _element_for(child, name)
        if produced is None:
            # Unknown or dropped element: keep its words, not its markup.
            holder = etree.Element("span")
            _convert(child, holder, depth + 1)
            target.append(holder)
        else:
            target.append(produced)
            if name not in {"br", "col", "renderMultiMedia"}:
                _convert(child, produced, depth + 1)
        _append_text(target, child.tail)


def _element_for(child: etree._Element, name: str) -> etree._Element | None:
    if name in _DIRECT:
        produced = etree.Element(_DIRECT[name])
        for span in ("colspan", "rowspan"):
            value = child.get(span)
            if name in {"td", "th"} and value and value.isdigit():
                produced.set(span, value)
    elif name == "list":
        ordered = (child.get("listType") or "").lower() == "ordered"
        produced = etree.Element("ol" if ordered else "ul")
    elif name == "linkHtml":
        href = (child.get("href") or "").strip()
        scheme = href.split(":", 1)[0].lower() if ":" in href else ""
        produced = etree.Element("a" if scheme in _SAFE_LINK_SCHEMES else "span")
        if produced.tag == "a":
            produced.set("href", href)
    elif name == "renderMultiMedia":
        produced = etree.Element("em")
        produced.text = "[contenu multimédia non affiché]"
    else:
        return None
    css = _classes(child)
    if css:
        produced.set("class", css)
    return produced


def _append_text(target: etree._Element, text: str | None) -> None:
    if not text:
        return
    if len(target):
        last = target[-1]
        last.tail = (last.tail or "") + text
    else:
        target.text = (target.text or "") + text


def _sections(parent: etree._Element, container: etree._Element, depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    for section in parent.findall("h:component/h:section", _NS):
        block = etree.SubElement(container, "section")
        title = section.find("h:title", _NS)
        if title is not None:
            heading = etree.SubElement(block, f"h{min(depth, 4)}")
            heading.text = " ".join("".join(title.itertext()).split())
        text = section.find("h:text", _NS)
        if text is not None:
            body = etree.SubElement(block, "div")
            _convert(text, body)
        _sections(section, block, depth + 1)


def render_narrative(document: CdaDocument) -> str:
    """The narrative of a level-3 document as a safe HTML fragment (empty for level 1)."""
    if document.root is None:
        return ""
    structured = document.root.find("h:component/h:structuredBody", _NS)
    if structured is None:
        return ""
    container = etree.Element("div")
    _sections(structured, container, depth=2)
    fragment = etree.tostring(container, method="html", encoding="unicode")
    return sanitize_html(fragment)


def escape(text: str | None) -> str:
    """HTML-escape a header value (None becomes an empty string)."""
    return html.escape(text or "")
