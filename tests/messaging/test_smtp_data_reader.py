"""The DATA reader that looks for dots (`CommandReader.read_data`) answers as the one it replaced.

The reference is the reader used before (ADR 0036): `readuntil(b".\\r\\n")` steps, the end where
that dot starts a line, the size limit, then the long-line check and dot-unstuffing. Both read
the same bytes, fed in arbitrary pieces, with small stream limits so that the buffer is taken in
steps; the message, the refusal and the bytes left after the end must be the same.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from egide.messaging.smtp_command import CommandReader
from egide.messaging.smtp_server import _finish_data, _line_too_long

_STUFFED_DOT = re.compile(rb"\n\.")
AFTER = b"QUIT\r\n"


async def reference(reader: asyncio.StreamReader, limit: int) -> tuple[bytes, str]:
    """The reader of ADR 0015 / 0022, as it was."""
    chunks: list[bytes] = []
    size = 0
    tail = b"\r\n"
    too_much = False
    while True:
        try:
            chunk = await reader.readuntil(b".\r\n")
        except asyncio.LimitOverrunError as error:
            chunk = await reader.read(error.consumed)
        if chunk.endswith(b".\r\n") and (tail + chunk[-5:])[-5:-3] == b"\r\n":
            chunk = chunk[:-3]
            size += len(chunk)
            if not too_much:
                chunks.append(chunk)
            break
        size += len(chunk)
        tail = (tail + chunk[-2:])[-2:]
        if limit and size > limit:
            too_much = True
            chunks.clear()
        if not too_much:
            chunks.append(chunk)
    if too_much or (limit and size > limit):
        return b"", "552 Error: Too much mail data"
    content = b"".join(chunks)
    if _line_too_long(content):
        return b"", "500 Line too long (see RFC5321 4.5.3.1.6)"
    if content.startswith(b"."):
        content = content[1:]
    if _STUFFED_DOT.search(content):
        content = content.replace(b"\r\n.", b"\r\n")
    return content, ""


async def ours(reader: CommandReader, limit: int) -> tuple[bytes, str]:
    return _finish_data(*await reader.read_data(limit), limit)


def run(data: bytes, cuts: list[int], stream_limit: int, limit: int, new: bool) -> object:
    """Feed `data` in pieces (at `cuts`) to a reader; what it read, and what is left after."""

    async def main() -> object:
        reader = CommandReader(limit=stream_limit)
        reading = asyncio.ensure_future(ours(reader, limit) if new else reference(reader, limit))
        start = 0
        for cut in [*sorted(cuts), len(data)]:
            if cut > start:
                reader.feed_data(data[start:cut])
                start = cut
            await asyncio.sleep(0)
        reader.feed_eof()
        try:
            answer: object = await reading
        except asyncio.IncompleteReadError:
            answer = "incomplete"
        return answer, await reader.read()

    return asyncio.run(main())


# Lines of mail made of what matters to the reader: dots, CR, LF, long runs, base64-like text.
PIECES = [b".", b"..", b"\r\n", b"\r\n.", b"\r\n..", b".\r\n", b"\r", b"\n", b"a", b"x" * 40]
piece = st.sampled_from([*PIECES, b"QUJD" * 19 + b"\r\n", b"y" * 1001, b"Fin. Merci.\r\n"])
message = st.lists(piece, max_size=40).map(b"".join)


@settings(max_examples=600, deadline=None)
@given(
    body=message,
    ended=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=6),
    stream_limit=st.sampled_from([8, 64, 1 << 18]),
    limit=st.sampled_from([0, 100, 2000]),
)
def test_the_dot_reader_answers_as_the_readuntil_reader(
    body: bytes, ended: bool, cuts: list[int], stream_limit: int, limit: int
) -> None:
    data = body + (b"\r\n.\r\n" + AFTER if ended else b"")
    cuts = [min(cut, len(data)) for cut in cuts]
    assert run(data, cuts, stream_limit, limit, new=True) == run(
        data, cuts, stream_limit, limit, new=False
    )


@pytest.mark.parametrize(
    "data",
    [
        b".\r\n" + AFTER,  # an empty message
        b"..\r\n.\r\n" + AFTER,  # a line holding a dot, stuffed
        b"a\r\n..b\r\n.\r\n",
        b"a.\r\n.\r\n",  # a dot that ends a line but does not start it
        b"a\n.\r\nb\r\n.\r\n",  # a dot after a bare LF does not end the data
        b"Fin. " * 200 + b"\r\n..x\r\n" + b"Fin. " * 200 + b"\r\n.\r\n",  # prose: the regex
        b"QUJD" * 19 + b"\r\n" * 3000 + b".\r\n",
        b"abc\r\n.\r\n",  # the buffer full with a dot starting its last line
    ],
)
def test_the_dot_reader_on_chosen_messages(data: bytes) -> None:
    for stream_limit in (4, 80, 1 << 18):
        cuts = list(range(0, len(data), 7))
        assert run(data, cuts, stream_limit, 0, new=True) == run(
            data, cuts, stream_limit, 0, new=False
        )
    if len(data) < 100:  # the data in two pieces, cut everywhere
        for cut in range(len(data)):
            assert run(data, [cut], 4, 0, new=True) == run(data, [cut], 4, 0, new=False)
