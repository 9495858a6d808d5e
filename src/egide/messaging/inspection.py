"""One description for any received item: an e-mail, an IHE_XDM.ZIP, a CDA or an HL7 v2 file.

`inspect_bytes` recognises the item by its content (not its name), reads it with the matching
parser and returns an `Inspection`: the patient, the documents, the defects tolerated
(`warnings`) and what could not be read (`errors`). It never raises for bad input: an item that
cannot be read comes back with errors, so that the caller keeps it « à traiter ».
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from .cda import CdaDocument, Code, InstanceId, Patient, parse_cda
from .errors import InvalidIdentifier, MessageTooLarge, UnreadableInput
from .hl7v2 import parse_hl7
from .identifiers import INS_OIDS, validate_ins
from .mime import DEFAULT_MAX_BYTES, parse_message
from .xdm_metadata import DocumentEntry
from .xdm_reader import XdmPackage, read_xdm

__all__ = ["DocumentSummary", "Inspection", "detect_kind", "inspect_bytes"]


@dataclass
class DocumentSummary:
    """One document as `egide mail inspect` reports it."""

    code: str | None
    code_system: str | None
    title: str | None
    author_ids: list[dict[str, str | None]]
    mime_type: str | None
    uri: str | None
    hash: str | None
    size: int | None
    confidentiality: list[str]


@dataclass
class Inspection:
    """The description of an item; `understood` is False when errors were found."""

    kind: str
    patient: dict[str, Any] | None = None
    documents: list[DocumentSummary] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    message: dict[str, Any] | None = None

    @property
    def understood(self) -> bool:
        """True when the item was read (warnings allowed)."""
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the `message` key only for e-mails)."""
        data = asdict(self)
        if data["message"] is None:
            del data["message"]
        return data


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


def _ids(ids: tuple[InstanceId, ...]) -> list[dict[str, str | None]]:
    return [{"root": i.root, "extension": i.extension} for i in ids]


def _patient(patient: Patient | None) -> dict[str, Any] | None:
    if patient is None:
        return None
    return {
        "ids": _ids(patient.ids),
        "family": patient.family,
        "given": patient.given,
        "birth_date": patient.birth_date,
        "sex": patient.sex,
    }


def _cda_summary(
    cda: CdaDocument, data: bytes, *, mime: str = "text/xml", uri: str | None = None,
    extra: tuple[Code, ...] = (),
) -> DocumentSummary:  # fmt: skip
    return DocumentSummary(
        code=cda.code.code,
        code_system=cda.code.code_system,
        title=cda.title,
        author_ids=[i for a in cda.authors for i in _ids(a.ids)],
        mime_type=mime,
        uri=uri,
        hash=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        size=len(data),
        confidentiality=[c.code for c in (*cda.confidentiality, *extra)],
    )


def _xcn(value: str) -> dict[str, str | None]:
    """`id^NOM^Prénom^…^&OID&ISO^…` (XCN) as {root, extension}."""
    parts = value.split("^")
    authority = parts[8].split("&") if len(parts) > 8 else []
    root = authority[1] if len(authority) > 1 else None
    return {"root": root, "extension": parts[0] or None}


def _patient_from_id(patient_id: str | None) -> dict[str, Any] | None:
    if not patient_id:
        return None
    parts = patient_id.split("^")
    # CX: id^check^scheme^&OID&ISO^type; some senders drop a caret, so look for the authority.
    authority = next((p.split("&") for p in parts[1:] if "&" in p), [])
    extension = parts[0]
    root = authority[1] if len(authority) > 1 else None
    return {"ids": [{"root": root, "extension": extension}], "family": None, "given": None,
            "birth_date": None, "sex": None}  # fmt: skip


def _entry_summary(entry: DocumentEntry, cda: CdaDocument | None) -> DocumentSummary:
    return DocumentSummary(
        code=entry.type_code.code if entry.type_code else (cda.code.code if cda else None),
        code_system=entry.type_code.code_system if entry.type_code else None,
        title=entry.title or (cda.title if cda else None),
        author_ids=[_xcn(a) for a in entry.author_persons]
        or ([i for a in cda.authors for i in _ids(a.ids)] if cda else []),
        mime_type=entry.mime_type,
        uri=entry.uri,
        hash=entry.hash,
        size=entry.size,
        confidentiality=[c.code for c in entry.confidentiality],
    )


