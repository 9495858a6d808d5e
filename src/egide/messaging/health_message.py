"""A mail carrying health documents, as an MSSanté client sends it.

From CDA documents: the IHE_XDM.ZIP, a PDF copy of each CDA, the MSSanté subject and X-MSS-*
headers, RFC 5322 threading. Before anything is composed, every document's confidentiality codes
are checked against every recipient, with the sender's destination flags (DESTMSSANTEPS,
DESTMSSANTEPAT); one forbidden pair blocks the whole send with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .cda import Code
from .confidentiality import RecipientKind, check_destination, check_sending
from .mime import DEFAULT_MAX_BYTES, Attachment, Draft, compose_message
from .mssante import mss_headers, pdf_copy_name, xdm_subject
from .rendition import render_pdf
from .xdm import build_xdm

__all__ = ["HealthMail", "compose_health_message"]

XDM_FILENAME = "IHE_XDM.ZIP"


@dataclass(frozen=True)
class HealthMail:
    """What to send: who, to whom, the text and the CDA documents (raw bytes)."""

    sender: str
    recipients: tuple[str, ...]
    body: str
    cda_files: tuple[bytes, ...]
    nil: str  # the software's X-MSS-NIL reference
    source_id: str  # the sending system's OID (SubmissionSet.sourceId)
    label: str | None = None  # the subject's « libellé »; the document type by default
    masking: tuple[Code, ...] = ()  # MASQUE_PS… chosen by the author for these documents
    # MetaDMPMSS destination flags from the practice software (DESTMSSANTEPS, DESTMSSANTEPAT);
    # a flag set to False closes that audience, an absent one says nothing.
    destinations: Mapping[str, bool] = field(default_factory=dict)
    recipient_kinds: Mapping[str, RecipientKind] = field(default_factory=dict)
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


def compose_health_message(
    mail: HealthMail, *, domain: str, max_bytes: int = DEFAULT_MAX_BYTES
) -> bytes:
    """The message bytes; raises SendingForbidden, InvalidCda or MessageTooLarge with a reason."""
    package = build_xdm(
        list(mail.cda_files),
        source_id=mail.source_id,
        sender=mail.sender,
        extra_confidentiality=mail.masking,
    )
    for entry in package.entries:
        for address in mail.recipients:
            check_destination(
                mail.destinations,
                address,
                kind=mail.recipient_kinds.get(address),
                title=entry.title or "Le document",
            )
            check_sending(
                entry.confidentiality,
                address,
                kind=mail.recipient_kinds.get(address),
                title=entry.title or "Le document",
            )
    attachments = [Attachment(XDM_FILENAME, "application/zip", package.data)]
    attachments += [
        Attachment(pdf_copy_name(document), "application/pdf", render_pdf(document))
        for document in package.documents
    ]
    draft = Draft(
        sender=mail.sender,
        recipients=mail.recipients,
        subject=xdm_subject(package.documents[0], mail.label),
        body=mail.body,
        attachments=tuple(attachments),
        in_reply_to=mail.in_reply_to,
        references=mail.references,
        headers=mss_headers(package.documents, mail.nil),
    )
    return compose_message(draft, domain=domain, max_bytes=max_bytes)
