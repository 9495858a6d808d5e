"""Fuzzing the parsers with hypothesis: any input gives a result or an engine error, never a crash.

The default run keeps a small budget (the suite must stay fast on two cores); set
EGIDE_FUZZ_EXAMPLES=5000 (for instance) for a longer campaign.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egide.messaging.cda import parse_cda
from egide.messaging.errors import MessagingError
from egide.messaging.hl7v2 import parse_hl7
from egide.messaging.inspection import inspect_bytes
from egide.messaging.mime import parse_message
from egide.messaging.xdm import build_xdm
from egide.messaging.xdm_reader import read_xdm

from .conftest import HL7_FILES, LEVEL3_CDA

EXAMPLES = int(os.environ.get("EGIDE_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 60,  # reproducible in CI; random in long campaigns
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CDA_SEED = LEVEL3_CDA.read_bytes()
HL7_SEED = HL7_FILES[0].read_bytes() if HL7_FILES else b"MSH|^~\\&|A\r"
XDM_SEED = build_xdm([CDA_SEED], source_id="1.2.3", sender="fuzz").data
EML_SEED = (
    b"From: a@b.test\r\nTo: c@d.test\r\nSubject: =?utf-8?q?=C3=A9t=C3=A9?=\r\n"
    b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbonjour\r\n"
    b"--b\r\nContent-Type: application/zip; name=IHE_XDM.ZIP\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nUEsDBAo=\r\n--b--\r\n"
)


def _mutate(seed: bytes, rng: random.Random, edits: int) -> bytes:
    data = bytearray(seed)
    for _ in range(edits):
        if not data:
            break
        position = rng.randrange(len(data))
        action = rng.randrange(4)
        if action == 0:
            data[position] = rng.randrange(256)
        elif action == 1:
            del data[position : position + rng.randrange(1, 64)]
        elif action == 2:
            data[position:position] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        else:
            del data[position:]
    return bytes(data)


mutations = st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=40))


@FUZZ
@given(st.binary(max_size=2048))
def test_inspect_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    result = inspect_bytes(data)
    assert result.understood or result.errors


@FUZZ
@given(mutations)
def test_mutated_cda_gives_a_document_or_an_engine_error(mutation: tuple[int, int]) -> None:
    seed, edits = mutation
    with contextlib.suppress(MessagingError):
        parse_cda(_mutate(CDA_SEED, random.Random(seed), edits))


@FUZZ
@given(st.text(max_size=400))
def test_cda_like_text_gives_a_document_or_an_engine_error(body: str) -> None:
    data = f'<ClinicalDocument xmlns="urn:hl7-org:v3">{body}</ClinicalDocument>'.encode()
    with contextlib.suppress(MessagingError):
        parse_cda(data)


@FUZZ
@given(mutations)
def test_mutated_hl7_gives_a_message_or_an_engine_error(mutation: tuple[int, int]) -> None:
    seed, edits = mutation
    with contextlib.suppress(MessagingError):
        parse_hl7(_mutate(HL7_SEED, random.Random(seed), edits))


@FUZZ
@given(st.lists(st.text(alphabet="|^~\\&ABCDEFMSHOBXPID0123456789\r\n", max_size=60), max_size=8))
def test_hl7_like_segments_give_a_message_or_an_engine_error(segments: list[str]) -> None:
    with contextlib.suppress(MessagingError):
        parse_hl7(("MSH|^~\\&|" + "\r".join(segments)).encode())


@FUZZ
@given(mutations)
def test_mutated_xdm_gives_a_package_or_an_engine_error(mutation: tuple[int, int]) -> None:
    seed, edits = mutation
    with contextlib.suppress(MessagingError):
        read_xdm(_mutate(XDM_SEED, random.Random(seed), edits))


@FUZZ
@given(st.dictionaries(st.text(max_size=40), st.binary(max_size=200), max_size=6))
def test_arbitrary_zip_members_give_a_package_or_an_engine_error(members: dict[str, bytes]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            if name.strip("\x00"):  # zipfile itself cannot write an empty name
                archive.writestr(name.replace("\x00", "_"), content)
    with contextlib.suppress(MessagingError):
        read_xdm(buffer.getvalue())


@FUZZ
@given(mutations)
def test_mutated_mime_gives_a_message_or_an_engine_error(mutation: tuple[int, int]) -> None:
    seed, edits = mutation
    with contextlib.suppress(MessagingError):
        parse_message(_mutate(EML_SEED, random.Random(seed), edits))
