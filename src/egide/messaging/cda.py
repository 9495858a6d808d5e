"""CDA R2 documents (ANS CI-SIS, levels 1 and 3): the header and the body's kind.

Only what messaging needs is read: patient identifiers and INS traits, authors, the document's
code, title, date and confidentiality, and whether the body is structured (level 3, narrative
sections) or an embedded file (level 1, `nonXMLBody`, usually a base64 PDF). The XML is parsed
through `xmlreader` (no DTD, no entities, bounded size).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from lxml import etree

from .errors import InvalidCda
from .xmlreader import ParsedXml, parse_xml

__all__ = [
    "HL7_NS",
    "Author",
    "CdaDocument",
    "Code",
    "InstanceId",
    "Patient",
    "embedded_file",
    "parse_cda",
]

HL7_NS = "urn:hl7-org:v3"
_NS = {"h": HL7_NS}
_CONFIDENTIALITY_SYSTEM = "2.16.840.1.113883.5.25"
_XSL_STYLESHEET = "{http://www.w3.org/1999/XSL/Transform}stylesheet"


@dataclass(frozen=True)
class InstanceId:
    """An HL7 II: the assigning authority's OID (`root`) and the id within it (`extension`)."""

    root: str
    extension: str | None = None


@dataclass(frozen=True)
class Code:
    """A coded value: code, code system OID and its display name."""

    code: str
    code_system: str | None = None
    display_name: str | None = None


@dataclass(frozen=True)
class Patient:
    """The patient's identifiers and INS traits as the document states them."""

    ids: tuple[InstanceId, ...] = ()
    family: str | None = None
    given: str | None = None
    birth_date: str | None = None  # ISO 8601 date when the document gives a full date
    sex: str | None = None  # M, F or U (administrativeGenderCode)


@dataclass(frozen=True)
class Author:
    """An author of the document (a professional, a device…)."""

    ids: tuple[InstanceId, ...] = ()
    family: str | None = None
    given: str | None = None


@dataclass(frozen=True)
class CdaDocument:
    """A parsed CDA R2 document: header fields and access to its body."""

    code: Code
    title: str
    effective_time: str | None
    confidentiality: tuple[Code, ...]
    patient: Patient
    authors: tuple[Author, ...]
    document_id: InstanceId | None
    set_id: InstanceId | None
    version: str | None
    language: str | None
    level: int  # 1: nonXMLBody (embedded file), 3: structuredBody
    embedded_media_type: str | None
    template_ids: tuple[str, ...]
    facility_type: Code | None = None  # healthcareFacilityTypeCode (TRE_R02-SecteurActivite)
    practice_setting: Code | None = None  # practiceSettingCode (standardIndustryClassCode)
    warnings: tuple[str, ...] = ()
    root: etree._Element | None = field(default=None, repr=False, compare=False)


def _first(node: etree._Element, path: str) -> etree._Element | None:
    return node.find(path, _NS)


def _text(node: etree._Element | None) -> str | None:
    if node is None:
        return None
    text = " ".join("".join(node.itertext()).split())
    return text or None


def _attr(node: etree._Element | None, name: str) -> str | None:
    if node is None:
        return None
    value = node.get(name)
    return value.strip() if value and value.strip() else None


def _ids(node: etree._Element, path: str) -> tuple[InstanceId, ...]:
    result = []
    for element in node.findall(path, _NS):
        root = _attr(element, "root")
        if root:
            result.append(InstanceId(root, _attr(element, "extension")))
    return tuple(result)


def _code(element: etree._Element | None) -> Code | None:
    code = _attr(element, "code")
    if element is None or code is None:
        return None
    return Code(code, _attr(element, "codeSystem"), _attr(element, "displayName"))


def iso_date(value: str | None) -> str | None:
    """An HL7 TS (`YYYYMMDD[hhmm…]`) as an ISO date, or the raw value when it is partial."""
    if not value:
        return None
    if len(value) >= 8 and value[:8].isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:8]}"
    return value


def _name(name: etree._Element | None) -> tuple[str | None, str | None]:
    """(family, given) preferring the birth name (qualifier BR), as INS traits require."""
    if name is None:
        return None, None
    families = name.findall("h:family", _NS)
    birth = [f for f in families if (f.get("qualifier") or "").upper() == "BR"]
    family = _text(birth[0] if birth else (families[0] if families else None))
    givens = name.findall("h:given", _NS)
    # The unqualified <given> carries the birth first names list; the BR one only the first.
    plain = [g for g in givens if not g.get("qualifier")]
    given = _text(plain[0] if plain else (givens[0] if givens else None))
    if family is None and given is None:
        family = _text(name)
    return family, given


