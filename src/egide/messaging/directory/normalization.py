"""Text folding shared by indexing and searching, so that both sides see the same words.

A word is a run of ASCII letters and digits after removing accents and case: «Kinésithérapeute»
and «KINESITHERAPEUTE» are the same word, «Sage-Femme» is the two words «sage femme», and
«jean.dupont@medecin.mssante.fr» is «jean dupont medecin mssante fr».
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_NOT_WORD = re.compile(r"[^a-z0-9]+")
# Letters that NFKD does not decompose into a base letter plus an accent.
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss", "ø": "o", "đ": "d", "ł": "l"})


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower case without accents: «Élodie Kinésithérapeute» → «elodie kinesitherapeute».

    Cached because the same cities, professions and first names come back on most lines.
    """
    lowered = text.lower().translate(_LIGATURES)
    if lowered.isascii():
        return lowered
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def words(text: str) -> list[str]:
    """The folded words of `text`, in order, without punctuation."""
    return _NOT_WORD.sub(" ", fold(text)).split()
