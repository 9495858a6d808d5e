"""Reading received IHE_XDM.ZIP packages tolerantly, and saying what was wrong.

Packages from the field break the profile in known ways: the subset folder is not `SUBSETnn`,
there is no `IHE_XDM/` folder or an extra top folder, paths use `\\`, the URI slot repeats the
folder or is missing, and METADATA.XML uses namespace prefixes it never declares. Each of these
is read anyway and reported as a warning. What cannot be read (no metadata at all, a listed
document missing from the archive) is an error; an attack (bomb, traversal, nesting) is refused
by `archive`.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass, field

from lxml import etree

from .archive import ArchiveLimits, ArchiveMember, read_archive
from .cda import CdaDocument, Code, cda_from_element
from .errors import InvalidArchive, UnreadableInput
from .xdm_metadata import DOCUMENT_ENTRY_TYPE, SCHEME, DocumentEntry
from .xmlreader import parse_xml

__all__ = ["XdmDocument", "XdmPackage", "parse_metadata", "read_xdm"]

_SCHEME_NAMES = {uuid: name for name, uuid in SCHEME.items()}


@dataclass(frozen=True)
class XdmDocument:
    """A document of the package: its metadata, its bytes and, for CDA, the parsed header."""

    entry: DocumentEntry
    path: str
    content: bytes
    cda: CdaDocument | None = None


@dataclass
class XdmPackage:
    """What a received package holds, with the defects tolerated and the problems found."""

    documents: list[XdmDocument] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    readme: str | None = None


def _local(element: etree._Element) -> str:
    """The local name, also for elements whose prefix was never declared (kept as `p:name`)."""
    tag = element.tag if isinstance(element.tag, str) else ""
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _children(element: etree._Element, name: str) -> list[etree._Element]:
    return [child for child in element if _local(child) == name]


def _slots(element: etree._Element) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for slot in _children(element, "Slot"):
        values = [
            (value.text or "").strip()
            for value_list in _children(slot, "ValueList")
            for value in _children(value_list, "Value")
        ]
        result.setdefault(slot.get("name") or "", []).extend(values)
    return result


def _one(slots: dict[str, list[str]], name: str) -> str | None:
    values = slots.get(name)
    return values[0] if values else None


def _name(element: etree._Element) -> str | None:
    for name in _children(element, "Name"):
        for string in _children(name, "LocalizedString"):
            if string.get("value"):
                return string.get("value")
    return None


def _entry(obj: etree._Element) -> DocumentEntry:
    slots = _slots(obj)
    eid = obj.get("id") or ""
    codes: dict[str, list[Code]] = {}
    authors: list[str] = []
    for classification in _children(obj, "Classification"):
        scheme = _SCHEME_NAMES.get(classification.get("classificationScheme") or "")
        if scheme == "author":
            authors.extend(_slots(classification).get("authorPerson", []))
        elif scheme:
            code = Code(
                classification.get("nodeRepresentation") or "",
                _one(_slots(classification), "codingScheme"),
                _name(classification),
            )
            codes.setdefault(scheme, []).append(code)
    externals = {
        _SCHEME_NAMES.get(e.get("identificationScheme") or ""): e.get("value")
        for e in _children(obj, "ExternalIdentifier")
    }
    size = _one(slots, "size")

    def one(scheme: str) -> Code | None:
        found = codes.get(scheme)
        return found[0] if found else None

    return DocumentEntry(
        entry_id=eid,
        uri=_one(slots, "URI"),
        mime_type=obj.get("mimeType"),
        hash=_one(slots, "hash"),
        size=int(size) if size and size.isascii() and size.isdigit() else None,
        patient_id=externals.get("patientId") or _one(slots, "sourcePatientId"),
        title=_name(obj),
        class_code=one("classCode"),
        type_code=one("typeCode"),
        format_code=one("formatCode"),
        confidentiality=tuple(codes.get("confidentialityCode", [])),
        facility_type=one("healthcareFacilityTypeCode"),
        practice_setting=one("practiceSettingCode"),
        author_persons=tuple(authors),
        creation_time=_one(slots, "creationTime"),
        language=_one(slots, "languageCode"),
        unique_id=externals.get("uniqueId"),
        source_patient_info=tuple(slots.get("sourcePatientInfo", [])),
    )


def parse_metadata(
    data: bytes, *, what: str = "METADATA.XML"
) -> tuple[list[DocumentEntry], list[str]]:
    """The DocumentEntries of a METADATA.XML, read tolerantly, and the warnings raised."""
    parsed = parse_xml(data, what=what, tolerant=True)
    warnings = list(parsed.warnings)
    if _local(parsed.root) != "SubmitObjectsRequest":
        warnings.append(
            f"{what} : racine « {_local(parsed.root)} » au lieu de SubmitObjectsRequest."
        )
    entries = []
    for element in parsed.root.iter():
        if _local(element) != "ExtrinsicObject":
            continue
        if element.get("objectType") not in (DOCUMENT_ENTRY_TYPE, None):
            continue
        entries.append(_entry(element))
    return entries, warnings


def _find_metadata(members: list[ArchiveMember], package: XdmPackage) -> list[ArchiveMember]:
    found = [m for m in members if posixpath.basename(m.path).upper() == "METADATA.XML"]
    for member in found:
        parts = member.path.split("/")
        folder = parts[-2] if len(parts) >= 2 else ""
        if not (folder.upper().startswith("SUBSET") and folder[6:].isdigit()):
            package.warnings.append(
                f"Dossier de lot « {folder or '(racine)'} » au lieu de SUBSETnn ; lu quand même."
            )
        if "IHE_XDM" not in [p.upper() for p in parts[:-2]]:
            package.warnings.append(f"« {member.path} » n'est pas sous IHE_XDM/ ; lu quand même.")
        elif parts[0].upper() != "IHE_XDM":
            package.warnings.append(f"« {member.path} » est sous un dossier supplémentaire.")
    return found


def _locate(
    entry: DocumentEntry, folder: str, files: dict[str, ArchiveMember], package: XdmPackage
) -> ArchiveMember | None:
    if entry.uri:
        uri = entry.uri.replace("\\", "/")
        direct = files.get(posixpath.join(folder, uri).lower())
        if direct is not None:
            return direct
        # Some senders put the subset folder (or more) in the URI: match on the file name.
        tail = posixpath.basename(uri).lower()
        matches = [
            m
            for p, m in files.items()
            if posixpath.basename(p) == tail and p.startswith(folder.lower())
        ]
        if len(matches) == 1:
            package.warnings.append(
                f"URI « {entry.uri} » de {entry.entry_id} ne suit pas la règle (nom relatif au "
                "dossier du lot) ; fichier retrouvé par son nom."
            )
            return matches[0]
        return None
    candidates = [
        m
        for p, m in files.items()
        if p.startswith(folder.lower() + "/")
        and posixpath.basename(p).upper() != "METADATA.XML"
        and posixpath.splitext(p)[1] in {".xml", ".pdf"}
    ]
    by_id = [
        m for m in candidates if posixpath.splitext(posixpath.basename(m.path))[0] == entry.entry_id
    ]
    chosen = by_id or candidates
    if len(chosen) == 1:
        package.warnings.append(
            f"{entry.entry_id} n'a pas de slot URI ; fichier « {chosen[0].path} » retenu."
        )
        return chosen[0]
    return None


def _check(entry: DocumentEntry, member: ArchiveMember, package: XdmPackage) -> None:
    if (
        entry.hash
        and hashlib.sha1(member.content, usedforsecurity=False).hexdigest() != entry.hash.lower()
    ):
        package.warnings.append(
            f"ATTENTION : l'empreinte SHA-1 de « {member.path} » ne correspond pas aux métadonnées "
            "(fichier modifié ou métadonnées fausses)."
        )
    if entry.size is not None and entry.size != len(member.content):
        package.warnings.append(
            f"Taille de « {member.path} » : {len(member.content)} octets, {entry.size} annoncés."
        )


def _cda(member: ArchiveMember, package: XdmPackage) -> CdaDocument | None:
    if not member.content.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return None
    try:
        parsed = parse_xml(member.content, what=member.path)
        return cda_from_element(parsed.root, what=member.path)
    except UnreadableInput as error:
        package.errors.append(str(error))
        return None


def read_xdm(data: bytes, limits: ArchiveLimits | None = None) -> XdmPackage:
    """Read an IHE_XDM.ZIP: documents, metadata, warnings and errors (never raises on defects).

    Raises InvalidArchive / UnsafeArchive when the ZIP itself is unreadable or hostile.
    """
    members, warnings = read_archive(data, limits)
    package = XdmPackage(warnings=warnings)
    files = {m.path.lower(): m for m in members}
    readme = next((m for m in members if posixpath.basename(m.path).upper() == "README.TXT"), None)
    if readme is not None:
        package.readme = readme.content.decode("utf-8", errors="replace")[:4000]
    else:
        package.warnings.append("README.TXT absent.")
    if not any(posixpath.basename(m.path).upper() == "INDEX.HTM" for m in members):
        package.warnings.append("INDEX.HTM absent.")
    metadata = _find_metadata(members, package)
    if not metadata:
        raise InvalidArchive("Ce ZIP n'est pas un paquet IHE XDM : aucun METADATA.XML.")
    for meta in metadata:
        entries, meta_warnings = parse_metadata(meta.content, what=meta.path)
        package.warnings.extend(meta_warnings)
        if not entries:
            package.errors.append(f"{meta.path} : aucune fiche de document (ExtrinsicObject).")
        folder = posixpath.dirname(meta.path)
        for entry in entries:
            member = _locate(entry, folder, files, package)
            if member is None:
                package.errors.append(
                    f"Le document {entry.entry_id} (URI « {entry.uri} ») est absent de l'archive."
                )
                continue
            _check(entry, member, package)
            package.documents.append(
                XdmDocument(entry, member.path, member.content, _cda(member, package))
            )
    return package
