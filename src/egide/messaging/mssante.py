"""MSSanté client rules for a message carrying health documents (Référentiel #2, ECO.2.x).

- Subject (ECO.2.1.3): `XDM/1.0/DDM+<libellé> <NOM> <prénom> <date de naissance>` when an
  XDM is attached; the date is written DD/MM/YYYY as in the ANS examples. Receivers hide the
  `XDM/1.0/DDM+` prefix (SC.MSS/UX.28).
- `X-MSS-CODECDA` (ECO.2.4.1): the CDA `ClinicalDocument/code/@code` values, comma-separated.
- `X-MSS-INS` (ECO.2.4.2): `O` when the XDM carries a qualified INS, `N` otherwise. A CDA only
  carries an INS (OIDs 1.2.250.1.213.1.4.8–11) once the identity is qualified (INS/va1.53), so
  a valid INS in the header counts as qualified.
- `X-MSS-NIL` (ECO.2.4.3): the product reference from the software's declaration, on every mail.
- PDF copy name (ECO.2.1.6): `<date de l'acte>_<type document>_<NOM>_<prénom>.pdf`.
- Sender label (ECO.2.2.7): `<Titre>_<Prénom>_<NOM>_<Entité>` for a personal mailbox.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from .cda import CdaDocument
from .errors import InvalidIdentifier
from .identifiers import INS_OIDS, validate_ins

__all__ = [
    "SUBJECT_PREFIX",
    "has_qualified_ins",
    "mss_headers",
    "pdf_copy_name",
    "sender_label",
    "strip_subject_prefix",
    "xdm_subject",
]

SUBJECT_PREFIX = "XDM/1.0/DDM+"


def _first_given(document: CdaDocument) -> str:
    given = (document.patient.given or "").split()
    return given[0].capitalize() if given else ""


def _birth(document: CdaDocument) -> str:
    value = document.patient.birth_date or ""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return f"{value[8:10]}/{value[5:7]}/{value[:4]}"
    return ""


def xdm_subject(document: CdaDocument, label: str | None = None) -> str:
    """The subject of a mail whose XDM holds `document` (the first, if several)."""
    parts = [
        label or document.code.display_name or document.title,
        (document.patient.family or "").upper(),
        _first_given(document),
        _birth(document),
    ]
    return SUBJECT_PREFIX + " ".join(p for p in parts if p)


def strip_subject_prefix(subject: str) -> str:
    """What a receiver shows: the subject without `XDM/1.0/DDM+`."""
    return subject[len(SUBJECT_PREFIX) :] if subject.startswith(SUBJECT_PREFIX) else subject


def has_qualified_ins(document: CdaDocument) -> bool:
    """True when the CDA header carries a valid INS under an INS OID."""
    for ident in document.patient.ids:
        if ident.root in INS_OIDS and ident.extension:
            try:
                validate_ins(ident.extension, ident.root)
            except InvalidIdentifier:
                continue
            return True
    return False


def mss_headers(documents: Sequence[CdaDocument], nil: str) -> dict[str, str]:
    """The X-MSS-* headers for a mail whose XDM holds `documents` (none: only X-MSS-NIL)."""
    headers = {"X-MSS-NIL": nil}
    if documents:
        headers["X-MSS-CODECDA"] = ",".join(d.code.code for d in documents)
        headers["X-MSS-INS"] = "O" if all(has_qualified_ins(d) for d in documents) else "N"
    return headers


def _file_part(value: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-") or "inconnu"


def pdf_copy_name(document: CdaDocument) -> str:
    """`<date de l'acte>_<type document>_<NOM>_<prénom>.pdf`, in portable characters."""
    date = (document.effective_time or "")[:8] or "00000000"
    kind = document.code.display_name or document.title or document.code.code
    return (
        "_".join(
            [
                _file_part(date),
                _file_part(kind),
                _file_part((document.patient.family or "").upper()),
                _file_part(_first_given(document)),
            ]
        )
        + ".pdf"
    )


def sender_label(title: str, given: str, family: str, entity: str) -> str:
    """The display name of a personal mailbox: `<Titre>_<Prénom>_<NOM>_<Entité>`."""
    parts = [title.strip(), given.strip(), family.strip().upper(), entity.strip()]
    return "_".join(" ".join(p.split()) for p in parts if p)
