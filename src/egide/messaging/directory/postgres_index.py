"""The operator's directory index on PostgreSQL (psycopg 3, full-text search with GIN).

Schema `egide_directory` (format version 3, `meta.format`), in the database the URL names:
- `entry`, partitioned by source (`entry_mssante`, `entry_ps`): `position` (the
  `alphabetical` order), `key`, `fingerprint`, `data` (`row_text`), and the `identity` and
  `everything` documents of `document.py` as `tsvector`s of words folded in Python
  (`document.document_words`, the folding queries get), each with a GIN index; the RPPS
  (digits) apart, in `rpps` and a B-tree (format 3, below).
- `import`, `change`: the dated diffs; `first_import`: the diff of a source's first import
  (every entry new) as one compressed list of keys.
- `term`: the vocabulary, loaded in memory by each process that searches (`Terms`).
A search is one SQL statement (`search_statement`): the questions asked in turn by
`index.search_entries` are branches of one query, each gated by a one-time filter on what
the branches before it found, so a search costs one round trip.
A query asks for the first N matching rows without ORDER BY, so PostgreSQL stops after N
rows instead of fetching and sorting every match (a ranked tsvector query takes 25 ms at
p95 on this data, most of it there); `query.rank` then orders these candidates. An import
rewrites its partition in the order of the lines' CRC, a pseudo-random order: a sequential
scan for a frequent word («martin», «paris») then meets matches evenly and stops early,
where an alphabetical heap would make it read every name before M. Among more than N
equally good matches, the N shown are therefore an arbitrary (stable) subset, alphabetical
among themselves, where SQLite shows the alphabetically first; the console's user refines
by typing one more letter either way.
Prefixes of three letters or more are expanded into the words they start (table `term`, the
vocabulary of `document.vocabulary`): GIN's partial match must union the lists of every
matching word before intersecting (25 ms for «dupont & ma:*», 2 ms for «dupont & (marie |
martine | …)»), and `term.frequency` (about how many rows hold the word, per document)
tells how common each part of the query is. PostgreSQL's own estimate, blind to how our
words combine and to the order of the heap, chose a sequential scan through the whole table
for rare prefixes (1 s) and a bitmap over 200,000 rows for «paris». We choose whichever
reads fewer rows: a sequential scan that stops after N matches, or the GIN index on the
query's rarest part, the rest being checked on the rows it selects.
GIN builds the whole posting list of a common word before the first row is read: a query
naming a common family name then the start of a given name («martin lu», 74,000 items),
or a profession in a big city («kiné toul»), paid for it. Format 2 adds two B-tree keys
(`document.name_key`): the folded name («martin lucie ») and the city («toulouse »). A
query whose words start a name reads that range of names in order and stops after N
(`name_start`); a query naming a city as its first or last words may read that city's rows
in order, checking the other words, when the `place` counts say it finds N sooner than the
GIN plans (`_place_condition`). Both find only part of the matches (the typed words may also
be elsewhere in a document): the GIN plan after them completes what they leave short.
Format 3 takes an RPPS of digits out of `identity` (half a million unique words made two
thirds of its GIN build, the longest of a first import) into `entry.rpps` and its B-tree: a
query word of digits is looked for there too (`_rpps_conditions`: that RPPS, or the RPPS it
starts, the other words checked on the row's names), beside the `identity` plan that still
finds numbers in names («SOS 24»). Together they find the rows the RPPS words found before.
A first import loads a fresh table outside any transaction, builds
its indexes on two connections at once, and swaps it in as the partition in one transaction
(decision 0017).
"""

# ruff: noqa: S608  (SQL is built from fixed table names only; values are bound parameters)

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import itertools
import json
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from operator import itemgetter
from typing import Any, NamedTuple, TypeVar

import psycopg

from ..errors import DirectoryIndexError
from .document import DocumentWords, document_words, name_key, place_counts, vocabulary
from .entry import FIELD_SEPARATOR, Entry, Row, Source, row_from_text, row_text
from .extraction import MalformedLine
from .index import Change, ChangeKind, Document, ImportRecord, candidate_count
from .query import Query, clamp_limit, parse_query, rank

# 2: `entry.name` (`document.name_key`) and its B-tree, for «name, then a prefix» searches.
# 3: `entry.rpps` and its B-tree; an RPPS of digits is no longer a word of `identity`.
FORMAT_VERSION = "3"
SCHEMA = "egide_directory"
_COUNTS = ("lines", "entries", "merged", "malformed", "withheld", "added", "removed", "changed")
# No pending list: GIN's fast update queues new rows in a list that every search then reads
# whole (a day's thousand rows made the benchmark's p50 go from 2.9 to 7.2 ms until the next
# VACUUM); day-to-day imports write a few hundred rows into the trees directly instead.
GIN_OPTIONS = " WITH (fastupdate = off)"
_PARTITIONS = "\n".join(
    f"CREATE TABLE IF NOT EXISTS {SCHEMA}.entry_{source.value} PARTITION OF {SCHEMA}.entry"
    f" FOR VALUES IN ('{source.value}');\n"
    f"CREATE INDEX IF NOT EXISTS entry_{source.value}_identity"
    f" ON {SCHEMA}.entry_{source.value} USING gin (identity){GIN_OPTIONS};\n"
    f"CREATE INDEX IF NOT EXISTS entry_{source.value}_everything"
    f" ON {SCHEMA}.entry_{source.value} USING gin (everything){GIN_OPTIONS};\n"
    f"CREATE UNIQUE INDEX IF NOT EXISTS entry_{source.value}_key"
    f" ON {SCHEMA}.entry_{source.value} (key text_pattern_ops);\n"
    f"CREATE INDEX IF NOT EXISTS entry_{source.value}_name"
    f" ON {SCHEMA}.entry_{source.value} (name);\n"
    f"CREATE INDEX IF NOT EXISTS entry_{source.value}_place"
    f" ON {SCHEMA}.entry_{source.value} (place);\n"
    f"CREATE INDEX IF NOT EXISTS entry_{source.value}_rpps"
    f" ON {SCHEMA}.entry_{source.value} (rpps);"
    for source in Source
)
_SOURCES = ", ".join(f"'{source.value}'" for source in Source)
_SCHEMA = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.meta (name text PRIMARY KEY, value text NOT NULL);
INSERT INTO {SCHEMA}.meta(name, value) VALUES ('format', '{FORMAT_VERSION}')
    ON CONFLICT (name) DO NOTHING;
