"""The ransomware alarm: is a new snapshot's change from its parent what an attack looks like?

Run before the snapshot is committed, over two tree streams in walk order (the parent's and the
new one), in one merging pass. Four signals, each with its own threshold:

* **changed share** — files of the parent whose content changed or which disappeared, over the
  parent's file count. A practice's ordinary day touches a few per cent (the database, a dump,
  some letters); ransomware rewrites a large part of the tree.
* **became dense** — among the changed files, the share whose content turned incompressible
  (`Node.dense`: the first 4 KiB of the file do not compress with zstd). Encryption makes text,
  databases and office files incompressible; an ordinary edit does not. Files that were already
  dense (scans, zip-based documents) do not count, so the measure is a *jump*, not a level.
* **renames** — a disappeared file whose path reappears with an extra or different extension
  (`lettre.txt` → `lettre.txt.locked`): what most ransomware does to the files it encrypts.
* **ransom notes and extensions** — new files named like known ransom notes, or carrying known
  ransomware extensions.

Above a threshold the snapshot is still written — it may be the only copy of the last hours' work
— but marked suspect with the reasons (in French, shown to people), and retention pins the newest
non-suspect snapshot (`retention.py`). Thresholds were chosen on the benchmark corpus: see
`docs/performance.md`, section "Ransomware alarm".
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import zstandard

from .tree import Node

_local = threading.local()

SAMPLE_SIZE = 4096
"""Bytes of the start of a file that decide `Node.dense`."""

_MIN_SAMPLE = 256
_DENSE_RATIO = 0.95

RANSOM_EXTENSIONS = frozenset(
    {
        "locked",
        "locky",
        "crypt",
        "crypted",
        "crypto",
        "encrypted",
        "enc",
        "cerber",
        "cerber3",
        "zepto",
        "odin",
        "thor",
        "aesir",
        "osiris",
        "wncry",
        "wnry",
        "wcry",
        "wncryt",
        "ryk",
        "ryuk",
        "conti",
        "lockbit",
        "lockbit3",
        "abcd",
        "hive",
        "blackcat",
        "basta",
        "phobos",
        "dharma",
        "djvu",
        "stop",
        "akira",
        "royal",
        "clop",
        "cl0p",
        "ransom",
        "crypz",
        "cryp1",
        "zzzzz",
        "micro",
        "ecc",
        "xyz",
        "vvv",
        "ccc",
        "exx",
        "ezz",
    }
)

_NOTE_PATTERN = re.compile(
    r"(how[_\- ]?to[_\- ]?(decrypt|restore|recover|back)|decrypt[_\- ]?(instruction|files|info|me)"
    r"|restore[_\- ]?(my[_\- ]?)?files|read[_\- ]?me[_\- ]?(now|to|for|!)|_readme\.txt$"
    r"|ransom|recover[_\- ]?(your|my)?[_\- ]?files|your[_\- ]?files[_\- ]?are"
    r"|files[_\- ]?encrypted|!+read|lire[_\- ]?absolument|comment[_\- ]?d[ée]chiffrer)",
    re.IGNORECASE,
)


def is_dense(sample: bytes | bytearray | memoryview) -> bool:
    """Whether the start of a file is incompressible (encrypted, compressed or random bytes)."""
    if len(sample) < _MIN_SAMPLE:
        return False
    compressor = getattr(_local, "zstd", None)
    if compressor is None:  # a compressor per thread: creating one costs more than the sample
        compressor = _local.zstd = zstandard.ZstdCompressor(level=1)
    packed = compressor.compress(sample)
    return len(packed) >= _DENSE_RATIO * len(sample)


@dataclass(frozen=True)
class Thresholds:
    """Where each signal starts to count; `min_files` keeps tiny trees from tripping ratios."""

    changed_share: float = 0.20
    became_dense_share: float = 0.25
    became_dense_files: int = 5
    renamed_share: float = 0.05
    renamed_files: int = 10
    ransom_extension_files: int = 3
    min_files: int = 20


@dataclass
class Assessment:
    """What the alarm measured, and its verdict."""

    parent_files: int = 0
    files: int = 0
    changed: int = 0
    deleted: int = 0
    added: int = 0
    became_dense: int = 0
    renamed: int = 0
    notes: list[str] = field(default_factory=list)
    ransom_extensions: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def suspect(self) -> bool:
        """Whether any signal crossed its threshold."""
        return bool(self.reasons)

    def metrics(self) -> dict[str, float]:
        """The counts, for the snapshot's statistics (prefixed `alarm_`)."""
        return {
            "alarm_changed": self.changed,
            "alarm_deleted": self.deleted,
            "alarm_added": self.added,
            "alarm_became_dense": self.became_dense,
            "alarm_renamed": self.renamed,
            "alarm_notes": len(self.notes),
            "alarm_ransom_extensions": self.ransom_extensions,
        }


