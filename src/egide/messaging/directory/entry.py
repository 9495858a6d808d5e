"""One directory entry: a published MSSanté mailbox or a professional's activity.

An entry is what search returns and what an import compares day after day. Its `key` is
stable across extractions (the ANS files carry no stable id nor dates, see messaging-facts §3.1):
the mailbox address for the MSSanté extraction, the national id and the site for PS_LibreAcces.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum


class Source(StrEnum):
    """Which ANS file an entry comes from; each import replaces one source only."""

    MSSANTE = "mssante"
    PS = "ps"


@dataclass(frozen=True, slots=True)
class Entry:
    """A directory entry as shown to the person who searches (strings as in the file)."""

    key: str
    source: Source
    address: str = ""
    mailbox_type: str = ""
    id_type: str = ""
    rpps: str = ""
    national_id: str = ""
    civility: str = ""
    family_name: str = ""
    given_name: str = ""
    profession_code: str = ""
    profession: str = ""
    specialty: str = ""
    organisation: str = ""
    service: str = ""
    structure_id: str = ""
    street: str = ""
    postcode: str = ""
    city: str = ""
    department: str = ""
    country: str = ""

    @property
    def display_name(self) -> str:
        """«Dr Marie DUPONT» for a person, the organisation (and service) otherwise."""
        person = " ".join(
            part for part in (self.civility, self.given_name, self.family_name) if part
        )
        if self.family_name:
            return person
        return (
            " – ".join(part for part in (self.organisation, self.service) if part) or self.address
        )

    @classmethod
    def from_row(cls, source: Source, row: Row) -> Entry:
        """The entry for a stored or parsed row (fields in `ROW_FIELDS` order)."""
        return cls(row[0], source, *row[1:])

    def as_dict(self) -> dict[str, str]:
        """The entry as a JSON-ready mapping (used by the CLI and the console)."""
        data: dict[str, str] = dataclasses.asdict(self)
        data["source"] = self.source.value
        data["display_name"] = self.display_name
        return data


FIELDS: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(Entry))
# A row is an entry without `source`: what parsers yield and indexes store. Entries on the
# liste rouge are never stored (see `importer.import_file`), so no entry carries the flag.
# Imports handle half a million entries as plain tuples because building dataclass
# instances costs seconds more (measured in bench/directory).
ROW_FIELDS: tuple[str, ...] = tuple(name for name in FIELDS if name != "source")
Row = tuple[str, ...]


FIELD_SEPARATOR = "\x1f"


def row_text(row: Row) -> str:
    """The row as one string, fields separated by U+001F (never found in the files' text)."""
    return FIELD_SEPARATOR.join(row)


def row_from_text(text: str) -> Row:
    """The row stored by `row_text`."""
    return tuple(text.split(FIELD_SEPARATOR))


def merge_rows(first: Row, second: Row) -> Row:
    """One row for two lines with the same key: the first line wins, the second fills gaps.

    The extraction lists some addresses on several lines (169 on 25/08/2026), usually once per
    activity; keeping the first non-empty value is stable from one day to the next, so a merge
    never shows up as a change in the dated diff.
    """
    return tuple(mine or theirs for mine, theirs in zip(first, second, strict=True))
