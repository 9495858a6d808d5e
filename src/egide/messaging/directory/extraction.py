"""Streaming readers of the ANS extraction files, line by line, never the whole file in memory.

A bad line never stops an import: it is reported with its line number (the header is line 1)
and kept out of the index. A wrong header refuses the whole file, with the reason in French,
because reading a file of another shape column by column would publish garbage.
"""

from __future__ import annotations

import operator
import re
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..errors import DirectoryFileRefused
from .columns import FILE_NAMES, HEADERS, SEPARATOR, detect_kind, header_fields, header_problem
from .entry import ROW_FIELDS, Entry, Row, Source

MAILBOX_TYPES = frozenset({"PER", "ORG", "APP"})
RPPS_ID_TYPE = "8"
_ADDRESS = re.compile(r"^[^@\s|]+@[^@\s|]+\.[^@\s|]+$")
MAX_REPORTED = 1000
# The longest values that repeat on most lines (professions, cities) are interned: the
# importer holds every entry of a file to merge duplicates, and sharing them saves memory.
_shared = sys.intern
assert len(ROW_FIELDS) == 20, "parsers below build rows positionally"


@dataclass(frozen=True, slots=True)
class MalformedLine:
    """A line kept out of the index, with why (in French) and its start, for the operator."""

    number: int
    reason: str
    excerpt: str


@dataclass(slots=True)
class LineProblems:
    """Malformed lines of one file: all counted, the first `MAX_REPORTED` kept with details."""

    count: int = 0
    lines: list[MalformedLine] = field(default_factory=list)

    def add(self, number: int, reason: str, raw: str) -> None:
        self.count += 1
        if len(self.lines) < MAX_REPORTED:
            self.lines.append(MalformedLine(number, reason, raw[:120]))


class ExtractionReader:
    """Reads one extraction: the header is checked at construction, then `entries()` streams.

    `lines` is an iterable of raw lines (bytes, as read from a file opened in binary mode).
    When `kind` is None the kind is recognised from the header.
    """

    def __init__(self, lines: Iterable[bytes], kind: Source | None = None) -> None:
        self._lines = iter(lines)
        self.problems = LineProblems()
        self.line_count = 0
        self.encoding = "utf-8"
        header = self._read_header()
        fields = header_fields(header)
        detected = detect_kind(fields)
        if kind is None:
            if detected is None:
                names = " ou ".join(FILE_NAMES.values())
                reason = header_problem(fields, Source.MSSANTE)
                raise DirectoryFileRefused(
                    f"Fichier refusé : ce n'est pas une extraction {names} ({reason})."
                )
            kind = detected
        elif detected is not None and detected is not kind:
            raise DirectoryFileRefused(
                f"Fichier refusé : c'est une extraction {FILE_NAMES[detected]}, "
                f"pas {FILE_NAMES[kind]} (choisissez --kind {detected.value})."
            )
        else:
            problem = header_problem(fields, kind)
            if problem is not None:
                raise DirectoryFileRefused(
                    f"Fichier refusé : en-tête inattendu pour {FILE_NAMES[kind]} ({problem})."
                )
        self.kind = kind
        self.width = len(HEADERS[kind])

    def _read_header(self) -> str:
        raw = next(self._lines, None)
        self.line_count = 1
        if raw is None or not raw.strip():
            raise DirectoryFileRefused("Fichier refusé : il est vide (aucune ligne d'en-tête).")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            # Older PS_LibreAcces publications were Latin-1: decide from the header, never guess
            # line by line (messaging-facts §3.2).
            self.encoding = "latin-1"
            text = raw.decode("latin-1")
        return text.removeprefix("\ufeff").rstrip("\r\n")

    def entries(self) -> Iterator[Entry]:
        """Every well-formed data line as an entry, in file order (duplicates not merged here)."""
        for row, _ in self.records():
            yield Entry.from_row(self.kind, row)

    def records(self) -> Iterator[tuple[Row, int]]:
        """Every well-formed data line as a row (`ROW_FIELDS` order) with the line's digest.

        The CRC-32 of the raw line is the entry's fingerprint for the dated diff: hashing the
        bytes already in hand is the cheapest way to notice any change on the line (a change
        that keeps the same CRC, one chance in four billion, would only be missing from the
        diff: the index itself is always replaced by the new file's content).
        """
        parse = parse_mssante_fields if self.kind is Source.MSSANTE else parse_ps_fields
        width = self.width
        encoding = self.encoding
        number = self.line_count
        problems = self.problems
        checksum = zlib.crc32
        for raw in self._lines:
            number += 1
            try:
                text = raw.decode(encoding).rstrip("\r\n")
            except UnicodeDecodeError as error:
                problems.add(number, f"octets non UTF-8 (position {error.start})", repr(raw))
                continue
            fields = text.split(SEPARATOR)
            if len(fields) == width + 1 and fields[-1] == "":
                fields.pop()
            if len(fields) != width:
                if not text.strip():
                    problems.add(number, "ligne vide", text)
                else:
                    problems.add(number, f"{len(fields)} colonne(s) au lieu de {width}", text)
                continue
            if "\x1f" in text:
                problems.add(number, "caractère de contrôle U+001F", text)
                continue
            if " |" in text or "| " in text or text[:1] == " " or text[-1:] == " ":
                # Blanks around a value are not part of it; most lines have none to strip.
                fields = [field.strip() for field in fields]
            result = parse(fields)
            if isinstance(result, str):
                problems.add(number, result, text)
                continue
            yield result, checksum(raw)
        self.line_count = number


