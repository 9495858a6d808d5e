"""Fuzzing the line reader and the query parser (bounded: a few hundred examples each)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egide.messaging.directory import Source
from egide.messaging.directory.columns import MSSANTE_HEADER
from egide.messaging.directory.extraction import ExtractionReader
from egide.messaging.directory.query import parse_query

from .conftest import sample_lines

HEADER = ("|".join(MSSANTE_HEADER) + "\n").encode("utf-8")
FIELD = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["PER", "ORG", "APP", "a@b.fr", "", " ", "|", "8", "99700000017"]
)
LINE = st.one_of(
    st.binary(max_size=300),
    st.lists(FIELD, min_size=0, max_size=40).map(lambda fields: "|".join(fields).encode()),
    st.sampled_from(sample_lines()).map(str.encode),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINE, max_size=20))
def test_every_line_is_either_an_entry_or_a_reported_problem(lines: list[bytes]) -> None:
    raw = [HEADER] + [line.replace(b"\n", b" ").replace(b"\r", b" ") + b"\n" for line in lines]
    reader = ExtractionReader(raw, Source.MSSANTE)
    entries = list(reader.entries())
    assert len(entries) + reader.problems.count == len(lines)
    assert reader.line_count == len(lines) + 1
    for entry in entries:
        assert entry.mailbox_type in {"PER", "ORG", "APP"}
        assert "@" in entry.address
    for problem in reader.problems.lines:
        assert 2 <= problem.number <= len(lines) + 1
        assert problem.reason


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_typed_text_parses_into_plain_words(text: str) -> None:
    query = parse_query(text)
    for word, _ in query.patterns():
        assert word
        assert word.isascii()
        assert word.isalnum()