CREATE TABLE IF NOT EXISTS {SCHEMA}.entry (
    source text NOT NULL,
    position integer NOT NULL,
    key text NOT NULL,
    fingerprint bigint NOT NULL,
    data text NOT NULL,
    identity tsvector NOT NULL,
    everything tsvector NOT NULL,
    name text COLLATE "C",
    place text COLLATE "C",
    rpps text COLLATE "C"
) PARTITION BY LIST (source);
-- Format 1 had no `name`: rows stored then have none (NULL) until their source is rebuilt,
-- which the next import does (below).
ALTER TABLE {SCHEMA}.entry ADD COLUMN IF NOT EXISTS name text COLLATE "C";
ALTER TABLE {SCHEMA}.entry ADD COLUMN IF NOT EXISTS place text COLLATE "C";
-- Formats 1 and 2 kept the RPPS in `identity` and have no `rpps` (NULL): searches stay right
-- (the RPPS is still a word of those rows), and each source is rebuilt at its next import
-- (`meta` row `rebuild_<source>`, `PostgresIndex._stale`).
ALTER TABLE {SCHEMA}.entry ADD COLUMN IF NOT EXISTS rpps text COLLATE "C";
INSERT INTO {SCHEMA}.meta(name, value)
    SELECT 'rebuild_' || source, 'format ' || value
    FROM {SCHEMA}.meta, unnest(ARRAY[{_SOURCES}]) AS source
    WHERE name = 'format' AND value IN ('1', '2')
    ON CONFLICT (name) DO NOTHING;
