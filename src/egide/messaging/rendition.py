"""Readable copies of a CDA document: an HTML page and the PDF/A copy sent with it.

MSSanté clients attach a PDF/A-1 copy of every CDA (Référentiel #2, ECO.2.1.5): for level 3 the
header and the faithful narrative, for level 1 the embedded PDF itself. Level-3 PDFs are drawn by
WeasyPrint from the same safe HTML as the inbox shows. WeasyPrint is given a URL fetcher that
refuses everything: the page has no external resource, and a document must never make us fetch.
"""

from __future__ import annotations

from typing import Any, NoReturn

from .cda import CdaDocument, embedded_file, iso_date
from .errors import RenditionFailed
from .narrative import escape, render_narrative

__all__ = ["render_html_page", "render_pdf"]

_STYLE = """
@page { size: A4; margin: 18mm 15mm; }
body { font-family: 'DejaVu Sans', sans-serif; font-size: 10pt; color: #111; }
h1 { font-size: 15pt; margin: 0 0 6pt; }
h2 { font-size: 12pt; margin: 12pt 0 4pt; border-bottom: 1px solid #888; }
h3, h4 { font-size: 11pt; margin: 8pt 0 3pt; }
table { border-collapse: collapse; margin: 4pt 0; }
td, th { border: 1px solid #999; padding: 2pt 4pt; vertical-align: top; }
.entete { border: 1px solid #555; padding: 6pt; margin-bottom: 10pt; }
.entete dt { font-weight: bold; float: left; width: 38mm; }
.entete dd { margin-left: 40mm; }
.cda-bold { font-weight: bold; } .cda-italics { font-style: italic; }
.cda-underline { text-decoration: underline; }
"""


def _identity(document: CdaDocument) -> list[tuple[str, str]]:
    patient = document.patient
    ids = ", ".join(f"{i.extension or ''} ({i.root})" for i in patient.ids)
    authors = "; ".join(
        " ".join(p for p in (a.given, a.family) if p) or ", ".join(i.extension or "" for i in a.ids)
        for a in document.authors
    )
    return [
        ("Patient", " ".join(p for p in (patient.family, patient.given) if p)),
        ("Né(e) le", patient.birth_date or ""),
        ("Sexe", patient.sex or ""),
        ("Identifiants", ids),
        ("Auteur(s)", authors),
        ("Date du document", iso_date(document.effective_time) or ""),
        ("Type", f"{document.code.display_name or ''} ({document.code.code})"),
        ("Confidentialité", ", ".join(c.code for c in document.confidentiality)),
    ]


def render_html_page(document: CdaDocument) -> str:
    """A complete, self-contained HTML page: header block then the safe narrative."""
    rows = "".join(
        f"<dt>{escape(label)}</dt><dd>{escape(value) or '—'}</dd>"
        for label, value in _identity(document)
    )
    if document.level == 1:
        body = (
            "<p>Document de niveau 1 : le contenu est le fichier intégré "
            f"({escape(document.embedded_media_type or 'type inconnu')}).</p>"
        )
    else:
        body = render_narrative(document)
    return (
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">'
        f"<title>{escape(document.title)}</title><style>{_STYLE}</style></head><body>"
        f'<h1>{escape(document.title)}</h1><dl class="entete">{rows}</dl>{body}</body></html>'
    )


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> NoReturn:
    raise RenditionFailed(f"Ressource externe refusée lors du rendu PDF : {url[:80]}")


def render_pdf(document: CdaDocument) -> bytes:
    """The PDF copy of a CDA: the embedded PDF (level 1) or a PDF/A-1b drawn from the page."""
    if document.level == 1:
        embedded = embedded_file(document)
        if embedded is not None and embedded.startswith(b"%PDF-"):
            return embedded
    # Imported here: WeasyPrint loads Pango at import, which only the PDF path needs.
    import weasyprint

    try:
        page = weasyprint.HTML(string=render_html_page(document), url_fetcher=_refuse_fetch)
        pdf: bytes = page.write_pdf(pdf_variant="pdf/a-1b")
    except RenditionFailed:
        raise
    except Exception as error:  # WeasyPrint raises many unrelated types; none must escape raw.
        raise RenditionFailed(f"Le PDF du document n'a pas pu être produit ({error}).") from None
    return pdf