def _address_problem(address: str) -> str | None:
    # Only for addresses that fail the cheap test inlined in the parser.
    if _ADDRESS.match(address):
        return None
    return f"adresse BAL « {address[:60]} » invalide"


_MSSANTE_PICK = operator.itemgetter(
    0, 1, 2, 3, 4, 8, 9, 10, 13, 14, 16, 18, 19, 7, 6, 22, 23, 24, 25, 28, 27, 29, 30
)


def parse_mssante_fields(fields: list[str]) -> Row | str:
    """One MSSanté extraction line (31 fields) as a row, or the reason it is malformed."""
    (
        kind,
        address,
        id_type,
        identifier,
        national_id,
        civility,
        family,
        given,
        profession_code,
        profession,
        specialty,
        organisation,
        brand,
        service,
        structure_id,
        number,
        number_extra,
        street_type,
        street,
        postcode,
        delivery_line,
        department,
        country,
    ) = _MSSANTE_PICK(fields)
    if kind not in MAILBOX_TYPES:
        kind = kind.upper()
        if kind not in MAILBOX_TYPES:
            return f"type de BAL « {kind[:20]} » inconnu (PER, ORG ou APP attendu)"
    local, at, domain = address.partition("@")
    if not (at and local and "." in domain and "@" not in domain and " " not in address):
        problem = _address_problem(address)
        if problem is not None:
            return problem
    # «69003 LYON»: the city is the delivery line without its postcode.
    head, _, city = delivery_line.partition(" ")
    if not head.isdigit():
        city = delivery_line
    return (
        address.lower(),
        address,
        kind,
        id_type,
        identifier if id_type == RPPS_ID_TYPE else "",
        national_id,
        civility,
        family,
        given,
        profession_code,
        _shared(profession),
        _shared(specialty),
        organisation or brand,
        service,
        structure_id,
        " ".join(filter(None, (number, number_extra, street_type, street))),
        postcode,
        _shared(city),
        department,
        country,
    )


def parse_ps_fields(fields: list[str]) -> Row | str:
    """One PS_LibreAcces «Personne_activite» line (52 fields) as a row, or the reason."""
    id_type = fields[0]
    national_id = fields[2]
    if not national_id or not national_id.isalnum():
        return f"identification nationale PP « {national_id[:20]} » absente ou invalide"
    if not fields[7]:
        return "nom d'exercice absent"
    site = fields[23]
    return (
        f"pp:{national_id}@{site}",
        "",
        "",
        id_type,
        fields[1] if id_type == RPPS_ID_TYPE else "",
        national_id,
        _shared(fields[4]),
        fields[7],
        _shared(fields[8]),
        _shared(fields[9]),
        _shared(fields[10]),
        _shared(fields[16]),
        fields[24] or fields[25],
        "",
        site,
        " ".join(filter(None, (fields[28], fields[29], fields[31], fields[32]))),
        fields[35],
        _shared(fields[37]),
        fields[45],
        fields[39],
    )
