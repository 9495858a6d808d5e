"""Health documents found in a received message: the patient panel and the readable CDA.

The walk itself (e-mail → IHE_XDM.ZIP / CDA / HL7 v2 → documents, tolerant, never raising) is
`egide.messaging.received.open_item`; this module only shapes its result for the template.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from egide.messaging.cda import Patient
from egide.messaging.identifiers import IDNATPS_OID, INS_OIDS
from egide.messaging.narrative import render_narrative
from egide.messaging.received import ReceivedDocument, open_item


@dataclass(frozen=True)
class ShownDocument:
    title: str
    date: str | None
    confidentiality: list[str]
    patient_name: str
    birth_date: str | None
    sex: str | None
    patient_ids: list[tuple[str, str]]  # (label, value)
    narrative_html: str
    level: int


@dataclass
class Findings:
    documents: list[ShownDocument] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _id_label(root: str) -> str:
    if root in INS_OIDS:
        return INS_OIDS[root]
    return "idNatPS" if root == IDNATPS_OID else f"Identifiant ({root})"


def _shown(document: ReceivedDocument, patient: Patient | None) -> ShownDocument:
    cda = document.cda
    patient = (cda.patient if cda else None) or patient or Patient()
    return ShownDocument(
        title=document.title or (cda.title if cda else "") or "Document",
        date=cda.effective_time if cda else None,
        confidentiality=[code.code for code in document.confidentiality if code.code],
        patient_name=" ".join(part for part in (patient.family, patient.given) if part),
        birth_date=patient.birth_date,
        sex=patient.sex,
        patient_ids=[(_id_label(i.root), i.extension or "") for i in patient.ids if i.root],
        narrative_html=render_narrative(cda) if cda else "",
        level=cda.level if cda else 0,
    )


def find_documents(plain_message: bytes, max_bytes: int) -> Findings:
    """The health documents of a decrypted message, with what was tolerated or unreadable."""
    item = open_item(plain_message, max_bytes=max_bytes)
    return Findings(
        documents=[_shown(document, item.patient) for document in item.documents if document.cda],
        warnings=item.warnings + item.errors,
    )
