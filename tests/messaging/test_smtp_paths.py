"""The fast path parser of MAIL FROM / RCPT TO gives aiosmtpd's answers (ADR 0022)."""

from __future__ import annotations

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st

from egide.messaging.smtp_server import AuditedSMTP

ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
# Pieces of plain paths and of everything around them that aiosmtpd's parser handles.
PIECES = [*ATEXT, ".", "@", "<", ">", " ", "\t", "(", ")", '"', "[", "]", ":", ",", "é", "\\"]


def outcome(parser: SMTP, path: str) -> object:
    """The answer, or the kind of error (the email package's parser fails on some inputs)."""
    try:
        return parser._getaddr(path)
    except Exception as error:  # compared, not handled
        return type(error)


def parsers(limit: int) -> tuple[AuditedSMTP, SMTP]:
    ours = AuditedSMTP.__new__(AuditedSMTP)
    theirs = SMTP.__new__(SMTP)
    ours.local_part_limit = theirs.local_part_limit = limit
    return ours, theirs


plain_word = st.text(alphabet=ATEXT, min_size=1, max_size=8)
dot_atom = st.lists(plain_word, min_size=1, max_size=3).map(".".join)
label = st.text(alphabet="abcXYZ019-", min_size=1, max_size=6)
domain = st.lists(label, min_size=1, max_size=3).map(".".join)
rest = st.sampled_from(["", " ", "  SIZE=140000", " SIZE=1 BODY=8BITMIME ", "\tX", " (c) X", "X"])
plain_path = st.builds(
    lambda lead, local, dom, tail: f"{lead}<{local}@{dom}>{tail}",
    st.sampled_from(["", " ", "\t "]),
    dot_atom,
    domain,
    rest,
)
odd_path = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)


@settings(max_examples=600, deadline=None)
@given(path=st.one_of(plain_path, odd_path), limit=st.sampled_from([0, 5, 64]))
def test_the_fast_path_parser_answers_as_aiosmtpd_does(path: str, limit: int) -> None:
    ours, theirs = parsers(limit)
    assert outcome(ours, path) == outcome(theirs, path)


@pytest.mark.parametrize(
    "path",
    [
        "<dr.durand@medecin.mssante.test>",
        "<dr.durand@medecin.mssante.test> SIZE=140000 BODY=8BITMIME",
        " <a@b.c>  SIZE=1 ",
        "<>",
        "<a..b@c.d>",
        '<"x y"@b.c>',
        "<a@[192.0.2.1]>",
        "<@relay.test:a@b.c>",
        "<a(note)@b.c>",
        "<a@b.c> (note) SIZE=1",
        "<a@b..c>",
        "<é@b.c>",
        "a@b.c",
    ],
)
def test_usual_and_unusual_paths_get_aiosmtpd_s_answer(path: str) -> None:
    ours, theirs = parsers(64)
    assert ours._getaddr(path) == theirs._getaddr(path)


def test_a_plain_path_is_answered_without_aiosmtpd_s_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(SMTP, "_getaddr", lambda self, arg: pytest.fail("the slow parser ran"))
    ours, _ = parsers(64)
    assert ours._getaddr("<dr.durand@medecin.mssante.test> SIZE=1") == (
        "dr.durand@medecin.mssante.test",
        "SIZE=1",
    )
