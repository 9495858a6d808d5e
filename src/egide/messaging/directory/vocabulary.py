"""The professions' usual names, abbreviations and feminine forms (`professions.toml`).

Synonyms are added at indexing time rather than expanded at query time: a typed prefix then
reaches them through the ordinary prefix index («kin» finds «kine»), both index back-ends
behave the same, and a query costs nothing more.
"""

from __future__ import annotations

import tomllib
import zlib
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from .normalization import words


@dataclass(frozen=True, slots=True)
class SynonymGroup:
    """Words added to entries whose label holds every word of one of the `when` phrases."""

    when: tuple[frozenset[str], ...]
    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The synonym groups and the courtesy words a query may drop."""

    groups: tuple[SynonymGroup, ...]
    ignore: frozenset[str]


def parse_vocabulary(text: str) -> Vocabulary:
    """Read a vocabulary in the `professions.toml` format."""
    data = tomllib.loads(text)
    groups = tuple(
        SynonymGroup(
            when=tuple(frozenset(words(phrase)) for phrase in group["when"]),
            words=tuple(words(group["words"])),
        )
        for group in data.get("group", [])
    )
    return Vocabulary(groups=groups, ignore=frozenset(data.get("ignore", [])))


@cache
def vocabulary_text() -> str:
    """The text of the shipped `professions.toml`."""
    return resources.files(__package__).joinpath("professions.toml").read_text("utf-8")


@cache
def default_vocabulary() -> Vocabulary:
    """The vocabulary shipped with Égide."""
    return parse_vocabulary(vocabulary_text())


def vocabulary_version() -> str:
    """Changes whenever the synonym table does: indexed documents depend on it."""
    return f"{zlib.crc32(vocabulary_text().encode()):08x}"


@lru_cache(maxsize=4096)
def profession_words(profession: str, specialty: str) -> tuple[str, ...]:
    """The folded words of a profession and specialty, followed by their synonyms.

    Cached: the files hold a few hundred distinct (profession, specialty) pairs.
    """
    found = words(profession) + words(specialty)
    present = set(found)
    extra: list[str] = []
    for group in default_vocabulary().groups:
        if any(phrase <= present for phrase in group.when):
            extra.extend(word for word in group.words if word not in present)
            present.update(group.words)
    return tuple(found + extra)


@lru_cache(maxsize=4096)
def synonym_words(profession: str, specialty: str) -> str:
    """Only the added words for this pair, space-separated (what the indexes store)."""
    own = len(words(profession)) + len(words(specialty))
    return " ".join(profession_words(profession, specialty)[own:])
