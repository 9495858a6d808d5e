"""The JSON description `egide mail inspect` prints, summarised from `received.open_item`.

Shape: `kind`; `patient` (`ids`: list of `{root, extension}`, `family`, `given`, `birth_date`,
`sex`); `documents` (each: `code`, `code_system`, `title`, `author_ids`, `mime_type`, `uri`,
`hash`, `size`, `confidentiality`); `warnings`; `errors`; and, for e-mails only, `message`
(routing and threading headers, X-MSS-* headers, attachment names).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .cda import InstanceId, Patient
from .mime import DEFAULT_MAX_BYTES, ReceivedMessage
from .received import ReceivedDocument, detect_kind, open_item

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


def _ids(ids: tuple[InstanceId, ...]) -> list[dict[str, str | None]]:
    return [{"root": i.root or None, "extension": i.extension} for i in ids]


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


def _document(document: ReceivedDocument) -> DocumentSummary:
    return DocumentSummary(
        code=document.code.code if document.code else None,
        code_system=document.code.code_system if document.code else None,
        title=document.title,
        author_ids=_ids(document.author_ids),
        mime_type=document.mime_type,
        uri=document.uri,
        hash=document.hash,
        size=document.size,
        confidentiality=[c.code for c in document.confidentiality],
    )


def _message(message: ReceivedMessage) -> dict[str, Any]:
    return {
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


def inspect_bytes(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Inspection:
    """Describe a received item; never raises for bad input (see `Inspection.errors`)."""
    item = open_item(data, max_bytes=max_bytes)
    return Inspection(
        kind=item.kind,
        patient=_patient(item.patient),
        documents=[_document(d) for d in item.documents],
        warnings=item.warnings,
        errors=item.errors,
        message=_message(item.message) if item.message else None,
    )