def _from_xdm(package: XdmPackage, result: Inspection) -> None:
    result.warnings.extend(package.warnings)
    result.errors.extend(package.errors)
    for document in package.documents:
        result.documents.append(_entry_summary(document.entry, document.cda))
        if document.cda is not None:
            result.warnings.extend(document.cda.warnings)
            cda_ids = {(i.root, i.extension) for i in document.cda.patient.ids}
            meta = _patient_from_id(document.entry.patient_id)
            if meta and (meta["ids"][0]["root"], meta["ids"][0]["extension"]) not in cda_ids:
                result.warnings.append(
                    f"{document.path} : le patientId des métadonnées ne figure pas dans le CDA."
                )
        if result.patient is None:
            result.patient = (
                _patient(document.cda.patient) if document.cda
                else _patient_from_id(document.entry.patient_id)
            )  # fmt: skip


def _inspect_cda(data: bytes, result: Inspection) -> None:
    cda = parse_cda(data)
    result.patient = _patient(cda.patient)
    result.documents.append(_cda_summary(cda, data))
    result.warnings.extend(cda.warnings)


def _inspect_hl7(data: bytes, result: Inspection) -> None:
    message = parse_hl7(data)
    result.patient = _patient(message.patient)
    result.warnings.extend(message.warnings)
    result.errors.extend(message.errors)
    for document in message.documents:
        if document.cda is not None:
            summary = _cda_summary(
                document.cda, document.content, mime=document.mime_type, extra=message.masking_codes
            )
        else:
            summary = DocumentSummary(
                code=document.code.code,
                code_system=document.code.code_system,
                title=document.code.display_name,
                author_ids=_ids(message.sender_ids),
                mime_type=document.mime_type,
                uri=None,
                hash=hashlib.sha1(document.content, usedforsecurity=False).hexdigest(),
                size=len(document.content),
                confidentiality=[c.code for c in message.masking_codes],
            )
        result.documents.append(summary)


def _inspect_eml(data: bytes, result: Inspection, max_bytes: int) -> None:
    message = parse_message(data, max_bytes=max_bytes)
    result.warnings.extend(message.warnings)
    result.message = {
        "subject": message.subject,
        "from": message.sender,
        "to": list(message.recipients),
        "date": message.date,
        "message_id": message.message_id,
        "in_reply_to": message.in_reply_to,
        "references": list(message.references),
        "headers": message.headers,
        "attachments": [a.filename for a in message.attachments],
    }
    if "X-MSS-NIL" not in message.headers:
        result.warnings.append("En-tête X-MSS-NIL absent (obligatoire sur tout message MSSanté).")
    for attachment in message.attachments:
        kind = detect_kind(attachment.data)
        label = f"Pièce jointe « {attachment.filename} »"
        try:
            if kind == "xdm":
                _from_xdm(read_xdm(attachment.data), result)
            elif attachment.filename.lower().endswith(".zip"):
                result.errors.append(f"{label} : ce n'est pas une archive ZIP lisible.")
            elif kind == "cda" and attachment.content_type in {"text/xml", "application/xml"}:
                _inspect_cda(attachment.data, result)
        except UnreadableInput as error:
            result.errors.append(f"{label} : {error}")
    _check_mss_headers(message.headers, result)


def inspect_bytes(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Inspection:
    """Describe a received item; never raises for bad input (see `Inspection.errors`)."""
    kind = detect_kind(data)
    result = Inspection(kind=kind)
    try:
        if kind == "xdm":
            _from_xdm(read_xdm(data), result)
        elif kind == "hl7v2":
            _inspect_hl7(data, result)
        elif kind == "cda":
            _inspect_cda(data, result)
        elif kind == "eml":
            _inspect_eml(data, result, max_bytes)
        else:
            result.errors.append(
                "Format non reconnu : ni courriel, ni IHE_XDM.ZIP, ni CDA, ni message HL7 v2."
            )
    except (UnreadableInput, MessageTooLarge) as error:
        result.errors.append(str(error))
    _check_ins(result)
    return result


def _check_ins(result: Inspection) -> None:
    """Warn about an INS whose key is wrong: the identity must not be trusted for filing."""
    for ident in (result.patient or {}).get("ids", []):
        if ident["root"] in INS_OIDS and ident["extension"]:
            try:
                validate_ins(ident["extension"], ident["root"])
            except InvalidIdentifier as error:
                result.warnings.append(f"{error} Identité à vérifier avant tout rapprochement.")


def _check_mss_headers(headers: dict[str, str], result: Inspection) -> None:
    """Compare the X-MSS-CODECDA header with the documents actually received (ECO.2.4.1)."""
    announced = headers.get("X-MSS-CODECDA")
    received = sorted(d.code for d in result.documents if d.code)
    if announced is not None and sorted(c.strip() for c in announced.split(",")) != received:
        result.warnings.append(
            f"X-MSS-CODECDA annonce « {announced} » mais les documents reçus sont "
            f"« {', '.join(received) or 'aucun'} »."
        )
