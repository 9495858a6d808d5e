"""Submission with SASL XOAUTH2 and an OIDC access token (Pro Santé Connect-ready): the token is
a JWT checked against the issuer's JWKS (a file with a key made here), mapped to an Égide user by
its SubjectNameID (8 + RPPS); refusals get 535, are audited and count for the lock-out."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from egide.console.accounts.models import Practice, Role, User
from egide.console.audit.models import AuditEntry
from egide.console.config import OidcSettings
from egide.console.inbox import services
from egide.console.inbox.models import Folder, Mailbox, Message, OutboundDelivery
from egide.messaging.smtp_server import read_xoauth2

from ..accounts.oidc_issuer import AUDIENCE, ISSUER, RPPS, Issuer
from .smtp_fixtures import Pki
from .test_smtp_submission import client, raw_from

pytestmark = pytest.mark.django_db(transaction=True)
REMOTE = "dr.durand@medecin.mssante.test"


@pytest.fixture
def issuer(smtp_settings: Any, tmp_path: Path) -> Issuer:
    made = Issuer(tmp_path)
    smtp_settings.EGIDE_OIDC = OidcSettings(ISSUER, AUDIENCE, str(made.jwks))
    return made


@pytest.fixture
def doctor(hosted: Mailbox) -> User:
    owner = hosted.owner
    assert isinstance(owner, User)
    owner.rpps = RPPS
    owner.save()
    return owner


class xoauth2:  # noqa: N801 - reads as smtplib's auth objects do
    """smtplib's XOAUTH2 auth object: the initial response, then an empty acknowledgement of
    the error challenge (JSON) that the server sends after a refusal."""

    def __init__(self, login: str, token: str) -> None:
        self.response = f"user={login}\x01auth=Bearer {token}\x01\x01"

    def __call__(self, challenge: bytes | None = None) -> str:
        return self.response if not challenge else ""


def refusal_reasons() -> list[str]:
    return [
        entry.details["reason"]
        for entry in AuditEntry.objects.filter(action="access_token.refused")
    ]


def test_practice_software_submits_with_a_pro_sante_connect_access_token(
    listeners: dict[str, int], pki: Pki, hosted: Mailbox, doctor: User, issuer: Issuer
) -> None:
    with client(listeners["submission"], pki) as smtp:
        assert "XOAUTH2" in smtp.esmtp_features["auth"].split()
        code, _ = smtp.auth("XOAUTH2", xoauth2(doctor.username, issuer.token()))
        assert code == 235
        assert smtp.sendmail(hosted.address, [REMOTE], raw_from(hosted.address, REMOTE)) == {}
    sent = Message.objects.get(mailbox=hosted, folder=Folder.SENT)
    assert OutboundDelivery.objects.get(message=sent).recipient == REMOTE


def test_a_long_token_fits_as_initial_response_or_after_the_challenge(
    listeners: dict[str, int], pki: Pki, doctor: User, issuer: Issuer
) -> None:
    # Pro Santé Connect tokens carry many claims: a few kilobytes once base64-encoded.
    token = issuer.token(acr="eidas1", scope=" ".join(f"scope-{n}" for n in range(200)))
    assert len(token) > 3000
    for initial_response_ok in (True, False):
        with client(listeners["submission"], pki) as smtp:
            answer = xoauth2(doctor.username, token)
            code, _ = smtp.auth("XOAUTH2", answer, initial_response_ok=initial_response_ok)
            assert code == 235


def test_the_token_user_must_own_or_be_delegated_the_from_mailbox(
    listeners: dict[str, int],
    pki: Pki,
    hosted: Mailbox,
    issuer: Issuer,
    make_member: Callable[..., User],
) -> None:
    practice = hosted.practice
    assert isinstance(practice, Practice) and isinstance(hosted.owner, User)
    secretary = make_member(practice, "secretariat", Role.SECRETARY)
    secretary.email = "secretariat@tilleuls.test"
    secretary.save()
    issuer_email = OidcSettings(ISSUER, AUDIENCE, str(issuer.jwks), user_claim="email")
    token = issuer.token(email="Secretariat@tilleuls.test")
    from django.conf import settings

    settings.EGIDE_OIDC = issuer_email
    with client(listeners["submission"], pki) as smtp:
        assert smtp.auth("XOAUTH2", xoauth2(secretary.username, token))[0] == 235
        assert smtp.mail(hosted.address)[0] == 550
        smtp.rset()
        services.delegate(hosted, secretary, can_send=True, by=hosted.owner)
        assert smtp.sendmail(hosted.address, [REMOTE], raw_from(hosted.address, REMOTE)) == {}


@pytest.mark.parametrize(
    ("reason", "make"),
    [
        ("expired", lambda issuer: issuer.token(exp=int(time.time()) - 600)),
        ("not_yet_valid", lambda issuer: issuer.token(nbf=int(time.time()) + 600)),
        ("audience", lambda issuer: issuer.token(aud="another-service")),
        ("issuer", lambda issuer: issuer.token(iss="https://idp.example.test")),
        (
            "signature",
            lambda issuer: issuer.token(
                key=rsa.generate_private_key(public_exponent=65537, key_size=2048)
            ),
        ),
        ("unknown_key", lambda issuer: issuer.token(kid="rotated-away")),
        ("unknown_user", lambda issuer: issuer.token(SubjectNameID="810003456789")),
        ("claims", lambda issuer: issuer.token(exp=None)),
    ],
)
def test_a_refused_token_gets_535_and_is_audited(
    listeners: dict[str, int],
    pki: Pki,
    doctor: User,
    issuer: Issuer,
    reason: str,
    make: Callable[[Issuer], str],
) -> None:
    with client(listeners["submission"], pki) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            smtp.auth("XOAUTH2", xoauth2(doctor.username, make(issuer)))
        assert refused.value.smtp_code == 535
        assert smtp.mail("claire.martin@tilleuls.egide.test")[0] == 530
    assert refusal_reasons() == [reason]
    assert AuditEntry.objects.filter(action="submission.refused", object_id="auth").exists()


def test_an_unsigned_or_hmac_token_is_refused(
    listeners: dict[str, int], pki: Pki, doctor: User, issuer: Issuer
) -> None:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 300}
    claims["SubjectNameID"] = "8" + RPPS
    unsigned = jwt.encode(claims, "", algorithm="none")
    hmac = jwt.encode(claims, "a-shared-secret-guessed-by-the-attacker", algorithm="HS256")
    with client(listeners["submission"], pki) as smtp:
        for token in (unsigned, hmac):
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.auth("XOAUTH2", xoauth2(doctor.username, token))
    assert refusal_reasons() == ["algorithm", "algorithm"]


def test_a_token_for_someone_else_than_the_login_is_refused(
    listeners: dict[str, int], pki: Pki, doctor: User, issuer: Issuer
) -> None:
    with (
        client(listeners["submission"], pki) as smtp,
        pytest.raises(smtplib.SMTPAuthenticationError),
    ):
        smtp.auth("XOAUTH2", xoauth2("quelquun.dautre", issuer.token()))
    assert refusal_reasons() == ["login_mismatch"]


def test_refused_tokens_count_for_the_brute_force_lock_out(
    listeners: dict[str, int], pki: Pki, doctor: User, issuer: Issuer
) -> None:
    with client(listeners["submission"], pki) as smtp:
        for _ in range(5):
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.auth("XOAUTH2", xoauth2(doctor.username, issuer.token(aud="x")))
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.auth("XOAUTH2", xoauth2(doctor.username, issuer.token()))
    refusals = AuditEntry.objects.filter(action="submission.refused").values_list(
        "details", flat=True
    )
    assert any("too many failures" in str(details) for details in refusals)


def test_malformed_xoauth2_responses_are_refused_with_501(
    listeners: dict[str, int], pki: Pki, issuer: Issuer
) -> None:
    with client(listeners["submission"], pki) as smtp:
        assert smtp.docmd("AUTH", "XOAUTH2 !!!notbase64")[0] == 501
        assert smtp.docmd("AUTH", "XOAUTH2 dXNlcj14AWF1dGg9QmFzaWMgeHl6AQE=")[0] == 501
        assert smtp.noop()[0] == 250


def test_the_xoauth2_response_is_read_strictly() -> None:
    assert read_xoauth2(b"user=a@b.test\x01auth=Bearer abc.def.ghi\x01\x01") == (
        "a@b.test",
        "abc.def.ghi",
    )
    assert read_xoauth2(b"user=a\x01auth=Basic abc\x01\x01") is None
    assert read_xoauth2(b"user=a\x01auth=Bearer \x01\x01") is None
    assert read_xoauth2("user=é\x01auth=Bearer x\x01\x01".encode()) is None
