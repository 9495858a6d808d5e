"""Opening a received item (e-mail, IHE_XDM.ZIP, CDA or HL7 v2) into displayable documents.

`open_item` recognises the item by its content, not its name, reads it with the matching parser
and returns the patient, every document with its bytes and parsed CDA header, the defects
tolerated (`warnings`) and what could not be read (`errors`). It never raises for bad input:
an item that cannot be read comes back with errors, so that the caller keeps it « à traiter »
instead of dropping it. `inspection` summarises the same walk for `egide mail inspect`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from .cda import CdaDocument, Code, InstanceId, Patient, embedded_file, parse_cda
from .errors import InvalidIdentifier, MessageTooLarge, UnreadableInput
from .hl7v2 import parse_hl7
from .identifiers import INS_OIDS, validate_ins
from .mime import DEFAULT_MAX_BYTES, ReceivedMessage, parse_message
from .rendition import render_html_page
from .xdm_reader import XdmDocument, XdmPackage, read_xdm

__all__ = ["ReceivedDocument", "ReceivedItem", "detect_kind", "open_item", "patient_from_cx"]


@dataclass(frozen=True)
class ReceivedDocument:
    """A document found in a received item, with what is needed to show it."""

    code: Code | None
    title: str | None
    mime_type: str | None
    content: bytes
    author_ids: tuple[InstanceId, ...] = ()
    uri: str | None = None
    hash: str | None = None  # as declared (XDM) or computed (SHA-1, the XDS convention)
    size: int | None = None
    confidentiality: tuple[Code, ...] = ()
    cda: CdaDocument | None = None

    def html(self) -> str | None:
        """The safe HTML page of a CDA document (header and narrative), else None."""
        return render_html_page(self.cda) if self.cda is not None else None

    def pdf(self) -> bytes | None:
        """The PDF to show: a level-1 CDA's embedded PDF, or the document itself if a PDF."""
        if self.cda is not None and self.cda.level == 1:
            embedded = embedded_file(self.cda)
            return embedded if embedded and embedded.startswith(b"%PDF-") else None
        return self.content if self.content.startswith(b"%PDF-") else None


@dataclass
class ReceivedItem:
    """What a received item holds; `understood` is False when errors were found."""

    kind: str
    patient: Patient | None = None
    documents: list[ReceivedDocument] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    message: ReceivedMessage | None = None

    @property
    def understood(self) -> bool:
        """True when the item was read (warnings allowed)."""
        return not self.errors


