"""A throwaway PKI for the crypto tests: one operator CA and mailboxes of every key type.

Generated once per test session in memory (and written under tmp_path when `openssl` needs
files); no key is ever committed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import settings

from egide.crypto import x509

# A long fuzzing run on demand (`--hypothesis-profile=crypto-fuzz-long`); never the default.
settings.register_profile("crypto-fuzz-long", max_examples=20_000, deadline=None)


@dataclass(frozen=True)
class Pki:
    ca: x509.Identity
    rsa: x509.Identity
    rsa3072: x509.Identity
    ec: x509.Identity
    other_ca: x509.Identity
    stranger: x509.Identity


@pytest.fixture(scope="session")
def pki() -> Pki:
    ca = x509.create_ca("Égide Test Operator CA")
    other_ca = x509.create_ca("Some Other CA")
    return Pki(
        ca=ca,
        rsa=x509.issue_mailbox_certificate(ca, "dr.martin@tilleuls.egide.test"),
        rsa3072=x509.issue_mailbox_certificate(
            ca, "secretariat@tilleuls.egide.test", key_type="rsa3072"
        ),
        ec=x509.issue_mailbox_certificate(ca, "kine.durand@tilleuls.egide.test", key_type="p256"),
        other_ca=other_ca,
        stranger=x509.issue_mailbox_certificate(other_ca, "intrus@ailleurs.test"),
    )
