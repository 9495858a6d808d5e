"""Checking an uploaded document before it is stored: type by content, size, no active content.

Accepted: PDF, PNG, JPEG. The declared name or MIME type is never trusted; the first bytes are.
PDF files are refused when they carry JavaScript, launch actions, embedded files or forms that
run code — including inside compressed object streams, where such keys usually hide.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
_SIGNATURES = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
)
# PDF names that run code or carry files; matched after #xx escapes are decoded. /OpenAction and
# /AA alone are allowed: office suites use them for the initial view, and the actions that
# matter (JavaScript, Launch…) are caught by their own names.
_ACTIVE_PDF_NAMES = re.compile(
    rb"/(JavaScript|JS|Launch|EmbeddedFile|EmbeddedFiles|RichMedia|XFA|SubmitForm"
    rb"|ImportData|GoToR|GoToE)(?![A-Za-z])"
)
_PDF_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_STREAM = re.compile(rb"stream\r?\n(.*?)endstream", re.DOTALL)
_MAX_INFLATED = 50 * 1024 * 1024  # stop a deflate bomb hidden in a stream


@dataclass(frozen=True)
class CheckedUpload:
    content_type: str
    extension: str
    size: int


class UploadProblem(Exception):
    """Why a file is refused, in French."""


def inspect(content: bytes) -> CheckedUpload:
    """Return the file's real type, or raise UploadProblem saying why it is refused."""
    if not content:
        raise UploadProblem("Le fichier est vide.")
    if len(content) > MAX_UPLOAD_BYTES:
        raise UploadProblem(
            f"Le fichier dépasse {MAX_UPLOAD_BYTES // (1024 * 1024)} Mo : réduisez-le ou scannez-le"
            " en qualité moindre."
        )
    for signature, content_type, extension in _SIGNATURES:
        if content.startswith(signature):
            if content_type == "application/pdf":
                _check_pdf(content)
            return CheckedUpload(content_type, extension, len(content))
    raise UploadProblem("Type de fichier refusé : seuls les PDF, PNG et JPEG sont acceptés.")


def _decoded_names(data: bytes) -> bytes:
    return _PDF_NAME_ESCAPE.sub(lambda match: bytes([int(match.group(1), 16)]), data)


def _check_pdf(content: bytes) -> None:
    chunks = [content]
    budget = _MAX_INFLATED
    for match in _STREAM.finditer(content):
        inflater = zlib.decompressobj()
        try:
            inflated = inflater.decompress(match.group(1), budget)
        except zlib.error:
            continue  # not a deflate stream (image data, other filters): nothing to read
        budget -= len(inflated)
        if budget <= 0:
            raise UploadProblem("Le PDF contient des données compressées démesurées : refusé.")
        chunks.append(inflated)
    for chunk in chunks:
        found = _ACTIVE_PDF_NAMES.search(_decoded_names(chunk))
        if found:
            name = found.group(1).decode()
            raise UploadProblem(
                f"Le PDF contient du contenu actif (/{name}) : enregistrez-le de nouveau en PDF "
                "simple (« imprimer en PDF ») puis recommencez."
            )
