"""Building IHE_XDM.ZIP packages (IHE ITI-32 « Distribute Document Set on Media », ZIP over mail).

Layout written, as the profile and the public builders do:

    README.TXT                       who sent it and what it is (plain text, UTF-8)
    INDEX.HTM                        a human index linking every file
    IHE_XDM/SUBSET01/METADATA.XML    ebRS 3.0 SubmitObjectsRequest (see `xdm_metadata`)
    IHE_XDM/SUBSET01/DOC0001.XML     the CDA documents, in the order given

Every DocumentEntry's metadata is taken from its CDA header; the URI slot is the file name
relative to the subset folder.
"""

from __future__ import annotations

import html
import io
import zipfile
from dataclasses import dataclass

from .cda import CdaDocument, Code, parse_cda
from .errors import InvalidCda
from .xdm_metadata import (
    DocumentEntry,
    SubmissionSet,
    entry_from_cda,
    metadata_xml,
    patient_xds_id,
)

__all__ = ["XdmBuild", "build_xdm"]

SUBSET = "IHE_XDM/SUBSET01"
# Fixed timestamp inside the ZIP so that the same input gives the same bytes (golden tests).
_ZIP_TIME = (2000, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class XdmBuild:
    """The package bytes and what was put in it."""

    data: bytes
    entries: tuple[DocumentEntry, ...]
    documents: tuple[CdaDocument, ...]


def _readme(sender: str, documents: list[CdaDocument]) -> str:
    lines = [
        "Paquet IHE XDM (IHE ITI-32) produit par Égide.",
        f"Expéditeur : {sender}",
        "",
        "Documents :",
        *(f"- {d.title} ({d.code.code})" for d in documents),
        "",
        "Ouvrir INDEX.HTM pour la liste des fichiers et des métadonnées.",
    ]
    return "\r\n".join(lines) + "\r\n"


def _index(entries: list[DocumentEntry]) -> str:
    items = "".join(
        f'<li><a href="{SUBSET}/{html.escape(e.uri or "")}">'
        f"{html.escape(e.title or e.uri or '')}</a></li>"
        for e in entries
    )
    return (
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>IHE XDM</title></head>'
        "<body><h1>Paquet IHE XDM</h1><ul>"
        '<li><a href="README.TXT">README.TXT</a></li>'
        f'<li><a href="{SUBSET}/METADATA.XML">{SUBSET}/METADATA.XML</a></li>'
        f"{items}</ul></body></html>"
    )


def _write(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_xdm(
    cda_files: list[bytes],
    *,
    source_id: str,
    sender: str,
    class_code: Code | None = None,
    extra_confidentiality: tuple[Code, ...] = (),
    submission: SubmissionSet | None = None,
) -> XdmBuild:
    """Package CDA documents as IHE_XDM.ZIP; every document must concern the same patient.

    `source_id` is the sending system's OID (SubmissionSet.sourceId); `class_code` overrides
    the class the ANS tables give each document's type (`xds_codes`); `extra_confidentiality`
    adds masking codes (MASQUE_PS…) to every DocumentEntry. Raises InvalidCda when a document
    cannot be read or the patients differ.
    """
    if not cda_files:
        raise InvalidCda("Aucun document CDA à empaqueter.")
    documents = [parse_cda(data, what=f"Document {n}") for n, data in enumerate(cda_files, 1)]
    patients = {patient_xds_id(d) for d in documents}
    if len(patients) != 1:
        raise InvalidCda(
            "Un paquet XDM ne concerne qu'un patient : les documents en citent plusieurs."
        )
    entries = [
        entry_from_cda(
            document,
            data,
            uri=f"DOC{n:04d}.XML",
            entry_id=f"Document{n:02d}",
            class_code=class_code,
            extra_confidentiality=extra_confidentiality,
        )
        for n, (document, data) in enumerate(zip(documents, cda_files, strict=True), 1)
    ]
    submission = submission or SubmissionSet(
        source_id=source_id,
        patient_id=patients.pop(),
        author_persons=entries[0].author_persons[:1],
        title=documents[0].title,
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        _write(archive, "README.TXT", _readme(sender, documents).encode())
        _write(archive, "INDEX.HTM", _index(entries).encode())
        _write(archive, f"{SUBSET}/METADATA.XML", metadata_xml(submission, entries))
        for entry, data in zip(entries, cda_files, strict=True):
            _write(archive, f"{SUBSET}/{entry.uri}", data)
    return XdmBuild(buffer.getvalue(), tuple(entries), tuple(documents))
