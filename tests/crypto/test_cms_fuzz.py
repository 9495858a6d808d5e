"""Malformed input never crashes the CMS, S/MIME and X.509 readers: a CryptoError, or a result.

Bounded (hypothesis's default 100 examples each) to keep the suite fast; hunt longer with
`make pytest PYTEST_ARGS="tests/crypto/test_cms_fuzz.py --hypothesis-profile=crypto-fuzz-long"`.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from egide.crypto import cms, x509
from egide.crypto.errors import CryptoError

from .conftest import Pki

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """`original` with a few bytes replaced, removed or inserted, or cut short."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        index = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["replace", "delete", "insert", "truncate"]))
        if action == "replace":
            data[index] = draw(st.integers(0, 255))
        elif action == "delete":
            del data[index]
        elif action == "insert":
            data.insert(index, draw(st.integers(0, 255)))
        else:
            del data[index:]
    return bytes(data)


@pytest.fixture(scope="module")
def samples(pki: Pki) -> dict[str, bytes]:
    content = b"Content-Type: text/plain\r\n\r\nfuzz\r\n"
    return {
        "signed": cms.sign(content, pki.ec),
        "gcm_rsa": cms.encrypt(content, [pki.rsa.certificate]),
        "gcm_ec": cms.encrypt(content, [pki.ec.certificate]),
        "cbc": cms.encrypt(content, [pki.ec.certificate], cipher="aes256-cbc"),
        "smime": cms.sign_and_encrypt(
            content, pki.rsa, [pki.ec.certificate], anchors=[pki.ca.certificate]
        ),
    }


def _read_everything(data: bytes, pki: Pki) -> None:
    anchors = [pki.ca.certificate]
    for call in (
        lambda: cms.verify_signed(data, anchors=anchors),
        lambda: cms.decrypt(data, pki.ec, allow_unauthenticated=True),
        lambda: cms.decrypt(data, pki.rsa),
        lambda: cms.open_smime(data, pki.ec, anchors=anchors, allow_unauthenticated=True),
        lambda: x509.load_certificates(data),
        lambda: x509.load_crl(data),
    ):
        with contextlib.suppress(CryptoError):
            call()


@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes_never_crash_a_reader(pki: Pki, data: bytes) -> None:
    _read_everything(data, pki)


@FUZZ
@given(data=st.data())
def test_mutated_cms_never_crashes_a_reader(
    pki: Pki, samples: dict[str, bytes], data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(samples)))
    _read_everything(data.draw(mutated(samples[name])), pki)


@FUZZ
@given(data=st.data())
def test_mutated_smime_never_opens_and_never_crashes(
    pki: Pki, samples: dict[str, bytes], data: st.DataObject
) -> None:
    altered = data.draw(mutated(samples["smime"]))
    try:
        opened = cms.open_smime(altered, pki.ec, anchors=[pki.ca.certificate])
    except CryptoError:
        return
    # Only a change outside the protected bytes (headers, base64 whitespace) may still open,
    # and then it must give back exactly the signed content — or no protection at all.
    assert opened.entity == b"Content-Type: text/plain\r\n\r\nfuzz\r\n" or (
        opened.signature is None and not opened.encrypted
    )