def _extension(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _stem(path: str) -> str:
    head, _, name = path.rpartition("/")
    return f"{head}/{name.rsplit('.', 1)[0]}" if "." in name else path


def _pairs(old: Iterator[Node], new: Iterator[Node]) -> Iterator[tuple[Node | None, Node | None]]:
    """Merge two walk-ordered streams of file nodes into (before, after) pairs."""
    a, b = next(old, None), next(new, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a.key() < b.key()):
            yield a, None
            a = next(old, None)
        elif a is None or b.key() < a.key():
            yield None, b
            b = next(new, None)
        else:
            yield a, b
            a, b = next(old, None), next(new, None)


def _files(nodes: Iterable[Node]) -> Iterator[Node]:
    return (node for node in nodes if node.type == "file")


class Tally:
    """The alarm's counts, fed one (before, after) pair of file nodes at a time.

    The archiver feeds it while it walks (each file once its chunks are known, each parent file
    that is gone as the merge skips it), so the new tree is never read back and the parent's is
    read once; `assess` feeds it from two streams.
    """

    def __init__(self) -> None:
        self.result = Assessment()
        self._deleted_paths: set[str] = set()
        self._deleted_stems: set[str] = set()
        self._added_paths: list[str] = []

    def pair(self, before: Node | None, after: Node | None) -> None:
        """Count one file: `before` in the parent tree, `after` in the new one (None: absent)."""
        result = self.result
        if before is not None:
            result.parent_files += 1
        if after is not None:
            result.files += 1
        if before is not None and after is None:
            result.deleted += 1
            self._deleted_paths.add(before.path)
            self._deleted_stems.add(_stem(before.path))
        elif after is not None and before is None:
            result.added += 1
            self._added_paths.append(after.path)
            _look_for_ransom_names(after.path, result)
        elif before is not None and after is not None and before.chunks != after.chunks:
            result.changed += 1
            if after.dense and not before.dense:
                result.became_dense += 1
            if _extension(after.path) in RANSOM_EXTENSIONS:
                result.ransom_extensions += 1

    def verdict(self, thresholds: Thresholds = Thresholds()) -> Assessment:
        """The counts and the verdict, once every pair is in."""
        result = self.result
        for path in self._added_paths:
            # "x.txt" → "x.txt.locked" (an extension appended) or "x.txt" → "x.crypt" (replaced).
            if _stem(path) in self._deleted_paths or (
                _extension(path) in RANSOM_EXTENSIONS and _stem(path) in self._deleted_stems
            ):
                result.renamed += 1
        result.reasons = _verdict(result, thresholds)
        return result


def assess(
    parent: Iterable[Node] | None, current: Iterable[Node], thresholds: Thresholds = Thresholds()
) -> Assessment:
    """Compare a new tree with its parent's (None for a first backup) and give the verdict."""
    tally = Tally()
    for before, after in _pairs(_files(parent or ()), _files(current)):
        tally.pair(before, after)
    return tally.verdict(thresholds)


def _look_for_ransom_names(path: str, result: Assessment) -> None:
    name = path.rsplit("/", 1)[-1]
    if _extension(path) in RANSOM_EXTENSIONS:
        result.ransom_extensions += 1
    elif _NOTE_PATTERN.search(name) and len(result.notes) < 20:
        result.notes.append(name)


def _verdict(result: Assessment, limits: Thresholds) -> list[str]:
    reasons = []
    base = result.parent_files
    if base >= limits.min_files:
        share = (result.changed + result.deleted) / base
        if share >= limits.changed_share:
            reasons.append(
                f"{share:.0%} des fichiers modifiés ou supprimés depuis l'instantané précédent"
                f" ({result.changed + result.deleted} sur {base})"
            )
        if result.renamed >= limits.renamed_files and result.renamed >= limits.renamed_share * base:
            reasons.append(f"{result.renamed} fichiers renommés avec une nouvelle extension")
    if result.changed and result.became_dense >= limits.became_dense_files:
        dense_share = result.became_dense / result.changed
        if dense_share >= limits.became_dense_share:
            reasons.append(
                f"{dense_share:.0%} des fichiers modifiés sont devenus incompressibles"
                f" ({result.became_dense} fichiers) : signe de chiffrement"
            )
    if result.notes:
        reasons.append("note de rançon probable : " + ", ".join(result.notes[:5]))
    if result.ransom_extensions >= limits.ransom_extension_files:
        reasons.append(
            f"{result.ransom_extensions} fichiers portent une extension de rançongiciel connue"
        )
    return reasons
