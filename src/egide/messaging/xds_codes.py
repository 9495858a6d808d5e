"""The XDS classCode and formatCode of a CDA document, from the ANS terminology tables.

`xds_codes.toml` holds copies of the ANS tables (sources and versions noted there):
ASS_A11 / ASS_A12 give the formatCode from the CDA model's templateId (structured body) or from
the embedded file's media type (level 1, XDS-SD); TRE_A03 lists the classCodes. Which class a
document type belongs to is ASS_X04, not in our reference set yet: a few types are mapped by
what their names state, the others take « 10 Compte rendu ».
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from .cda import CdaDocument, Code

__all__ = ["class_code", "format_code"]

XDS_SD_TEMPLATE = "1.3.6.1.4.1.19376.1.2.20"


@cache
def _tables() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("xds_codes.toml").read_text("utf-8")
    return tomllib.loads(text)


def format_code(document: CdaDocument) -> Code:
    """The formatCode: by media type for a level-1 document, by model for a structured one."""
    formats = _tables()["format"]
    if document.level == 1:
        media_type = (document.embedded_media_type or "application/pdf").lower()
        found = formats["ihe"]["by_media_type"].get(media_type)
        if found:
            return Code(found, formats["ihe"]["system"], found)
    else:
        for template in document.template_ids:
            for table in ("ans", "ihe"):
                found = formats[table]["by_template"].get(template)
                if found:
                    return Code(found, formats[table]["system"], found)
    unknown = formats["unknown"]
    return Code(unknown["code"], unknown["system"], unknown["label"])


def class_code(document: CdaDocument) -> Code:
    """The classCode (TRE_A03) of the document's type, « 10 Compte rendu » when unmapped."""
    classes = _tables()["class"]
    code = classes["by_type"].get(document.code.code if document.code else "", classes["default"])
    return Code(code, classes["system"], classes["labels"][code])
