"""What the index searches in an entry: two documents of words, and the alphabetical order.

`identity` holds who the entry is (names, or the organisation and service for an ORG mailbox,
and the RPPS): a query whose words all fall there ranks first. `everything` holds the names,
the profession with its synonyms (`vocabulary`), the city and postcode, the structure of a
person, and the local part of an organisation's address. Left out because they would only
make the index bigger: the address domain («mssante», «fr» are on every line), a person's
local part (it repeats the name), the department (the postcode's prefix finds it), and
identifiers in `everything` (half a million unique words that nobody types with a city).
PostgreSQL (format 3) keeps an RPPS of digits beside `identity` rather than in it
(`document_words`), and looks for it there too.
Documents are raw text: the index's tokenizer folds case and accents (in C, for speed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from .entry import ROW_FIELDS, Entry, Row
from .normalization import fold, words
from .vocabulary import profession_words, synonym_words


def identity_words(entry: Entry) -> list[str]:
    """Names (or organisation and service) and national identifiers."""
    found = words(entry.family_name) + words(entry.given_name)
    if not found:
        found = words(entry.organisation) + words(entry.service)
    if entry.rpps:
        found.append(entry.rpps)
    return found


def sort_key(entry: Entry) -> tuple[bool, str, str, str, str]:
    """The order of entries that match equally well: people, then organisations, each
    alphabetical as in a paper directory (the order `alphabetical` stores them in)."""
    primary = entry.family_name or entry.organisation or entry.address
    return (
        not entry.family_name,
        fold(primary),
        fold(entry.given_name),
        fold(entry.city),
        entry.key,
    )


_FAMILY, _GIVEN, _ORGANISATION, _SERVICE, _CITY = (
    ROW_FIELDS.index(name)
    for name in ("family_name", "given_name", "organisation", "service", "city")
)


def alphabetical(rows: Iterable[Row]) -> list[Row]:
    """Rows in index order: people by name, then organisations by name.

    Sorting on the fields as written (the file's names are upper case without accents) costs
    a fraction of `sort_key`'s folding; search re-ranks its candidates with `sort_key` anyway.
    One string per key: comparing strings is three times faster than comparing tuples.
    """
    people: list[Row] = []
    organisations: list[Row] = []
    for row in rows:
        (people if row[_FAMILY] else organisations).append(row)
    people.sort(key=lambda row: f"{row[_FAMILY]}\0{row[_GIVEN]}\0{row[_CITY]}")
    organisations.sort(key=lambda row: f"{row[_ORGANISATION]}\0{row[_SERVICE]}\0{row[_CITY]}")
    return people + organisations


def row_name(row: Row) -> str:
    """A short name for a row in a diff: «DUPONT Marie», or the organisation."""
    if row[_FAMILY]:
        return f"{row[_FAMILY]} {row[_GIVEN]}"
    return row[_ORGANISATION]


_RPPS, _ADDRESS, _PROFESSION, _SPECIALTY, _POSTCODE = (
    ROW_FIELDS.index(name) for name in ("rpps", "address", "profession", "specialty", "postcode")
)


def row_documents(row: Row) -> tuple[str, str]:
    """The `identity` and `everything` documents of a row (see the module docstring)."""
    return identity_document(row), everything_document(row)


def identity_document(row: Row) -> str:
    """Names (or organisation and service) and the RPPS, as raw text."""
    if row[_FAMILY]:
        return f"{row[_FAMILY]} {row[_GIVEN]} {row[_RPPS]}"
    return f"{row[_ORGANISATION]} {row[_SERVICE]} {row[_RPPS]}"


def everything_document(row: Row) -> str:
    """Names, profession with its synonyms, city and postcode, structure or local part."""
    family = row[_FAMILY]
    synonyms = synonym_words(row[_PROFESSION], row[_SPECIALTY])
    place = f"{row[_PROFESSION]} {row[_SPECIALTY]} {synonyms} {row[_CITY]} {row[_POSTCODE]}"
    if family:
        return f"{family} {row[_GIVEN]} {place} {row[_ORGANISATION]} {row[_SERVICE]}"
    # PostgreSQL's parser keeps «secretariat.cardio» as one host-like word: split it here.
    local_part = row[_ADDRESS].partition("@")[0].replace(".", " ").replace("_", " ")
    return f"{row[_ORGANISATION]} {row[_SERVICE]} {place} {local_part}"


Documents = tuple[str, str, str, str, str | None]
NULL = "\\N"  # no value, in COPY's text format


def document_words() -> DocumentWords:
    """A fresh `DocumentWords` (one per import: it keeps caches and counts)."""
    return DocumentWords()


class DocumentWords:
    """Gives the documents of `row_documents` as folded words (`normalization.words`,
    space-separated), for an index that stores words rather than tokenizing text
    (PostgreSQL's tsvector literals): queries are folded the same way; then the `name_key`
    of the row's names and of its city, and the RPPS apart.

    An RPPS made of ASCII digits only (11 digits, or an ADELI number's 9) is not in the
    `identity` words but returned apart (PostgreSQL format 3: a B-tree serves it, where half
    a million unique words made two thirds of the GIN build); any other identifier stays a
    word of `identity` (None apart).

    Each name is folded once per distinct value (names, cities and professions repeat), the
    profession, specialty, synonyms, city and postcode part once per distinct combination,
    and an organisation with its service once per pair. The same entries count how many of
    the rows given hold each value, so that `vocabulary()` and `place_counts()` of those rows
    come from these counts, without a second pass over half a million rows (each row's
    fields are read here while they are in the processor's cache; a pass of its own took
    2 s for the national file, most of it fetching rows from memory). So: one instance per
    import, each row given once.
    """

    def __init__(self) -> None:
        # value -> [folded words, name key, rows holding it as a family or given name]
        self._names: dict[str, list[Any]] = {}
        # (profession, specialty, city, postcode) -> [folded words, city key, rows]
        self._places: dict[tuple[str, str, str, str], list[Any]] = {}
        # (organisation, service) -> [folded words, name key, people's rows, others' rows]
        self._pairs: dict[tuple[str, str], list[Any]] = {}
        # an organisation's mailbox local part -> rows (split on «.» and «_» when counted)
        self._local_parts: Counter[str] = Counter()

    def _name(self, value: str) -> list[Any]:
        found = words(value)
        entry = self._names[value] = [" ".join(found), name_key(found), 0]
        return entry

    def _place(self, combination: tuple[str, str, str, str]) -> list[Any]:
        profession, specialty, city, postcode = combination
        text = " ".join(
            (
                " ".join(words(profession)),
                " ".join(words(specialty)),
                synonym_words(profession, specialty),
                " ".join(words(city)),
                " ".join(words(postcode)),
            )
        )
        entry = self._places[combination] = [text, name_key(words(city)), 0]
        return entry

    def _pair(self, pair: tuple[str, str]) -> list[Any]:
        first, second = words(pair[0]), words(pair[1])
        text = f"{' '.join(first)} {' '.join(second)}"
        entry = self._pairs[pair] = [text, name_key(first) + name_key(second), 0, 0]
        return entry

    def __call__(self, row: Row) -> Documents:
        identity, everything, name, place, rpps = self.copy_text(row).split("\t")
        return identity, everything, name, place, None if rpps == NULL else rpps

    def copy_text(self, row: Row) -> str:
        """The five values of a call as the last columns of a line of COPY's text format,
        tab-separated (`NULL` for no RPPS): a first import on PostgreSQL writes this string
        into each line, where a tuple then a second formatting cost 0.3 s more for the
        national file (decision 0035). Folded words, spaces and digits: nothing to escape."""
        combination = (row[_PROFESSION], row[_SPECIALTY], row[_CITY], row[_POSTCODE])
        place = self._places.get(combination) or self._place(combination)
        place[2] += 1
        pair_key = (row[_ORGANISATION], row[_SERVICE])
        pair = self._pairs.get(pair_key) or self._pair(pair_key)
        rpps = row[_RPPS]
        identifier = ""
        if not (rpps and rpps.isascii() and rpps.isdigit()):
            identifier = f" {' '.join(words(rpps))}" if rpps else ""
            rpps = NULL
        family = row[_FAMILY]
        if family:
            given = row[_GIVEN]
            first = self._names.get(family) or self._name(family)
            second = self._names.get(given) or self._name(given)
            first[2] += 1
            second[2] += 1
            pair[2] += 1
            names = f"{first[0]} {second[0]}"
            return (
                f"{names}{identifier}\t{names} {place[0]} {pair[0]}"
                f"\t{first[1]}{second[1]}\t{place[1]}\t{rpps}"
            )
        pair[3] += 1
        local_part = row[_ADDRESS].partition("@")[0]
        self._local_parts[local_part] += 1
        return (
            f"{pair[0]}{identifier}\t{pair[0]} {place[0]} {' '.join(words(local_part))}"
            f"\t{pair[1]}\t{place[1]}\t{rpps}"
        )

    def vocabulary(self) -> dict[str, tuple[int, int]]:
        """`vocabulary` of the rows given so far (the same counts, from this one's)."""
        everything: Counter[str] = Counter()
        identity: Counter[str] = Counter()

        def add(value: str, count: int, *counters: Counter[str]) -> None:
            for word in set(words(value)):
                for counter in counters:
                    counter[word] += count

        for value, (_, _, count) in self._names.items():
            add(value, count, everything, identity)
        for (organisation, service), (_, _, people, others) in self._pairs.items():
            for value in (organisation, service):
                add(value, people + others, everything)
                add(value, others, identity)
        labels: Counter[tuple[str, str]] = Counter()
        for (profession, specialty, city, postcode), (_, _, count) in self._places.items():
            add(city, count, everything)
            add(postcode, count, everything)
            labels[(profession, specialty)] += count
        for (profession, specialty), count in labels.items():
            for word in set(profession_words(profession, specialty)):
                everything[word] += count
        for local_part, count in self._local_parts.items():
            add(local_part.replace(".", " ").replace("_", " "), count, everything)
        return {word: (count, identity[word]) for word, count in everything.items()}

    def place_counts(self) -> dict[str, int]:
        """`place_counts` of the rows given so far."""
        found: Counter[str] = Counter()
        for _, city, count in self._places.values():
            found[city] += count
        return dict(found)


def name_key(words_typed: Iterable[str]) -> str:
    """Folded name words, each followed by one space: «MARTIN Lucie» → «martin lucie ».

    Stored for each entry (family then given names, or organisation then service) so that
    an index in binary order answers «these whole words, then this prefix» as a range:
    the entries whose name starts with «martin lu» are those whose key starts with it, and
    «martin » (a finished word) does not reach «martinez ».
    """
    return "".join(f"{word} " for word in words_typed)


def place_counts(rows: Iterable[Row]) -> dict[str, int]:
    """How many rows each city key (`name_key` of the city) holds."""
    cities = Counter(row[_CITY] for row in rows)
    found: Counter[str] = Counter()
    for city, count in cities.items():
        found[name_key(words(city))] += count
    return dict(found)


_VOCABULARY_FIELDS = tuple(
    ROW_FIELDS.index(name)
    for name in ("family_name", "given_name", "organisation", "service", "city", "postcode")
)


def vocabulary(rows: Iterable[Row]) -> dict[str, tuple[int, int]]:
    """The folded words of the documents of `rows` (identifiers aside) with about how many
    rows hold each in `everything` and in `identity`, for prefix expansion and to choose a
    query plan (`postgres_index`).

    Worked out from the distinct values of each field (a few hundred thousand strings where
    the documents hold millions of words), then folded like the query (`normalization`).
    """
    values: Counter[str] = Counter()
    names: Counter[str] = Counter()
    pairs: Counter[tuple[str, str]] = Counter()
    for row in rows:
        values.update([row[index] for index in _VOCABULARY_FIELDS])
        pairs[(row[_PROFESSION], row[_SPECIALTY])] += 1
        if row[_FAMILY]:
            names.update((row[_FAMILY], row[_GIVEN]))
        else:
            names.update((row[_ORGANISATION], row[_SERVICE]))
            values[row[_ADDRESS].partition("@")[0].replace(".", " ").replace("_", " ")] += 1
    everything: Counter[str] = Counter()
    for value, count in values.items():
        for word in set(words(value)):
            everything[word] += count
    for (profession, specialty), count in pairs.items():
        label = words(profession) + words(specialty) + synonym_words(profession, specialty).split()
        for word in set(label):
            everything[word] += count
    identity: Counter[str] = Counter()
    for value, count in names.items():
        for word in set(words(value)):
            identity[word] += count
    return {word: (count, identity[word]) for word, count in everything.items()}
