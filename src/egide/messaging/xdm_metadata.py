"""XDS metadata (ebRS 3.0 SubmitObjectsRequest) for IHE XDM: the DocumentEntry model, building it
from a CDA header, writing METADATA.XML and reading it back tolerantly.

Format constants are the IHE ITI TF-3 §4.2 classification schemes; the French codings
(INS as `<matricule>^^^&<OID>&ISO^NH`, idNatPS authors, ANS code systems) follow the CI-SIS
annex « Lien entre l'en-tête CDA et les métadonnées XDS » and the ANS DRIM-M sample.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree

from . import xds_codes
from .cda import CdaDocument, Code
from .identifiers import IDNATPS_OID, INS_OIDS

__all__ = [
    "CONFIDENTIALITY_MSS_SYSTEM",
    "DocumentEntry",
    "SubmissionSet",
    "entry_from_cda",
    "metadata_xml",
]

LCM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RIM_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RS_NS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"

DOCUMENT_ENTRY_TYPE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
SCHEME = {
    "author": "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d",
    "classCode": "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a",
    "confidentialityCode": "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f",
    "formatCode": "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d",
    "healthcareFacilityTypeCode": "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1",
    "practiceSettingCode": "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead",
    "typeCode": "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983",
    "patientId": "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427",
    "uniqueId": "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab",
    "ss.author": "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d",
    "ss.contentTypeCode": "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500",
    "ss.patientId": "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",
    "ss.sourceId": "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832",
    "ss.uniqueId": "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8",
}
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"

# Masking codes of the DMP/MSS; classCode and formatCode come from the ANS tables (`xds_codes`).
CONFIDENTIALITY_MSS_SYSTEM = "1.2.250.1.213.1.1.4.13"
CONTENT_TYPE_SYSTEM = "1.2.250.1.213.2.2"


@dataclass(frozen=True)
class DocumentEntry:
    """An XDS DocumentEntry as it travels in METADATA.XML."""

    entry_id: str
    uri: str | None
    mime_type: str | None
    hash: str | None
    size: int | None
    patient_id: str | None
    title: str | None = None
    class_code: Code | None = None
    type_code: Code | None = None
    format_code: Code | None = None
    confidentiality: tuple[Code, ...] = ()
    facility_type: Code | None = None
    practice_setting: Code | None = None
    author_persons: tuple[str, ...] = ()
    creation_time: str | None = None
    language: str | None = None
    unique_id: str | None = None
    source_patient_info: tuple[str, ...] = ()


@dataclass(frozen=True)
class SubmissionSet:
    """The SubmissionSet (RegistryPackage) wrapping the documents of one XDM subset."""

    source_id: str  # the sending system's OID
    patient_id: str | None
    content_type: Code = field(
        default_factory=lambda: Code("04", CONTENT_TYPE_SYSTEM, "Hospitalisation")
    )
    author_persons: tuple[str, ...] = ()
    unique_id: str = field(default_factory=lambda: f"2.25.{uuid.uuid4().int}")
    submission_time: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y%m%d%H%M%S"))
    title: str | None = None


def xds_time(value: str | None) -> str | None:
    """An HL7 TS with zone (`20210503114500+0100`) as the UTC `YYYYMMDDhhmmss` XDS wants."""
    if not value:
        return None
    digits = value.split("+")[0].split("-")[0].split(".")[0]
    zone = value[len(value) - 5 :] if len(value) > 5 and value[-5] in "+-" else None
    if zone is None or len(digits) < 12:
        return digits
    try:
        moment = datetime.strptime(digits[:14].ljust(14, "0") + zone, "%Y%m%d%H%M%S%z")
    except ValueError:
        return digits
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def patient_xds_id(document: CdaDocument) -> str | None:
    """The document's INS as XDS patientId, or its first identifier when it has no INS."""
    ins = [i for i in document.patient.ids if i.root in INS_OIDS and i.extension]
    chosen = ins[0] if ins else (document.patient.ids[0] if document.patient.ids else None)
    if chosen is None or not chosen.extension:
        return None
    return f"{chosen.extension}^^^&{chosen.root}&ISO^{'NH' if ins else 'PI'}"


