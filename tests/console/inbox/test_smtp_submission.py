"""Submission on the 587-style port: AUTH PLAIN over TLS with an application token, the From
mailbox owned or delegated, brute force locked out; smtplib as the practice software."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from typing import Any

import pytest

from egide.console.accounts.models import Practice, Role, User
from egide.console.accounts.services import create_api_token
from egide.console.audit.models import AuditEntry
from egide.console.inbox import services
from egide.console.inbox.models import Folder, Mailbox, Message, OutboundDelivery
from egide.messaging import mime

from .smtp_fixtures import Pki

pytestmark = pytest.mark.django_db(transaction=True)


def client(port: int, pki: Pki) -> smtplib.SMTP:
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=10)
    context = ssl.create_default_context(cafile=pki.root)
    context.check_hostname = False
    smtp.starttls(context=context)
    smtp.ehlo("lps.cabinet.test")
    return smtp


def raw_from(sender: str, to: str) -> bytes:
    draft = mime.Draft(sender=sender, recipients=(to,), subject="Résultat", body="Bonjour")
    return mime.compose_message(draft, domain="tilleuls.egide.test")


def token_for(user: User) -> str:
    return create_api_token(user, "LPS")[1]


def test_practice_software_submits_with_its_token_and_the_message_is_queued(
    listeners: dict[str, int], pki: Pki, hosted: Mailbox
) -> None:
    assert isinstance(hosted.owner, User)
    token = token_for(hosted.owner)
    remote = "dr.durand@medecin.mssante.test"
    with client(listeners["submission"], pki) as smtp:
        smtp.login(hosted.owner.username, token)
        assert smtp.sendmail(hosted.address, [remote], raw_from(hosted.address, remote)) == {}
    sent = Message.objects.get(mailbox=hosted, folder=Folder.SENT)
    assert OutboundDelivery.objects.get(message=sent).recipient == remote


def test_a_delegate_submits_for_the_delegated_mailbox_but_not_for_others(
    listeners: dict[str, int],
    pki: Pki,
    hosted: Mailbox,
    make_member: Callable[..., User],
) -> None:
    assert isinstance(hosted.owner, User)
    practice = hosted.practice
    assert isinstance(practice, Practice)
    secretary = make_member(practice, "secretariat", Role.SECRETARY)
    token = token_for(secretary)
    remote = "dr.durand@medecin.mssante.test"
    with client(listeners["submission"], pki) as smtp:
        smtp.login(secretary.username, token)
        code, _ = smtp.mail(hosted.address)
        assert code == 550
        smtp.rset()
        services.delegate(hosted, secretary, can_send=True, by=hosted.owner)
        assert smtp.sendmail(hosted.address, [remote], raw_from(hosted.address, remote)) == {}


def test_the_from_header_must_be_the_authorised_mailbox(
    listeners: dict[str, int], pki: Pki, hosted: Mailbox
) -> None:
    assert isinstance(hosted.owner, User)
    token = token_for(hosted.owner)
    remote = "dr.durand@medecin.mssante.test"
    with client(listeners["submission"], pki) as smtp:
        smtp.login(hosted.owner.username, token)
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail(hosted.address, [remote], raw_from("autre@tilleuls.egide.test", remote))
    assert refused.value.smtp_code == 550
    assert not Message.objects.exists()


def test_recipients_outside_the_trust_space_are_refused_at_rcpt(
    listeners: dict[str, int], pki: Pki, hosted: Mailbox
) -> None:
    assert isinstance(hosted.owner, User)
    with client(listeners["submission"], pki) as smtp:
        smtp.login(hosted.owner.username, token_for(hosted.owner))
        smtp.mail(hosted.address)
        assert smtp.rcpt("ami@gmail.test")[0] == 550


def test_it_requires_tls_and_authentication(listeners: dict[str, int], pki: Pki) -> None:
    with smtplib.SMTP("127.0.0.1", listeners["submission"], timeout=10) as smtp:
        smtp.ehlo("lps.test")
        assert "auth" not in smtp.esmtp_features
        assert smtp.mail("a@tilleuls.egide.test")[0] == 530
    with client(listeners["submission"], pki) as smtp:
        assert smtp.mail("a@tilleuls.egide.test")[0] == 530


def test_brute_force_locks_the_address_out_even_with_the_right_token(
    listeners: dict[str, int], pki: Pki, hosted: Mailbox, settings: Any
) -> None:
    assert isinstance(hosted.owner, User)
    token = token_for(hosted.owner)
    with client(listeners["submission"], pki) as smtp:
        for attempt in range(5):
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.login("x", f"egide-api.nope{attempt}.wrong")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login(hosted.owner.username, token)
    assert AuditEntry.objects.filter(action="api_token.refused").count() >= 5
    assert AuditEntry.objects.filter(action="submission.refused").exists()
