"""What a typed query means, and the order of results, shared by every index back-end.

Autocomplete semantics: the words already typed are whole words, the last one is being typed
and matches as a prefix (unless the text ends with a space). Courtesy words («Dr», «Mme») are
dropped. When that finds nothing, every word is retried as a prefix («dup mar»).

Ranking (back-ends fetch a bounded set of candidates in alphabetical order, this module orders
them): entries whose names or ids hold every word first; then an exact word over a prefix;
then the entries with a mailbox; then alphabetical order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .document import identity_words, sort_key
from .entry import Entry, Source
from .normalization import fold, words
from .vocabulary import default_vocabulary

MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: whole `terms` and a last `prefix` (empty when the last word is complete).

    `loose` queries match every term as a prefix too: the fallback when nothing matched.
    """

    text: str
    terms: tuple[str, ...]
    prefix: str
    address: str
    loose: bool = False

    @property
    def is_empty(self) -> bool:
        return not self.terms and not self.prefix and not self.address

    def loosened(self) -> Query:
        return dataclasses.replace(self, loose=True)

    def patterns(self) -> list[tuple[str, bool]]:
        """Each word with whether it matches as a prefix, for the back-ends to render."""
        found = [(term, self.loose) for term in self.terms]
        if self.prefix:
            found.append((self.prefix, True))
        return found


def parse_query(text: str) -> Query:
    """Split what was typed into whole words and the prefix being typed."""
    text = text[:200]
    stripped = text.strip()
    address = fold(stripped) if "@" in stripped and " " not in stripped else ""
    found = words(text)
    ignore = default_vocabulary().ignore
    complete = text[-1:].isspace() or text[-1:] in {",", ";"}
    if found:
        last = found[-1]
        found = [word for word in found[:-1] if word not in ignore] + [last]
        if complete and last in ignore and len(found) > 1:
            found.pop()
    if complete or not found:
        return Query(text, tuple(found), "", address)
    return Query(text, tuple(found[:-1]), found[-1], address)


def rank(query: Query, candidates: list[Entry], limit: int) -> list[Entry]:
    """Order candidates (without duplicates) as described in the module docstring."""
    patterns = query.patterns()
    prefix = query.prefix
    seen: set[str] = set()
    scored = []
    for entry in candidates:
        if entry.key in seen:
            continue
        seen.add(entry.key)
        identity = identity_words(entry)
        in_identity = all(
            any(word.startswith(pattern) if loose else word == pattern for word in identity)
            for pattern, loose in patterns
        )
        exact = not prefix or prefix in identity
        address_hit = bool(query.address) and entry.key.startswith(query.address)
        scored.append(
            (
                not address_hit,
                not in_identity,
                not exact,
                entry.source is not Source.MSSANTE,
                sort_key(entry),
                entry,
            )
        )
    scored.sort(key=lambda row: row[:5])
    return [row[5] for row in scored[:limit]]


def clamp_limit(limit: int) -> int:
    """Limits are between 1 and MAX_LIMIT: a caller cannot ask the index for everything."""
    return max(1, min(limit, MAX_LIMIT))