def _patient(root: etree._Element) -> Patient:
    role = _first(root, "h:recordTarget/h:patientRole")
    if role is None:
        raise InvalidCda("Document CDA sans patient (recordTarget/patientRole absent).")
    person = _first(role, "h:patient")
    if person is None:
        return Patient(ids=_ids(role, "h:id"))
    family, given = _name(_first(person, "h:name"))
    return Patient(
        ids=_ids(role, "h:id"),
        family=family,
        given=given,
        birth_date=iso_date(_attr(_first(person, "h:birthTime"), "value")),
        sex=_attr(_first(person, "h:administrativeGenderCode"), "code"),
    )


def _authors(root: etree._Element) -> tuple[Author, ...]:
    result = []
    for assigned in root.findall("h:author/h:assignedAuthor", _NS):
        person = _first(assigned, "h:assignedPerson")
        family, given = _name(_first(person, "h:name") if person is not None else None)
        result.append(Author(_ids(assigned, "h:id"), family, given))
    return tuple(result)


def parse_cda(data: bytes, *, what: str = "Document CDA") -> CdaDocument:
    """Parse a CDA R2 document; raise InvalidCda (or UnsafeXml) with a French reason."""
    parsed: ParsedXml = parse_xml(data, what=what)
    return cda_from_element(parsed.root, what=what)


def cda_from_element(root: etree._Element, *, what: str = "Document CDA") -> CdaDocument:
    """Read the header of an already parsed ClinicalDocument element."""
    warnings: list[str] = []
    if root.tag == _XSL_STYLESHEET:
        # « Autoprésentable » documents wrap the ClinicalDocument in the XSL that displays it.
        # The stylesheet is never run (it would be code from the sender); only the data is read.
        embedded = next(root.iter(f"{{{HL7_NS}}}ClinicalDocument"), None)
        if embedded is not None:
            root = embedded
            warnings.append(
                f"{what} : document autoprésentable ; la feuille de style intégrée est ignorée."
            )
    if root.tag != f"{{{HL7_NS}}}ClinicalDocument":
        raise InvalidCda(
            f"{what} : l'élément racine est « {etree.QName(root).localname} » et non "
            "ClinicalDocument (espace de noms urn:hl7-org:v3)."
        )
    code = _code(_first(root, "h:code"))
    if code is None:
        raise InvalidCda(f"{what} : le code du type de document (ClinicalDocument/code) manque.")
    title = _text(_first(root, "h:title")) or code.display_name or code.code
    confidentiality = []
    conf = _first(root, "h:confidentialityCode")
    main = _code(conf)
    if main is None:
        warnings.append(f"{what} : niveau de confidentialité absent, « N » supposé.")
        main = Code("N", _CONFIDENTIALITY_SYSTEM, "Normal")
    confidentiality.append(main)
    if conf is not None:
        # Some producers add the DMP/MSS masking codes as translations of the main code.
        for translation in conf.findall("h:translation", _NS):
            extra = _code(translation)
            if extra is not None:
                confidentiality.append(extra)
    body = _first(root, "h:component/h:nonXMLBody")
    structured = _first(root, "h:component/h:structuredBody")
    if body is None and structured is None:
        raise InvalidCda(f"{what} : ni corps structuré (structuredBody) ni nonXMLBody.")
    media_type = _attr(_first(body, "h:text"), "mediaType") if body is not None else None
    doc_ids = _ids(root, "h:id")
    set_ids = _ids(root, "h:setId")
    return CdaDocument(
        code=code,
        title=title,
        effective_time=_attr(_first(root, "h:effectiveTime"), "value"),
        confidentiality=tuple(confidentiality),
        patient=_patient(root),
        authors=_authors(root),
        document_id=doc_ids[0] if doc_ids else None,
        set_id=set_ids[0] if set_ids else None,
        version=_attr(_first(root, "h:versionNumber"), "value"),
        language=_attr(_first(root, "h:languageCode"), "code"),
        level=1 if body is not None else 3,
        embedded_media_type=media_type,
        template_ids=tuple(
            t for t in (_attr(e, "root") for e in root.findall("h:templateId", _NS)) if t
        ),
        facility_type=_code(
            _first(
                root, "h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility/h:code"
            )
        ),
        practice_setting=_code(
            _first(
                root,
                "h:documentationOf/h:serviceEvent/h:performer/h:assignedEntity"
                "/h:representedOrganization/h:standardIndustryClassCode",
            )
        ),
        warnings=tuple(warnings),
        root=root,
    )


def embedded_file(document: CdaDocument, *, max_bytes: int = 32 * 1024 * 1024) -> bytes | None:
    """The decoded file of a level-1 document (`nonXMLBody/text`, base64), or None for level 3."""
    if document.level != 1 or document.root is None:
        return None
    text = _first(document.root, "h:component/h:nonXMLBody/h:text")
    if text is None:
        return None
    payload = "".join(text.itertext())
    if (text.get("representation") or "TXT").upper() != "B64":
        return payload.encode()
    compact = "".join(payload.split())
    if len(compact) * 3 // 4 > max_bytes:
        raise InvalidCda("Document CDA : le fichier intégré dépasse la taille permise.")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidCda("Document CDA : le fichier intégré n'est pas du base64 valide.") from None