def detect_kind(data: bytes) -> str:
    """`xdm`, `hl7v2`, `cda`, `eml` or `unknown`, from the first bytes."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "xdm"
    if head.startswith(b"MSH"):
        return "hl7v2"
    if head.startswith(b"<") or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "cda"
    first = head.split(b"\n", 1)[0]
    name, colon, _ = first.partition(b":")
    if colon and name and all(33 <= c <= 126 for c in name):
        return "eml"
    return "unknown"


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def _from_cda(
    cda: CdaDocument, data: bytes, mime: str, extra: tuple[Code, ...] = ()
) -> ReceivedDocument:
    return ReceivedDocument(
        code=cda.code,
        title=cda.title,
        mime_type=mime,
        content=data,
        author_ids=tuple(i for a in cda.authors for i in a.ids),
        hash=_sha1(data),
        size=len(data),
        confidentiality=(*cda.confidentiality, *extra),
        cda=cda,
    )


def _xcn(value: str) -> InstanceId:
    """`id^NOM^Prénom^…^&OID&ISO^…` (XCN) as an InstanceId."""
    parts = value.split("^")
    authority = parts[8].split("&") if len(parts) > 8 else []
    return InstanceId(authority[1] if len(authority) > 1 else "", parts[0] or None)


def patient_from_cx(patient_id: str | None) -> Patient | None:
    """A Patient from an XDS patientId (CX `id^^^&OID&ISO^NH`), tolerating missing carets."""
    if not patient_id:
        return None
    parts = patient_id.split("^")
    authority = next((p.split("&") for p in parts[1:] if "&" in p), [])
    root = authority[1] if len(authority) > 1 else ""
    return Patient(ids=(InstanceId(root, parts[0] or None),))


def _from_entry(document: XdmDocument) -> ReceivedDocument:
    entry, cda = document.entry, document.cda
    authors = tuple(_xcn(a) for a in entry.author_persons)
    return ReceivedDocument(
        code=entry.type_code or (cda.code if cda else None),
        title=entry.title or (cda.title if cda else None),
        mime_type=entry.mime_type,
        content=document.content,
        author_ids=authors or (tuple(i for a in cda.authors for i in a.ids) if cda else ()),
        uri=entry.uri,
        hash=entry.hash,
        size=entry.size,
        confidentiality=entry.confidentiality,
        cda=cda,
    )


def _open_xdm(package: XdmPackage, item: ReceivedItem) -> None:
    item.warnings.extend(package.warnings)
    item.errors.extend(package.errors)
    for document in package.documents:
        item.documents.append(_from_entry(document))
        declared = patient_from_cx(document.entry.patient_id)
        if document.cda is not None:
            item.warnings.extend(document.cda.warnings)
            if declared and declared.ids[0] not in document.cda.patient.ids:
                item.warnings.append(
                    f"{document.path} : le patientId des métadonnées ne figure pas dans le CDA."
                )
        if item.patient is None:
            item.patient = document.cda.patient if document.cda else declared


def _open_cda(data: bytes, item: ReceivedItem) -> None:
    cda = parse_cda(data)
    item.patient = item.patient or cda.patient
    item.documents.append(_from_cda(cda, data, "text/xml"))
    item.warnings.extend(cda.warnings)


def _open_hl7(data: bytes, item: ReceivedItem) -> None:
    message = parse_hl7(data)
    item.patient = message.patient
    item.warnings.extend(message.warnings)
    item.errors.extend(message.errors)
    for document in message.documents:
        if document.cda is not None:
            item.documents.append(
                _from_cda(document.cda, document.content, document.mime_type, message.masking_codes)
            )
            continue
        item.documents.append(
            ReceivedDocument(
                code=document.code,
                title=document.code.display_name,
                mime_type=document.mime_type,
                content=document.content,
                author_ids=message.sender_ids,
                hash=_sha1(document.content),
                size=len(document.content),
                confidentiality=message.masking_codes,
            )
        )


def _check_mss_headers(headers: dict[str, str], item: ReceivedItem) -> None:
    """Compare X-MSS-* headers with what was received (Référentiel #2, ECO.2.4.x)."""
    if "X-MSS-NIL" not in headers:
        item.warnings.append("En-tête X-MSS-NIL absent (obligatoire sur tout message MSSanté).")
    announced = headers.get("X-MSS-CODECDA")
    received = sorted(d.code.code for d in item.documents if d.code)
    if announced is not None and sorted(c.strip() for c in announced.split(",")) != received:
        item.warnings.append(
            f"X-MSS-CODECDA annonce « {announced} » mais les documents reçus sont "
            f"« {', '.join(received) or 'aucun'} »."
        )


def _open_eml(data: bytes, item: ReceivedItem, max_bytes: int) -> None:
    message = parse_message(data, max_bytes=max_bytes)
    item.message = message
    item.warnings.extend(message.warnings)
    for attachment in message.attachments:
        label = f"Pièce jointe « {attachment.filename} »"
        kind = detect_kind(attachment.data)
        try:
            if kind == "xdm":
                _open_xdm(read_xdm(attachment.data), item)
            elif attachment.filename.lower().endswith(".zip"):
                item.errors.append(f"{label} : ce n'est pas une archive ZIP lisible.")
            elif kind == "cda" and attachment.content_type in {"text/xml", "application/xml"}:
                _open_cda(attachment.data, item)
        except UnreadableInput as error:
            item.errors.append(f"{label} : {error}")
    _check_mss_headers(message.headers, item)


def _check_ins(item: ReceivedItem) -> None:
    """Warn about an INS whose key is wrong: the identity must not be trusted for filing."""
    for ident in item.patient.ids if item.patient else ():
        if ident.root in INS_OIDS and ident.extension:
            try:
                validate_ins(ident.extension, ident.root)
            except InvalidIdentifier as error:
                item.warnings.append(f"{error} Identité à vérifier avant tout rapprochement.")


def open_item(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ReceivedItem:
    """Read a received item; never raises for bad input (see `ReceivedItem.errors`)."""
    item = ReceivedItem(kind=detect_kind(data))
    try:
        if item.kind == "xdm":
            _open_xdm(read_xdm(data), item)
        elif item.kind == "hl7v2":
            _open_hl7(data, item)
        elif item.kind == "cda":
            _open_cda(data, item)
        elif item.kind == "eml":
            _open_eml(data, item, max_bytes)
        else:
            item.errors.append(
                "Format non reconnu : ni courriel, ni IHE_XDM.ZIP, ni CDA, ni message HL7 v2."
            )
    except (UnreadableInput, MessageTooLarge) as error:
        item.errors.append(str(error))
    _check_ins(item)
    return item
