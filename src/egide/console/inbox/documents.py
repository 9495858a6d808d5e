"""Health documents found in a received message: the patient panel and the readable CDA.

IHE_XDM.ZIP attachments are read tolerantly (what was wrong is listed, not fatal), bare CDA XML
attachments too. Narratives come out of `egide.messaging.narrative` already sanitised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from egide.messaging import mime
from egide.messaging.cda import CdaDocument, parse_cda
from egide.messaging.errors import MessagingError
from egide.messaging.identifiers import IDNATPS_OID, INS_OIDS
from egide.messaging.narrative import render_narrative
from egide.messaging.xdm_reader import read_xdm


@dataclass(frozen=True)
class ShownDocument:
    title: str
    code: str
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


def _shown(document: CdaDocument) -> ShownDocument:
    patient = document.patient
    return ShownDocument(
        title=document.title,
        code=document.code.code if document.code else "",
        date=document.effective_time,
        confidentiality=[code.code for code in document.confidentiality if code.code],
        patient_name=" ".join(part for part in (patient.family, patient.given) if part),
        birth_date=patient.birth_date,
        sex=patient.sex,
        patient_ids=[(_id_label(i.root), i.extension or "") for i in patient.ids if i.root],
        narrative_html=render_narrative(document),
        level=document.level,
    )


def find_documents(parsed: mime.ReceivedMessage) -> Findings:
    findings = Findings()
    for attachment in parsed.attachments:
        name = attachment.filename.lower()
        try:
            if name.endswith(".zip"):
                package = read_xdm(attachment.data)
                findings.warnings += package.warnings + package.errors
                findings.documents += [_shown(d.cda) for d in package.documents if d.cda]
            elif name.endswith(".xml"):
                findings.documents.append(_shown(parse_cda(attachment.data)))
        except MessagingError as error:
            findings.warnings.append(f"{attachment.filename} : {error}")
    return findings
