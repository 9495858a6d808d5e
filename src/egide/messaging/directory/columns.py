"""The headers of the two ANS extraction files, as published (messaging-facts §3.1 and §3.2).

Format constants: both files are UTF-8 text, one header line, fields separated by `|`.
Some publications suffix the structure columns of the MSSanté file with « structure BAL »
(«Code postal structure BAL»); headers are compared after folding case, accents and that suffix.
"""

from __future__ import annotations

from .entry import Source
from .normalization import fold

SEPARATOR = "|"

MSSANTE_HEADER: tuple[str, ...] = (
    "Type de BAL",
    "Adresse BAL",
    "Type Identifiant PP",
    "Identifiant PP",
    "Identification nationale PP",
    "Type identifiant structure",
    "Identification Structure",
    "Service de rattachement",
    "Civilité d'exercice",
    "Nom d'exercice",
    "Prénom d'exercice",
    "Catégorie profession",
    "Libellé de catégorie profession",
    "Code Profession",
    "Libellé Profession",
    "Code savoir-faire",
    "Libellé savoir-faire",
    "Dématérialisation",
    "Raison Sociale structure BAL",
    "Enseigne commerciale structure BAL",
    "L2COMPLEMENTLOCALISATION",
    "L3COMPLEMENTDISTRIBUTION",
    "L4NUMEROVOIE",
    "L4COMPLEMENTNUMEROVOIE",
    "NL4TYPEVOIE",
    "L4LIBELLEVOIE",
    "L5LIEUDITMENTION",
    "L6LIGNEACHEMINEMENT",
    "Code postal",
    "Département",
    "Pays",
)

PS_HEADER: tuple[str, ...] = (
    "Type d'identifiant PP",
    "Identifiant PP",
    "Identification nationale PP",
    "Code civilité d'exercice",
    "Libellé civilité d'exercice",
    "Code civilité",
    "Libellé civilité",
    "Nom d'exercice",
    "Prénom d'exercice",
    "Code profession",
    "Libellé profession",
    "Code catégorie professionnelle",
    "Libellé catégorie professionnelle",
    "Code type savoir-faire",
    "Libellé type savoir-faire",
    "Code savoir-faire",
    "Libellé savoir-faire",
    "Code mode exercice",
    "Libellé mode exercice",
    "Numéro SIRET site",
    "Numéro SIREN site",
    "Numéro FINESS site",
    "Numéro FINESS établissement juridique",
    "Identifiant technique de la structure",
    "Raison sociale site",
    "Enseigne commerciale site",
    "Complément destinataire (coord. structure)",
    "Complément point géographique (coord. structure)",
    "Numéro Voie (coord. structure)",
    "Indice répétition voie (coord. structure)",
    "Code type de voie (coord. structure)",
    "Libellé type de voie (coord. structure)",
    "Libellé Voie (coord. structure)",
    "Mention distribution (coord. structure)",
    "Bureau cedex (coord. structure)",
    "Code postal (coord. structure)",
    "Code commune (coord. structure)",
    "Libellé commune (coord. structure)",
    "Code pays (coord. structure)",
    "Libellé pays (coord. structure)",
    "Téléphone (coord. structure)",
    "Téléphone 2 (coord. structure)",
    "Télécopie (coord. structure)",
    "Adresse e-mail (coord. structure)",
    "Code Département (structure)",
    "Libellé Département (structure)",
    "Ancien identifiant de la structure",
    "Autorité d'enregistrement",
    "Code secteur d'activité",
    "Libellé secteur d'activité",
    "Code section tableau pharmaciens",
    "Libellé section tableau pharmaciens",
)

HEADERS: dict[Source, tuple[str, ...]] = {Source.MSSANTE: MSSANTE_HEADER, Source.PS: PS_HEADER}
FILE_NAMES: dict[Source, str] = {
    Source.MSSANTE: "Extraction_Correspondance_MSSante",
    Source.PS: "PS_LibreAcces_Personne_activite",
}

_SUFFIX = " structure bal"


def column_key(name: str) -> str:
    """A header name folded for comparison: no case, no accents, no « structure BAL » suffix."""
    folded = " ".join(fold(name).split())
    return folded.removesuffix(_SUFFIX)


def header_fields(line: str) -> list[str]:
    """The fields of a header or data line; the trailing `|` of PS_LibreAcces is dropped."""
    fields = line.split(SEPARATOR)
    if len(fields) > 1 and fields[-1] == "":
        fields.pop()
    return fields


def header_problem(fields: list[str], kind: Source) -> str | None:
    """None when `fields` is the header of `kind`, else the reason in French."""
    expected = HEADERS[kind]
    name = FILE_NAMES[kind]
    if len(fields) != len(expected):
        return (
            f"en-tête de {len(fields)} colonne(s) ; une extraction {name} en a {len(expected)}"
            f" (la première colonne doit être « {expected[0]} »)"
        )
    for number, (found, wanted) in enumerate(zip(fields, expected, strict=True), start=1):
        if column_key(found) != column_key(wanted):
            return f"colonne {number} : « {wanted} » attendu, « {found.strip()} » trouvé"
    return None


def detect_kind(fields: list[str]) -> Source | None:
    """The kind of extraction whose header `fields` is, or None."""
    for kind in HEADERS:
        if header_problem(fields, kind) is None:
            return kind
    return None