def _author_xcn(document: CdaDocument) -> tuple[str, ...]:
    result = []
    for author in document.authors:
        national = [i for i in author.ids if i.extension]
        if not national:
            continue
        ident = national[0]
        kind = "IDNPS" if ident.root == IDNATPS_OID else "EI"
        family, given = author.family or "", author.given or ""
        result.append(f"{ident.extension}^{family}^{given}^^^^^^&{ident.root}&ISO^D^^^{kind}")
    return tuple(result)


def entry_from_cda(
    document: CdaDocument,
    content: bytes,
    *,
    uri: str,
    entry_id: str = "Document01",
    class_code: Code | None = None,
    extra_confidentiality: tuple[Code, ...] = (),
) -> DocumentEntry:
    """The DocumentEntry of a CDA file, its metadata taken from the CDA header; classCode and
    formatCode from the ANS tables (`xds_codes`) unless `class_code` is given."""
    patient = document.patient
    info = []
    if patient.family or patient.given:
        info.append(f"PID-5|{patient.family or ''}^{patient.given or ''}^^^^^L")
    if patient.birth_date:
        info.append(f"PID-7|{patient.birth_date.replace('-', '')}")
    if patient.sex:
        info.append(f"PID-8|{patient.sex}")
    unique = document.document_id
    return DocumentEntry(
        entry_id=entry_id,
        uri=uri,
        mime_type="text/xml",
        hash=hashlib.sha1(content, usedforsecurity=False).hexdigest(),  # XDS fixes SHA-1
        size=len(content),
        patient_id=patient_xds_id(document),
        title=document.title,
        class_code=class_code or xds_codes.class_code(document),
        type_code=document.code,
        format_code=xds_codes.format_code(document),
        confidentiality=document.confidentiality + extra_confidentiality,
        facility_type=document.facility_type,
        practice_setting=document.practice_setting,
        author_persons=_author_xcn(document),
        creation_time=xds_time(document.effective_time),
        language=document.language,
        unique_id=(
            f"{unique.root}^{unique.extension}"
            if unique and unique.extension
            else (unique.root if unique else None)
        ),
        source_patient_info=tuple(info),
    )


def _rim(parent: etree._Element, name: str, /, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{RIM_NS}}}{name}", attrs)


def _slot(parent: etree._Element, name: str, *values: str | None) -> None:
    kept = [v for v in values if v]
    if not kept:
        return
    slot = _rim(parent, "Slot", name=name)
    value_list = _rim(slot, "ValueList")
    for value in kept:
        _rim(value_list, "Value").text = value


def _name(parent: etree._Element, text: str | None) -> None:
    if text:
        _rim(_rim(parent, "Name"), "LocalizedString", value=text)


_LABELS = {
    "patientId": "XDSDocumentEntry.patientId",
    "uniqueId": "XDSDocumentEntry.uniqueId",
    "ss.uniqueId": "XDSSubmissionSet.uniqueId",
    "ss.sourceId": "XDSSubmissionSet.sourceId",
    "ss.patientId": "XDSSubmissionSet.patientId",
}
SUBMISSION_SET_ID = "SubmissionSet01"