UPDATE {SCHEMA}.meta SET value = '{FORMAT_VERSION}' WHERE name = 'format' AND value IN ('1', '2');
{_PARTITIONS}
CREATE TABLE IF NOT EXISTS {SCHEMA}.term (
    source text NOT NULL,
    word text COLLATE "C" NOT NULL,
    frequency integer NOT NULL,
    identity_frequency integer NOT NULL,
    PRIMARY KEY (source, word)
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.place (
    source text NOT NULL,
    key text COLLATE "C" NOT NULL,
    frequency integer NOT NULL,
    PRIMARY KEY (source, key)
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.import (
    id bigserial PRIMARY KEY,
    source text NOT NULL,
    imported_at timestamptz NOT NULL,
    file_name text NOT NULL,
    counts jsonb NOT NULL,
    problems jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.change (
    import_id bigint NOT NULL REFERENCES {SCHEMA}.import(id),
    number integer NOT NULL,
    kind text NOT NULL,
    key text NOT NULL,
    address text NOT NULL,
    name text NOT NULL,
    fields jsonb NOT NULL,
    PRIMARY KEY (import_id, number)
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.first_import (
    import_id bigint PRIMARY KEY REFERENCES {SCHEMA}.import(id),
    source text NOT NULL,
    keys bytea NOT NULL
);
"""


_T = TypeVar("_T")
IMPORT_LOCK = "hashtext('egide_directory_import')"
# Past this many words, a prefix is left to GIN's partial match.
MAX_EXPANSION = 64
# What an item of a GIN posting list costs, in rows read and checked (0.4 µs here): a base,
# and as much again for each word of an OR, which GIN checks for every item (measured on the
# benchmark's queries: «Montpellier podol» 2 ms through the 36,000 items of «podologie |
# podologue» against 14 ms by a sequential scan; «kiné toul» 41 ms through the 39,000 items
# of the 64 words starting «toul» against 3 ms by a sequential scan; «laboratoire mar» 3 ms
# through the 11,000 items of «laboratoire» against 24 ms).
POSTING_ITEM = 0.25
POSTING_WORD = 0.04
# An item of a prefix GIN matches partially (`dup:*`): its words' lists are merged first.
POSTING_PARTIAL = 0.6
# A row fetched through the index and checked, against a row read by a sequential scan.
ROW_THROUGH_INDEX = 4.0


# Rows per write of a first import's COPY (`_load_fresh`).
COPY_SLICE = 2000
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_escaped(text: str) -> str:
    """`text` as a field of COPY's text format (backslash, tab and line ends escaped)."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_COPY_ESCAPES)
    return text


class Plan(NamedTuple):
    """How to ask for one query on one document (`PostgresIndex._plan`)."""

    text: str  # the whole query, for to_tsquery('simple', …)
    indexed: str  # the part the GIN index serves when the others are checked on its rows
    share: float  # expected share of rows that match
    rarest: float  # share of rows the indexed part selects
    whole: float  # cost of the whole query through GIN, in rows (see `_condition`)
    # Ranges of `entry.place` (the city) the query's words may start: (start, about how many
    # rows it holds at most, share of rows the other words match).
    places: tuple[tuple[str, float, float], ...] = ()


# The whole query on `identity` with the row's RPPS added back (digits only: a tsvector
# literal of one word as it stands).
RPPS_CHECK = "ts_match_vq(identity || coalesce(rpps, '')::tsvector, to_tsquery('simple', %s))"

# Above every character of `entry.name` (folded words and spaces): the end of a name range.
NAME_END = "\x7f"


def name_start(query: Query) -> str | None:
    """What `entry.name` starts with for the entries whose names begin with the typed words,
    in the order typed (family name, then given name), or None: a loose query (its words
    are all prefixes) or an identifier (RPPS) is not looked for there."""
    if query.loose or not (query.terms or query.prefix):
        return None
    first = (query.terms or (query.prefix,))[0]
    if first[:1].isdigit():
        return None
    return name_key(query.terms) + query.prefix


def _without(query: Query, position: int) -> Query:
    """`query` without its word at `position` (of `Query.patterns`)."""
    if position < len(query.terms):
        terms = query.terms[:position] + query.terms[position + 1 :]
        return dataclasses.replace(query, terms=terms)
    return dataclasses.replace(query, prefix="")


def posting_cost(part: str) -> float:
    """The cost of one posting-list item of a tsquery part (`POSTING_ITEM`)."""
    return POSTING_ITEM + POSTING_WORD * (part.count("|") + 1)


# `_look_up` answers the summed frequency of a prefix's words under position + SUMMED.
SUMMED = 1000


class PostgresIndex:
    """The operator back-end of `DirectoryIndex` (see the module docstring)."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self._url = url
        try:
            self._db = psycopg.connect(url, autocommit=True)
        except psycopg.Error as error:
            raise DirectoryIndexError(
                f"Annuaire PostgreSQL injoignable ({error.__class__.__name__}) : vérifiez l'URL"
                " de la base et que le serveur répond."
            ) from error
        # A sequential scan must start at the heap's beginning and stay in one process, or
        # its first N matches would differ from one run to the next.
        self._db.execute("SET synchronize_seqscans = off")
        self._db.execute("SET max_parallel_workers_per_gather = 0")
        # We choose between the GIN index and a sequential scan ourselves (see `candidates`);
        # the resulting huge plan costs would otherwise trigger JIT compilation (70 ms).
        self._db.execute("SET enable_seqscan = off")
        self._db.execute("SET jit = off")
        self._totals: dict[Source, int] = {}
        self._plans: dict[tuple[Query, Source, Document], Plan | None] = {}
        self._terms: dict[Source, Terms] = {}
        # One search at a time on the connection (the console's threads share one index).
        self._lock = threading.Lock()
        self._checked_at = -1e9
        self._latest_import = -1
        if create:
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(hashtext('egide_directory'))")
                self._db.execute(_SCHEMA)
        elif self._db.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.entry",)).fetchone() == (None,):
            raise DirectoryIndexError(
                "Annuaire absent de cette base : importez d'abord une extraction."
            )

    def close(self) -> None:
        self._db.close()

    def search(self, query: str, limit: int = 10) -> list[Entry]:
        """Autocomplete search (`index.search_entries`'s semantics) in one SQL statement.

        Every question `search_entries` would ask in turn (the address prefix, the `identity`
        then the `everything` document of each source, then the same with every word as a
        prefix) is one branch of a single statement; a branch runs only when the branches
        before it found too few rows (a one-time filter: PostgreSQL skips the scan), so the
        search costs one round trip to the server whatever it finds.
        """
        with _server_errors(), self._lock:
            limit = clamp_limit(limit)
            parsed = parse_query(query)
            if parsed.is_empty:
                return []
            statement = self.search_statement(parsed, limit)
            if statement is None:
                return []
            sql, values, branches = statement
            rows = self._db.execute(sql, values).fetchall()
            return _ranked(parsed, limit, candidate_count(limit), branches, rows)

    def search_statement(
        self, query: Query, limit: int
    ) -> tuple[str, list[object], list[Branch]] | None:
        """The single statement of `search`: SQL, values, and what each branch is."""
        count = candidate_count(limit)
        ctes: list[str] = []
        values: list[object] = []
        branches: list[Branch] = []

        def add(sql: str, args: list[object], gate: str, branch: Branch) -> None:
            name = f"b{len(ctes)}"
            where = f" AND {gate}" if gate else ""
            ctes.append(f"{name} AS ({sql.format(gate=where)})")
            values.extend(args)
            branches.append(branch)

        def counted(numbers: list[int]) -> str:
            return " + ".join(f"(SELECT count(*) FROM b{n})" for n in numbers) or "0"

        if query.address:
            pattern = query.address.replace("\\", "\\\\").replace("%", "\\%")
            pattern = pattern.replace("_", "\\_") + "%"
            add(
                f"SELECT source, data FROM {SCHEMA}.entry WHERE key LIKE %s{{gate}}"
                " ORDER BY key LIMIT %s",
                [pattern, count],
                "",
                Branch(None, None),
            )
        earlier: list[int] = []
        identity: list[int] = []

        def gate(document: Document, group: list[int]) -> str:
            """The one-time filter of the next branch, which joins `group`."""
            gates = []
            if earlier:  # a looser attempt runs only when the stricter found nothing
                gates.append(f"{counted(earlier)} = 0")
            if document is Document.EVERYTHING and identity:
                gates.append(f"{counted(identity)} < {int(limit)}")
            if group:
                gates.append(f"{counted(group)} < {int(count)}")
            group.append(len(ctes))
            return " AND ".join(gates)

        if query.patterns():
            attempts = (query, query.loosened()) if query.terms else (query,)
            for attempt in attempts:
                mine: list[int] = []
                identity = []
                for document in Document:
                    group: list[int] = []
                    for source in Source:
                        condition = self._condition(attempt, source, document, count)
                        if condition is None:
                            continue
                        table = f"{SCHEMA}.entry_{source.value}"
                        start = name_start(attempt) if document is Document.IDENTITY else None
                        if start:
                            # Names starting with the typed words, in name order (B-tree
                            # range, stops after N); the index below completes it when short.
                            add(
                                f"SELECT %s::text AS source, data FROM {table}"
                                " WHERE name >= %s AND name < %s{gate} ORDER BY name LIMIT %s",
                                [source.value, start, start + NAME_END, count],
                                gate(document, group),
                                Branch(attempt, document),
                            )
                        if document is Document.IDENTITY:
                            for where, rpps_args, order in self._rpps_conditions(
                                attempt, source, count
                            ):
                                # Rows whose RPPS the digits typed are (or start), checked
                                # with their names for the other words (format 3).
                                add(
                                    f"SELECT %s::text AS source, data FROM {table}"
                                    f" WHERE {where}{{gate}}{order} LIMIT %s",
                                    [source.value, *rpps_args, count],
                                    gate(document, group),
                                    Branch(attempt, document),
                                )
                        text, args, cost = condition
                        place = self._place_condition(attempt, source, document, count, cost)
                        if place:
                            # Entries in the city the words name, in city order (B-tree
                            # range); the plan below completes it when short.
                            where, place_args = place
                            add(
                                f"SELECT %s::text AS source, data FROM {table}"
                                f" WHERE {where}{{gate}} ORDER BY place LIMIT %s",
                                [source.value, *place_args, count],
                                gate(document, group),
                                Branch(attempt, document),
                            )
                        add(
                            f"SELECT %s::text AS source, data FROM {table}"
                            f" WHERE {text}{{gate}} LIMIT %s",
                            [source.value, *args, count],
                            gate(document, group),
                            Branch(attempt, document),
                        )
                    mine += group
                    if document is Document.IDENTITY:
                        identity = group
                earlier += mine
        if not ctes:
            return None
        union = " UNION ALL ".join(
            f"(SELECT {number} AS branch, source, data FROM b{number})"
            for number in range(len(ctes))
        )
        return f"WITH {', '.join(ctes)} {union}", values, branches

    def _condition(
        self, query: Query, source: Source, document: Document, count: int
    ) -> tuple[str, list[object], float] | None:
        """The WHERE clause for one source and document, choosing the plan (see the module
        docstring), and its cost; or None when nothing there can match."""
        planned = self.tsquery_text(query, source, document)
        if planned is None:
            return None
        column = document.value
        text, indexed, share, rarest, whole, _ = planned
        # Cost in rows read and checked (0.4 µs each here): a sequential scan reads rows
        # until `count` match; the index reads the indexed part's whole posting list, then
        # its rows until `count` match (`posting_cost`); or GIN answers the whole query.
        total = self._total(source)
        share = max(share, 1e-12)
        # A scan stops after `count` matches, or at the end when fewer match.
        sequential = min(count / share, total)
        fetched = min(count * rarest / share, rarest * total)
        one_part = posting_cost(indexed) * rarest * total + ROW_THROUGH_INDEX * fetched
        if whole + count < min(sequential, one_part):
            return f"{column} @@ to_tsquery('simple', %s)", [text], whole + count
        if sequential < one_part:
            # The function form of @@ is served by no index: a sequential scan, which
            # stops after N matches (sequential scans are otherwise off for the session).
            return f"ts_match_vq({column}, to_tsquery('simple', %s))", [text], sequential
        if indexed and indexed != text:
            # The index serves the rarest part (`_plan`); the whole query is checked on the
            # rows it selects (a function: no index serves it). A short prefix («ma:*»)
            # never goes to the index: GIN's partial match would union the lists of
            # hundreds of words (100 ms).
            return (
                f"{column} @@ to_tsquery('simple', %s)"
                f" AND ts_match_vq({column}, to_tsquery('simple', %s))",
                [indexed, text],
                one_part,
            )
        return f"{column} @@ to_tsquery('simple', %s)", [text], whole + count

    def _rpps_conditions(
        self, query: Query, source: Source, count: int
    ) -> list[tuple[str, list[object], str]]:
        """WHERE clauses (and ORDER BY) finding the rows whose RPPS a word of digits of the
        query is, or starts when typed as a prefix (format 3: `entry.rpps` and its B-tree, the
        RPPS being no word of `identity`), the query's other words checked on `identity` with
        the RPPS added back: the rows the `identity` GIN index found before format 3 through
        the RPPS. Rows whose names hold the digits («SOS 24») are the `identity` plan's.

        A number alone, or a long one (seven digits or more: a few rows at most), reads its
        range of the B-tree in order and stops after `count`; a short number beside other
        words is looked for among the rows the other words select (`_condition`).
        """
        planned = self.tsquery_text(query, source, Document.IDENTITY)
        if planned is None:
            return []
        found: list[tuple[str, list[object], str]] = []
        patterns = query.patterns()
        for position, (word, prefix) in enumerate(patterns):
            if not word.isdigit():
                continue
            args: list[object]
            if prefix:
                where, args = "rpps >= %s AND rpps < %s", [word, word + NAME_END]
            else:
                where, args = "rpps = %s", [word]
            others = patterns[:position] + patterns[position + 1 :]
            if not others:
                found.append((where, args, " ORDER BY rpps"))
                continue
            where, args = f"{where} AND {RPPS_CHECK}", [*args, planned.text]
            if len(word) >= 7 or any(other.isdigit() for other, _ in others):
                found.append((where, args, " ORDER BY rpps"))
                continue
            rest = self._condition(_without(query, position), source, Document.IDENTITY, count)
            if rest is not None:
                found.append((f"{rest[0]} AND {where}", [*rest[1], *args], ""))
        return found

    def _place_condition(
        self, query: Query, source: Source, document: Document, count: int, cost: float
    ) -> tuple[str, list[object]] | None:
        """A range of `entry.place` (the city) the query's words start, read in that order and
        checked until `count` match, when it should find them for less than `cost`; None
        otherwise. It finds only the matches in that city: the plan of `_condition` completes
        it when it finds fewer."""
        planned = self.tsquery_text(query, source, document)
        if planned is None:
            return None
        best: tuple[float, str] | None = None
        for start, rows, other in planned.places:
            if rows * other < 2 * count:
                continue  # probably too few matches there: the other plan would run as well
            read = ROW_THROUGH_INDEX * min(rows, count / max(other, 1e-12))
            if read < cost and (best is None or read < best[0]):
                best = (read, start)
        if best is None:
            return None
        return (
            f"place >= %s AND place < %s AND ts_match_vq({document.value},"
            " to_tsquery('simple', %s))",
            [best[1], best[1] + NAME_END, planned.text],
        )

    def _total(self, source: Source) -> int:
        total = self._totals.get(source)
        if total is None:
            row = self._db.execute(
                f"SELECT count(*) FROM {SCHEMA}.entry WHERE source = %s", (source.value,)
            ).fetchone()
            total = self._totals[source] = int(row[0]) if row else 0
        return total

    def tsquery_text(self, query: Query, source: Source, document: Document) -> Plan | None:
        """The `to_tsquery('simple', …)` text, the same without short prefixes (what the GIN
        index should serve) and the expected share of matching rows; None when the source is
        empty or a prefix starts no known word. Remembered for the next call with the same
        query (both documents, next key press), until the next import.

        Words are `[a-z0-9]+` (`normalization.words`), so nothing needs escaping.
        """
        self._forget_after_imports()
        key = (query, source, document)
        if key in self._plans:
            return self._plans[key]
        if len(self._plans) > 1024:
            self._plans.clear()
        plan = self._plan(query, source, document)
        self._plans[key] = plan
        return plan

    def _forget_after_imports(self) -> None:
        # Another process (the daily import job) may have changed the directory: look at most
        # once a minute, so that remembered plans and counts never lag far behind.
        now = time.monotonic()
        if now - self._checked_at < 60:
            return
        self._checked_at = now
        row = self._db.execute(f"SELECT max(id) FROM {SCHEMA}.import").fetchone()
        latest = int(row[0]) if row and row[0] is not None else 0
        if latest != self._latest_import:
            self._latest_import = latest
            self._plans.clear()
            self._totals.clear()
            self._terms.clear()

    def _plan(self, query: Query, source: Source, document: Document) -> Plan | None:
        total = self._total(source)
        if total == 0:
            return None
        patterns = query.patterns()
        looked_up = self._look_up(source, patterns, document)
        parts = []
        # (share of rows, tsquery part) of the parts the GIN index can serve.
        indexable: list[tuple[float, str]] = []
        share = 1.0
        shares: list[float] = []  # of each word
        partial = 0.0  # rows of the prefixes GIN would match partially (`word:*`)
        for position, (word, prefix) in enumerate(patterns):
            if prefix and word.isdigit():
                parts.append(f"{word}:*")
                indexable.append((1 / total, parts[-1]))
                share /= total
                shares.append(1 / total)
                continue
            summed = looked_up.get(position + SUMMED, [("", 0)])[0][1]
            prefix_share = min(1.0, summed / total)
            if prefix and len(word) < 3:
                parts.append(f"{word}:*")
                share *= prefix_share
                shares.append(prefix_share)
                partial += prefix_share * total
                continue
            found = looked_up.get(position, [])
            if not prefix:
                parts.append(word)
                # A word outside the vocabulary may still be an identifier (RPPS): rare.
                part_share = (found[0][1] if found else 1) / total
            elif not found:
                return None
            elif len(found) > MAX_EXPANSION:
                # As common as a short prefix: checked on the rows the other words select.
                parts.append(f"{word}:*")
                share *= prefix_share
                shares.append(prefix_share)
                partial += prefix_share * total
                continue
            else:
                parts.append("(" + " | ".join(item for item, _ in found) + ")")
                part_share = min(1.0, sum(frequency for _, frequency in found) / total)
            indexable.append((part_share, parts[-1]))
            share *= part_share
            shares.append(part_share)
        # The index serves the cheapest part alone (the rarest, counting an OR's words); the
        # others are checked on the rows it selects. Intersecting two large posting lists in
        # GIN (and every list of an OR) costs more than reading a few hundred rows.
        if indexable:
            rarest, indexed = min(indexable, key=lambda item: item[0] * posting_cost(item[1]))
            # The whole query through GIN: the prefixes' lists are merged first, then GIN
            # walks the rarest word's list and skips through the others («radiologie per» 2 ms
            # where «radiologie» alone and a check of each of its rows take 17 ms).
            words = sum(part.count("|") + 1 for _, part in indexable)
            driver = min(part_share for part_share, _ in indexable) * total
            whole = partial * POSTING_PARTIAL + driver * (POSTING_ITEM + POSTING_WORD / 2 * words)
        else:
            rarest, indexed, whole = 1.0, "", float("inf")
        places = self._places(source, patterns, shares)
        return Plan(" & ".join(parts), indexed, share, rarest, whole, places)

    def _places(
        self, source: Source, patterns: list[tuple[str, bool]], shares: list[float]
    ) -> tuple[tuple[str, float, float], ...]:
        """The city ranges a query may name: its first words («Lyon psy», «Le Havre kiné»)
        or its last ones («kiné toul», «cardio le h»), each with how many rows it holds
        (table `place`) and the share of rows the other words match."""
        places = self._terms_for(source).places
        typed = [word for word, _ in patterns]
        if any(word[:1].isdigit() for word in typed):
            return ()
        found = []
        spans = [(0, end) for end in range(1, len(typed) + 1)]
        spans += [(start, len(typed)) for start in range(1, len(typed))]
        for start, end in spans:
            inside = patterns[start:end]
            if any(prefix for _, prefix in inside[:-1]):
                continue  # a loose query's words are all prefixes: only the last one can be
            outside = (*range(start), *range(end, len(typed)))
            others = [patterns[at] for at in outside]
            if any(places.summed(word if prefix else f"{word} ") for word, prefix in others):
                continue  # another word starts a city too: an entry has only one
            other = 1.0
            for position in outside:
                other *= shares[position]
            last, prefix = inside[-1]
            key = name_key(word for word, _ in inside[:-1]) + last + ("" if prefix else " ")
            rows = places.summed(key)
            if rows:
                found.append((key, float(rows), other))
        return tuple(found)

    def _look_up(
        self, source: Source, patterns: list[tuple[str, bool]], document: Document
    ) -> dict[int, list[tuple[str, int]]]:
        """Frequencies of whole words and expansions of prefixes, from the vocabulary kept in
        memory (`Terms`): no round trip. A word that never occurs in the document is left out
        of expansions: it cannot match there."""
        terms = self._terms_for(source).of(document)
        found: dict[int, list[tuple[str, int]]] = {}
        for position, (word, prefix) in enumerate(patterns):
            if prefix and not word.isdigit():
                # How many rows hold a word with this prefix, about (words are counted apart:
                # an upper bound), for prefixes too common to expand.
                found[position + SUMMED] = [("", terms.summed(word))]
            if prefix and (len(word) < 3 or word.isdigit()):
                continue
            got = terms.expand(word, MAX_EXPANSION + 1) if prefix else terms.exact(word)
            if got:
                found[position] = got
        return found

    def _terms_for(self, source: Source) -> Terms:
        terms = self._terms.get(source)
        if terms is None:
            rows = self._db.execute(
                f"SELECT word, frequency, identity_frequency FROM {SCHEMA}.term"
                " WHERE source = %s ORDER BY word",
                (source.value,),
            ).fetchall()
            places = self._db.execute(
                f"SELECT key, frequency FROM {SCHEMA}.place WHERE source = %s ORDER BY key",
                (source.value,),
            ).fetchall()
            terms = self._terms[source] = Terms(rows, places)
        return terms

    def address_candidates(self, prefix: str, count: int) -> list[Entry]:
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self._db.execute(
            f"SELECT source, data FROM {SCHEMA}.entry WHERE key LIKE %s ORDER BY key LIMIT %s",
            (pattern, count),
        ).fetchall()
        return [_entry(source, data) for source, data in rows]

    def get(self, key: str) -> Entry | None:
        row = self._db.execute(
            f"SELECT source, data FROM {SCHEMA}.entry WHERE key = %s", (key.lower(),)
        ).fetchone()
        return _entry(*row) if row else None

    def count(self, source: Source | None = None) -> int:
        if source is None:
            row = self._db.execute(f"SELECT count(*) FROM {SCHEMA}.entry").fetchone()
        else:
            row = self._db.execute(
                f"SELECT count(*) FROM {SCHEMA}.entry WHERE source = %s", (source.value,)
            ).fetchone()
        return int(row[0]) if row else 0

    def fingerprints(self, source: Source) -> dict[str, int]:
        rows = self._db.execute(
            f"SELECT key, fingerprint FROM {SCHEMA}.entry WHERE source = %s", (source.value,)
        )
        return dict(rows.fetchall())

    def entries(self, keys: Sequence[str]) -> dict[str, Entry]:
        rows = self._db.execute(
            f"SELECT source, data FROM {SCHEMA}.entry WHERE key = ANY(%s)", (list(keys),)
        ).fetchall()
        found = (_entry(source, data) for source, data in rows)
        return {entry.key: entry for entry in found}

    def imports(self, limit: int = 20) -> list[ImportRecord]:
        rows = self._db.execute(
            f"SELECT id, source, imported_at, file_name, counts, problems FROM {SCHEMA}.import"
            " ORDER BY id DESC LIMIT %s",
            (limit,),
        ).fetchall()
        return [_record(*row) for row in rows]

    def changes(self, import_id: int, limit: int | None = None) -> list[Change]:
        rows = self._db.execute(
            f"SELECT kind, key, address, name, fields FROM {SCHEMA}.change"
            " WHERE import_id = %s ORDER BY number LIMIT %s",
            (import_id, limit),
        ).fetchall()
        if not rows:
            return self._first_changes(import_id, limit)
        return [
            Change(ChangeKind(kind), key, address, name, tuple(fields))
            for kind, key, address, name, fields in rows
        ]

    def _first_changes(self, import_id: int, limit: int | None) -> list[Change]:
        """The diff of a first import (every entry new), kept as its compressed list of keys."""
        row = self._db.execute(
            f"SELECT source, keys FROM {SCHEMA}.first_import WHERE import_id = %s", (import_id,)
        ).fetchone()
        if row is None:
            return []
        source, packed = row
        keys = zlib.decompress(packed).decode().split("\n") if packed else []
        mailbox = source == Source.MSSANTE.value
        return [
            Change(ChangeKind.ADDED, key, key if mailbox else "", "") for key in keys[:limit] if key
        ]

    def replace_source(
        self,
        source: Source,
        rows: Sequence[Row],
        fingerprints: Mapping[str, int],
        record: ImportRecord,
        changes: Sequence[Change] | None,
    ) -> ImportRecord:
        with _server_errors():
            # One import at a time per database: a first import works on a table outside any
            # transaction (`_load_fresh`), which a second import must not drop meanwhile.
            self._db.execute(f"SELECT pg_advisory_lock({IMPORT_LOCK})")
            try:
                return self._replace_source(source, rows, fingerprints, record, changes)
            finally:
                # A lost connection releases the lock and leaves a table the next import drops.
                with contextlib.suppress(psycopg.Error):
                    self._db.execute(f"DROP TABLE IF EXISTS {SCHEMA}.entry_{source.value}_next")
                    self._db.execute(f"SELECT pg_advisory_unlock({IMPORT_LOCK})")

    def _replace_source(
        self,
        source: Source,
        rows: Sequence[Row],
        fingerprints: Mapping[str, int],
        record: ImportRecord,
        changes: Sequence[Change] | None,
    ) -> ImportRecord:
        partition = f"{SCHEMA}.entry_{source.value}"
        db = self._db
        documents = document_words()
        words: dict[str, tuple[int, int]] | None = None
        places: dict[str, int] | None = None
        keys: bytes | None = None
        # A source stored before format 3 is rebuilt whole too.
        rebuild = changes is None or self._stale(source)
        if rebuild:

            def meanwhile() -> tuple[dict[str, tuple[int, int]], dict[str, int], bytes | None]:
                # What the transaction below writes, worked out while the server builds the
                # indexes: the vocabulary and the cities from the counts `documents` kept
                # while the rows were copied, and a first import's list of keys.
                listed = None
                if changes is None:
                    listed = zlib.compress("\n".join(map(itemgetter(0), rows)).encode(), 1)
                return documents.vocabulary(), documents.place_counts(), listed

            # First import of this source: a fresh table, loaded and indexed outside any
            # transaction (the indexes built two at a time), then swapped in atomically.
            words, places, keys = self._load_fresh(source, rows, fingerprints, documents, meanwhile)
        with db.transaction():
            if rebuild or changes is None:
                self._swap_fresh(source)
            else:
                # Day-to-day imports touch a few hundred entries: apply only those, and let
                # the GIN indexes take them in (seconds instead of a rebuild).
                touched = {c.key for c in changes if c.kind is not ChangeKind.ADDED}
                wanted = {c.key for c in changes if c.kind is not ChangeKind.REMOVED}
                db.execute(f"DELETE FROM {partition} WHERE key = ANY(%s)", (sorted(touched),))
                with db.cursor().copy(
                    f"COPY {partition} (source, position, key, fingerprint, data, identity,"
                    " everything, name, place, rpps) FROM STDIN"
                ) as copy:
                    for number, row in enumerate(rows, start=1):
                        if row[0] in wanted:
                            line = (source.value, number, row[0], fingerprints[row[0]])
                            copy.write_row((*line, row_text(row), *documents(row)))
                # Indexes made before GIN_OPTIONS may hold a pending list: merged now.
                for document in Document:
                    db.execute(
                        "SELECT gin_clean_pending_list(%s::regclass)",
                        (f"{partition}_{document.value}",),
                    )
            loaded = rows if rebuild else [r for r in rows if r[0] in wanted]
            if rebuild:
                db.execute(f"DELETE FROM {SCHEMA}.term WHERE source = %s", (source.value,))
                db.execute(
                    f"DELETE FROM {SCHEMA}.meta WHERE name = %s", (f"rebuild_{source.value}",)
                )
            db.execute(
                "CREATE TEMP TABLE new_term (word text, frequency integer,"
                " identity_frequency integer) ON COMMIT DROP"
            )
            with db.cursor().copy(
                "COPY new_term (word, frequency, identity_frequency) FROM STDIN"
            ) as copy:
                # Folded words ([a-z0-9]+) and numbers: nothing to escape.
                copy.write(
                    "".join(
                        f"{word}\t{frequency}\t{in_identity}\n"
                        for word, (frequency, in_identity) in (words or vocabulary(loaded)).items()
                    )
                )
            # How many rows each city holds, counted again at each import (a few thousand).
            db.execute(f"DELETE FROM {SCHEMA}.place WHERE source = %s", (source.value,))
            with db.cursor().copy(
                f"COPY {SCHEMA}.place (source, key, frequency) FROM STDIN"
            ) as copy:
                counted = place_counts(rows) if places is None else places
                for key, frequency in counted.items():
                    copy.write_row((source.value, key, frequency))
            # Day to day, frequencies of known words are kept: a few hundred rows hardly move
            # them, and the next full import counts again.
            db.execute(
                f"INSERT INTO {SCHEMA}.term (source, word, frequency, identity_frequency)"
                " SELECT %s, word, frequency, identity_frequency FROM new_term"
                " ON CONFLICT DO NOTHING",
                (source.value,),
            )
            cursor = db.execute(
                f"INSERT INTO {SCHEMA}.import (source, imported_at, file_name, counts, problems)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (
                    source.value,
                    record.imported_at,
                    record.file_name,
                    json.dumps({name: getattr(record, name) for name in _COUNTS}),
                    json.dumps(
                        [[p.number, p.reason, p.excerpt] for p in record.problems],
                        ensure_ascii=False,
                    ),
                ),
            )
            fetched = cursor.fetchone()
            import_id = int(fetched[0]) if fetched else 0
            if changes is None:
                # Every entry is new: the diff is the list of keys, kept in one compressed
                # value (one row per entry took 4–7 s of the server for the national file).
                db.execute(
                    f"INSERT INTO {SCHEMA}.first_import (import_id, source, keys)"
                    " VALUES (%s, %s, %s)",
                    (
                        import_id,
                        source.value,
                        keys or zlib.compress("\n".join(map(itemgetter(0), rows)).encode(), 1),
                    ),
                )
            else:
                with db.cursor().copy(
                    f"COPY {SCHEMA}.change (import_id, number, kind, key, address, name, fields)"
                    " FROM STDIN"
                ) as copy:
                    for number, change in enumerate(changes, start=1):
                        copy.write_row(
                            (
                                import_id,
                                number,
                                change.kind.value,
                                change.key,
                                change.address,
                                change.name,
                                json.dumps(change.fields),
                            )
                        )
        self._totals.clear()
        self._plans.clear()
        self._terms.clear()
        return dataclasses.replace(record, id=import_id)

    def _stale(self, source: Source) -> bool:
        """Whether the rows of `source` were stored before format 3 (`meta` says so when the
        schema was upgraded), to be rebuilt by this import."""
        row = self._db.execute(
            f"SELECT EXISTS (SELECT 1 FROM {SCHEMA}.meta WHERE name = %s)",
            (f"rebuild_{source.value}",),
        ).fetchone()
        return bool(row and row[0])

    def _load_fresh(
        self,
        source: Source,
        rows: Sequence[Row],
        fingerprints: Mapping[str, int],
        documents: DocumentWords,
        meanwhile: Callable[[], _T],
    ) -> _T:
        """Fill `entry_<source>_next` and build its indexes (see `_replace_source`); returns
        what `meanwhile` returns, called while the server builds the indexes.

        Documents arrive as tsvector literals, folded here (`document_words`): the server only
        parses them, where `to_tsvector(unaccent(…))` took 10 s of one core for the national
        file. Rows are written in the order of their fingerprint (the lines' CRC), a
        pseudo-random order (module docstring). The two GIN indexes are built at the same
        time on two connections: the machine's two cores.
        """
        fresh = f"{SCHEMA}.entry_{source.value}_next"
        db = self._db
        db.execute(f"DROP TABLE IF EXISTS {fresh}")
        db.execute(
            f"CREATE TABLE {fresh} (LIKE {SCHEMA}.entry,"
            f" CONSTRAINT entry_{source.value}_source CHECK (source = '{source.value}'))"
        )
        digests = [fingerprints[row[0]] for row in rows]
        order = sorted(range(len(rows)), key=digests.__getitem__)
        with db.cursor().copy(
            f"COPY {fresh} (source, position, key, fingerprint, data, identity, everything,"
            " name, place, rpps) FROM STDIN"
        ) as copy:
            # COPY's text format written here, a slice of rows at a time, where `write_row`
            # adapts each of the ten fields of each row. Documents, names and places are
            # folded words and spaces; the key and the data are escaped when they need it.
            lines: list[str] = []
            start = f"{source.value}\t"
            documented = documents.copy_text  # the last five columns, tab-separated
            for number in order:
                row = rows[number]
                key = row[0]
                data = FIELD_SEPARATOR.join(row)  # `row_text`; it holds the key too
                if "\\" in data or "\t" in data or "\n" in data or "\r" in data:
                    key, data = _copy_escaped(key), _copy_escaped(data)
                lines.append(
                    f"{start}{number + 1}\t{key}\t{digests[number]}\t{data}\t{documented(row)}\n"
                )
                if len(lines) == COPY_SLICE:
                    copy.write("".join(lines))
                    lines.clear()
            copy.write("".join(lines))
        name = f"entry_{source.value}_next"
        # Balanced by measured time (national file, format 3): `identity`'s GIN index
        # without the RPPS (1.6 s) and the four B-trees (0.3-0.6 s each) take about as long
        # as `everything`'s GIN index (3.1-4.0 s) and ANALYZE.
        statements = [
            [
                f"CREATE INDEX {name}_identity ON {fresh} USING gin (identity){GIN_OPTIONS}",
                f"CREATE INDEX {name}_name ON {fresh} (name)",
                f"CREATE INDEX {name}_rpps ON {fresh} (rpps)",
                f"CREATE UNIQUE INDEX {name}_key ON {fresh} (key text_pattern_ops)",
                f"CREATE INDEX {name}_place ON {fresh} (place)",
            ],
            [
                f"CREATE INDEX {name}_everything ON {fresh} USING gin (everything){GIN_OPTIONS}",
                f"ANALYZE {fresh}",
            ],
        ]
        with ThreadPoolExecutor(max_workers=len(statements)) as pool:
            builds = [pool.submit(self._run_apart, batch) for batch in statements]
            found = meanwhile()  # Python, while both connections wait for the server
            for done in builds:
                done.result()
        return found

    def _run_apart(self, statements: list[str]) -> None:
        """Run DDL on a connection of its own (the index builds of `_load_fresh`)."""
        with psycopg.connect(self._url, autocommit=True) as other:
            other.execute("SET maintenance_work_mem = '256MB'")
            for statement in statements:
                other.execute(statement)

    def _swap_fresh(self, source: Source) -> None:
        """In the caller's transaction: the fresh table becomes the source's partition.
        The CHECK constraint spares ATTACH a scan of the table."""
        db = self._db
        name = f"entry_{source.value}"
        db.execute(f"ALTER TABLE {SCHEMA}.entry DETACH PARTITION {SCHEMA}.{name}")
        db.execute(f"DROP TABLE {SCHEMA}.{name}")
        db.execute(f"ALTER TABLE {SCHEMA}.{name}_next RENAME TO {name}")
        for suffix in ("identity", "everything", "key", "name", "place", "rpps"):
            db.execute(f"ALTER INDEX {SCHEMA}.{name}_next_{suffix} RENAME TO {name}_{suffix}")
        db.execute(
            f"ALTER TABLE {SCHEMA}.entry ATTACH PARTITION {SCHEMA}.{name}"
            f" FOR VALUES IN ('{source.value}')"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Branch:
    """What one branch of the search statement asks: the address prefix (attempt None), or
    one attempt of the query on one document."""

    attempt: Query | None
    document: Document | None


class WordList:
    """Sorted words with their frequencies and running sums, for prefix look-ups."""

    def __init__(self, rows: list[tuple[str, int]]) -> None:
        self.words = [word for word, _ in rows]
        self.frequencies = [frequency for _, frequency in rows]
        self.sums = [0, *itertools.accumulate(self.frequencies)]

    def _range(self, prefix: str) -> tuple[int, int]:
        start = bisect.bisect_left(self.words, prefix)
        return start, bisect.bisect_left(self.words, prefix + "\x7f", start)

    def summed(self, prefix: str) -> int:
        start, end = self._range(prefix)
        return self.sums[end] - self.sums[start]

    def expand(self, prefix: str, limit: int) -> list[tuple[str, int]]:
        start, end = self._range(prefix)
        end = min(end, start + limit)
        return list(zip(self.words[start:end], self.frequencies[start:end], strict=True))

    def exact(self, word: str) -> list[tuple[str, int]]:
        at = bisect.bisect_left(self.words, word)
        if at < len(self.words) and self.words[at] == word:
            return [(word, self.frequencies[at])]
        return []


class Terms:
    """One source's vocabulary (table `term`), in memory: the words of `everything`, and
    those of `identity` (words with no row there left out, so that expansions skip them).
    About 175 bytes a word (8 MB for the national file); reloaded after each import."""

    def __init__(
        self, rows: list[tuple[str, int, int]], places: list[tuple[str, int]] | None = None
    ) -> None:
        self.everything = WordList([(word, frequency) for word, frequency, _ in rows])
        self.identity = WordList([(word, count) for word, _, count in rows if count > 0])
        # City keys (`document.name_key`, table `place`) with how many rows hold each.
        self.places = WordList(places or [])

    def of(self, document: Document) -> WordList:
        return self.identity if document is Document.IDENTITY else self.everything


def _ranked(
    query: Query, limit: int, count: int, branches: list[Branch], rows: list[tuple[int, str, str]]
) -> list[Entry]:
    """`index.search_entries`'s ranking over the rows of every branch that ran."""
    found: list[Entry] = []
    kept: dict[tuple[int, int], int] = {}
    chosen: Query | None = None
    seen: set[tuple[str, str]] = set()
    for number, source, data in rows:
        if (source, data) in seen:  # found by the name range and by the index
            continue
        seen.add((source, data))
        branch = branches[number]
        if branch.attempt is not None:
            # As `search_entries`: at most `count` candidates per attempt and document.
            group = (id(branch.attempt), 0 if branch.document is Document.IDENTITY else 1)
            if kept.get(group, 0) >= count:
                continue
            kept[group] = kept.get(group, 0) + 1
            chosen = chosen or branch.attempt
        found.append(_entry(source, data))
    return rank(chosen or query, found, limit)


@contextmanager
def _server_errors() -> Iterator[None]:
    """A lost or refusing server becomes a DirectoryIndexError with what to do."""
    try:
        yield
    except psycopg.OperationalError as error:
        raise DirectoryIndexError(
            "Annuaire PostgreSQL indisponible (connexion perdue ou refusée) : réessayez, ou"
            " vérifiez le serveur."
        ) from error


def _entry(source: str, data: str) -> Entry:
    return Entry.from_row(Source(source), row_from_text(data))


def _record(
    import_id: int,
    source: str,
    imported_at: datetime,
    file_name: str,
    counts: dict[str, Any],
    problems: list[list[Any]],
) -> ImportRecord:
    return ImportRecord(
        id=import_id,
        source=Source(source),
        imported_at=imported_at,
        file_name=file_name,
        problems=tuple(MalformedLine(*item) for item in problems),
        **{name: int(counts[name]) for name in _COUNTS},
    )
