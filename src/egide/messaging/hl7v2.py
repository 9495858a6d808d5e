"""HL7 v2 messages that carry CDA documents (ANS volets TRANS_DOC_CDA_HL7V2, Trans LPS CDA MSSanté).

ORU^R01 and MDM^T02/T10/T11 messages put the CDA in an OBX of type ED (OBX-5 =
`^TEXT^XML^Base64^<data>` or the escaped XML itself) and the MSSanté/DMP restrictions in OBX
coded `MASQUE_PS`, `INVISIBLE_PATIENT`… (table « MetaDMPMSS ») with a Y/N value; the patient is in
PID, the sender and recipients in PRT. Parsing of segments, encoding characters and escape
sequences is the `hl7` package's (python-hl7: small, typed containers, tolerant, parses every
ANS example); `hl7apy` validates against message profiles, which a receiver that must read
imperfect messages from the field does not want. We only walk its containers.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field
from typing import Any

import hl7
import hl7.containers
import hl7.util

from .cda import CdaDocument, Code, InstanceId, Patient, cda_from_element, iso_date
from .confidentiality import Refusal, split_recipients
from .errors import InvalidHl7Message, UnreadableInput
from .xdm_metadata import CONFIDENTIALITY_MSS_SYSTEM
from .xmlreader import parse_xml

__all__ = ["MAX_HL7_BYTES", "Hl7Document", "Hl7Message", "parse_hl7"]

# python-hl7 logs escape-sequence errors with tracebacks, on loggers named after its module files;
# with no handler configured they would reach stderr through logging's last resort. The engine
# prints nothing: a NullHandler leaves the decision to the application's logging configuration.
for _module in (hl7.util, hl7.containers):
    logging.getLogger(_module.__file__).addHandler(logging.NullHandler())

MAX_HL7_BYTES = 64 * 1024 * 1024
LOINC = "2.16.840.1.113883.6.1"
# Codes of the « MetaDMPMSS » table, with the spellings seen in the ANS examples.
META_CODES = {
    "MASQUE_PS",
    "INVISIBLE_PATIENT",
    "INVISIBLE_REP_LEGAUX",
    "INVISIBLE_REPRESENTANTS_LEGAUX",
    "CONNEXION_SECRETE",
    "MODIF_CONF_CODE",
    "MODIF_CONFIDENTIALITYCODE",
    "DESTDMP",
    "DESTMSSANTEPS",
    "DESTMSSANTEPAT",
    "ACK_RECEPTION",
    "ACK_LECTURE_MSS",
    "CORPSMAIL_PS",
    "CORPSMAIL_PATIENT",
}
# The restrictions that become confidentiality codes of the document when set to Y.
_MIME_TYPES = {"XML": "text/xml", "PDF": "application/pdf", "RTF": "text/rtf", "HTML": "text/html"}
_MASKING = {
    "MASQUE_PS": "MASQUE_PS",
    "INVISIBLE_PATIENT": "INVISIBLE_PATIENT",
    "INVISIBLE_REP_LEGAUX": "INVISIBLE_REP_LEGAUX",
    "INVISIBLE_REPRESENTANTS_LEGAUX": "INVISIBLE_REP_LEGAUX",
}


@dataclass(frozen=True)
class Hl7Document:
    """A document carried in an OBX of type ED."""

    code: Code
    mime_type: str
    content: bytes
    cda: CdaDocument | None = None


@dataclass
class Hl7Message:
    """What an HL7 v2 message says: type, patient, documents, restrictions, recipients."""

    message_type: str
    version: str
    patient: Patient | None = None
    documents: list[Hl7Document] = field(default_factory=list)
    flags: dict[str, bool] = field(default_factory=dict)
    sender_ids: tuple[InstanceId, ...] = ()
    recipients: tuple[str, ...] = ()
    bodies: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def mss_recipients(self) -> tuple[list[str], list[Refusal]]:
        """The PRT recipients (RCT) an MSSanté copy may go to, and those it must not, with the
        reason: `DESTMSSANTEPS` / `DESTMSSANTEPAT` set to N, or a masking code (MASQUE_PS…)
        that forbids the recipient (`confidentiality.split_recipients`)."""
        return split_recipients(self.recipients, self.masking_codes, self.flags)

    @property
    def masking_codes(self) -> tuple[Code, ...]:
        """Restrictions set to Y, as confidentiality codes (MASQUE_PS, INVISIBLE_PATIENT…)."""
        return tuple(
            Code(_MASKING[name], CONFIDENTIALITY_MSS_SYSTEM, name)
            for name, value in self.flags.items()
            if value and name in _MASKING
        )


def _at(node: Any, *path: int) -> str:
    """The value at 1-based (repetition, component, sub-component) positions, or ''."""
    for index in path:
        if isinstance(node, str):
            return node if index == 1 else ""
        try:
            node = node(index)
        except (IndexError, KeyError, TypeError):
            return ""
    return str(node)


def _repetitions(segment: Any, number: int) -> list[Any]:
    try:
        value = segment[number]
    except IndexError:
        return []
    # A field without repetition separators is a list of components, with them a list of lists.
    if value and all(isinstance(r, hl7.Repetition) for r in value):
        return list(value)
    return [value]


def _segments(message: Any, name: str) -> list[Any]:
    try:
        return list(message.segments(name))
    except KeyError:
        return []


def _xcn_id(value: Any) -> InstanceId | None:
    ident, oid = _at(value, 1, 1), _at(value, 1, 9, 2)
    return InstanceId(oid, ident) if ident and oid else None


def _patient(message: Any) -> Patient | None:
    pids = _segments(message, "PID")
    if not pids:
        return None
    pid = pids[0]
    ids = []
    for rep in _repetitions(pid, 3):
        ident, oid = _at(rep, 1), _at(rep, 4, 2)
        if ident:
            ids.append(InstanceId(oid or _at(rep, 4, 1), ident))
    names = _repetitions(pid, 5)
    legal = [n for n in names if _at(n, 7) == "L"] or names
    name = legal[0] if legal else None
    return Patient(
        ids=tuple(ids),
        family=_at(name, 1) or None if name is not None else None,
        given=_at(name, 2) or None if name is not None else None,
        birth_date=iso_date(_at(pid, 7, 1, 1)),
        sex=_at(pid, 8, 1, 1) or None,
    )


def _decode_base64(data: str) -> bytes:
    compact = "".join(data.split())
    compact += "=" * (-len(compact) % 4)
    return base64.b64decode(compact, validate=True)


def _document(message: Any, obx: Any, result: Hl7Message) -> None:
    code = Code(
        _at(obx, 3, 1, 1), LOINC if _at(obx, 3, 1, 3) == "LN" else None, _at(obx, 3, 1, 2) or None
    )
    value = obx[5] if len(obx) > 5 else ""
    subtype, encoding = _at(value, 1, 3).upper(), _at(value, 1, 4).upper()
    data = message.unescape(_at(value, 1, 5))
    try:
        content = _decode_base64(data) if encoding == "BASE64" else data.encode()
    except (binascii.Error, ValueError):
        result.errors.append(f"OBX {code.code} : le contenu annoncé en base64 est invalide.")
        return
    if not subtype and _at(value, 1, 2).upper() == "TEXT":
        # A text without subtype is the mail body the PFI received (Trans LPS CDA MSSanté).
        result.bodies.append(content.decode("utf-8", errors="replace"))
        return
    mime = _MIME_TYPES.get(subtype, "application/octet-stream")
    cda = None
    if subtype == "XML":
        # ANS examples put a short placeholder text (or a cut XML declaration) where the CDA
        # goes: what does not even name a ClinicalDocument is reported, not parsed.
        if b"ClinicalDocument" in content:
            try:
                parsed = parse_xml(content, what=f"CDA de l'OBX {code.code}")
                cda = cda_from_element(parsed.root, what=f"CDA de l'OBX {code.code}")
            except UnreadableInput as error:
                result.errors.append(str(error))
        else:
            result.warnings.append(
                f"OBX {code.code} : le contenu annoncé XML n'est pas un document CDA "
                f"({len(content)} octets sans ClinicalDocument : exemple ou substitut)."
            )
    result.documents.append(Hl7Document(code, mime, content, cda))


def _text(data: bytes, warnings: list[str]) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        warnings.append("Message HL7 non UTF-8 : lu en ISO-8859-1.")
        return data.decode("latin-1")


def parse_hl7(data: bytes) -> Hl7Message:
    """Parse an HL7 v2 message; raise InvalidHl7Message when it cannot be read at all."""
    if len(data) > MAX_HL7_BYTES:
        raise InvalidHl7Message(f"Message HL7 de {len(data)} octets, au-delà de la limite.")
    warnings: list[str] = []
    text = _text(data.lstrip(b"\xef\xbb\xbf"), warnings).strip()
    if not text.startswith("MSH") or len(text) < 8:
        raise InvalidHl7Message("Message HL7 v2 : il doit commencer par un segment MSH.")
    # Files from the field use CR, LF or CRLF between segments; HL7 wants CR.
    text = "\r".join(
        line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line
    )
    try:
        message = hl7.parse(text)
        msh = message.segment("MSH")
    except Exception as error:  # python-hl7 raises bare exceptions on malformed input
        raise InvalidHl7Message(f"Message HL7 v2 illisible ({type(error).__name__}).") from None
    if not _at(msh, 9, 1, 1):
        raise InvalidHl7Message("Message HL7 v2 : le type de message (MSH-9) manque.")
    result = Hl7Message(
        message_type="^".join(p for p in (_at(msh, 9, 1, 1), _at(msh, 9, 1, 2)) if p),
        version=_at(msh, 12, 1, 1),
        warnings=warnings,
    )
    result.patient = _patient(message)
    for obx in _segments(message, "OBX"):
        name = _at(obx, 3, 1, 1)
        if name in META_CODES:
            if _at(obx, 2) in {"CE", "CWE"}:
                result.flags[name] = _at(obx, 5, 1, 1).upper() == "Y"
            continue
        if _at(obx, 2) == "ED":
            _document(message, obx, result)
    senders, recipients = [], []
    for prt in _segments(message, "PRT"):
        role = _at(prt, 4, 1, 1)
        if role == "SB":
            ident = _xcn_id(prt[5] if len(prt) > 5 else "")
            if ident:
                senders.append(ident)
        elif role == "RCT":
            address = _at(prt, 15, 1, 4)
            if address:
                recipients.append(address)
    result.sender_ids, result.recipients = tuple(senders), tuple(recipients)
    return result