class _Writer:
    """Appends ebRS objects, numbering Classification (`clNN`), ExternalIdentifier (`eiNN`)
    and Association (`asNN`) ids in document order, as the IHE examples do."""

    def __init__(self, objects: etree._Element) -> None:
        self.objects = objects
        self.count = 0

    def ident(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count:02d}"

    def classify(self, parent: etree._Element, owner: str, scheme: str, code: Code) -> None:
        node = _rim(
            parent, "Classification", classificationScheme=SCHEME[scheme],
            classifiedObject=owner, nodeRepresentation=code.code, id=self.ident("cl"),
        )  # fmt: skip
        _slot(node, "codingScheme", code.code_system)
        _name(node, code.display_name or code.code)

    def author(self, parent: etree._Element, owner: str, scheme: str, person: str) -> None:
        node = _rim(
            parent, "Classification", classificationScheme=SCHEME[scheme],
            classifiedObject=owner, nodeRepresentation="", id=self.ident("cl"),
        )  # fmt: skip
        _slot(node, "authorPerson", person)

    def external(self, parent: etree._Element, owner: str, scheme: str, value: str | None) -> None:
        if not value:
            return
        node = _rim(
            parent, "ExternalIdentifier", registryObject=owner,
            identificationScheme=SCHEME[scheme], value=value, id=self.ident("ei"),
        )  # fmt: skip
        _name(node, _LABELS[scheme])

    def entry(self, entry: DocumentEntry) -> None:
        eid = entry.entry_id
        obj = _rim(
            self.objects, "ExtrinsicObject", id=eid, mimeType=entry.mime_type or "text/xml",
            objectType=DOCUMENT_ENTRY_TYPE,
        )  # fmt: skip
        _slot(obj, "creationTime", entry.creation_time)
        _slot(obj, "languageCode", entry.language)
        _slot(obj, "sourcePatientId", entry.patient_id)
        _slot(obj, "sourcePatientInfo", *entry.source_patient_info)
        _slot(obj, "hash", entry.hash)
        _slot(obj, "size", str(entry.size) if entry.size is not None else None)
        _slot(obj, "URI", entry.uri)
        _name(obj, entry.title)
        for person in entry.author_persons:
            self.author(obj, eid, "author", person)
        for scheme, code in (
            ("classCode", entry.class_code),
            ("typeCode", entry.type_code),
            ("formatCode", entry.format_code),
            ("healthcareFacilityTypeCode", entry.facility_type),
            ("practiceSettingCode", entry.practice_setting),
            *(("confidentialityCode", c) for c in entry.confidentiality),
        ):
            if code is not None:
                self.classify(obj, eid, scheme, code)
        self.external(obj, eid, "patientId", entry.patient_id)
        self.external(obj, eid, "uniqueId", entry.unique_id)

    def submission(self, submission: SubmissionSet) -> None:
        owner = SUBMISSION_SET_ID
        package = _rim(self.objects, "RegistryPackage", id=owner)
        _slot(package, "submissionTime", submission.submission_time)
        _name(package, submission.title)
        for person in submission.author_persons:
            self.author(package, owner, "ss.author", person)
        self.classify(package, owner, "ss.contentTypeCode", submission.content_type)
        self.external(package, owner, "ss.uniqueId", submission.unique_id)
        self.external(package, owner, "ss.sourceId", submission.source_id)
        self.external(package, owner, "ss.patientId", submission.patient_id)
        _rim(
            self.objects, "Classification", classifiedObject=owner,
            classificationNode=SUBMISSION_SET_NODE, id=self.ident("cl"),
        )  # fmt: skip

    def membership(self, entry: DocumentEntry) -> None:
        association = _rim(
            self.objects, "Association", associationType=HAS_MEMBER,
            sourceObject=SUBMISSION_SET_ID, targetObject=entry.entry_id, id=self.ident("as"),
        )  # fmt: skip
        _slot(association, "SubmissionSetStatus", "Original")


def metadata_xml(submission: SubmissionSet, entries: list[DocumentEntry]) -> bytes:
    """METADATA.XML: an lcm:SubmitObjectsRequest with one DocumentEntry per file."""
    nsmap = {"lcm": LCM_NS, "rim": RIM_NS, "rs": RS_NS}
    root = etree.Element(f"{{{LCM_NS}}}SubmitObjectsRequest", nsmap=nsmap)
    writer = _Writer(_rim(root, "RegistryObjectList"))
    for entry in entries:
        writer.entry(entry)
    writer.submission(submission)
    for entry in entries:
        writer.membership(entry)
    return etree.tostring(
        root, xml_declaration=True, encoding="UTF-8", standalone=True, pretty_print=True
    )
