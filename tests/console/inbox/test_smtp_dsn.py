"""Delivery status notifications asked on submission (RFC 3461): NOTIFY/ORCPT on RCPT, RET/ENVID
on MAIL, honoured by the outbound queue — a «delayed» report after EGIDE_SMTP_DELAY_WARNING_HOURS,
none with NEVER, a success report with SUCCESS, headers only with RET=HDRS (RFC 3464 reports)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from egide.console.accounts.models import User
from egide.console.accounts.services import create_api_token
from egide.console.inbox import outbound, services
from egide.console.inbox.models import Folder, Mailbox, MailboxKind, Message, OutboundDelivery
from egide.messaging import mime
from egide.messaging.dsn_request import (
    DsnRequest,
    DsnSyntaxError,
    RecipientNotice,
    split_rcpt_parameters,
)

from .smtp_fixtures import Pki
from .test_smtp_outbound import PeerOperator, _start_peer
from .test_smtp_submission import client, raw_from

pytestmark = pytest.mark.django_db(transaction=True)
REMOTE = "dr.durand@medecin.mssante.test"
FULL_MAILBOX = "plein@medecin.mssante.test"
UNKNOWN = "inconnu@medecin.mssante.test"


@pytest.fixture
def peer(smtp_settings: Any, pki: Pki) -> Iterator[PeerOperator]:
    handler, controller = _start_peer(pki.peer)
    smtp_settings.EGIDE_SMTP_ROUTES = [f"medecin.mssante.test=localhost:{controller.port}"]
    yield handler
    controller.stop()


def send(hosted: Mailbox, to: str, dsn: DsnRequest, body: str = "CONTENU-PRIVE") -> Message:
    owner = hosted.owner
    assert isinstance(owner, User)
    draft = mime.Draft(sender=hosted.address, recipients=(to,), subject="Compte rendu", body=body)
    raw = mime.compose_message(draft, domain="tilleuls.egide.test")
    return services.dispatch(owner, hosted, raw, [to], dsn=dsn)


def reports(hosted: Mailbox) -> list[bytes]:
    return [
        services.raw_of(message)
        for message in Message.objects.filter(mailbox=hosted, folder=Folder.INBOX)
    ]


def notice(to: str, notify: str, orcpt: str = "") -> dict[str, RecipientNotice]:
    return {to: RecipientNotice(frozenset(notify.split(",")) if notify else frozenset(), orcpt)}


def test_submission_takes_the_dsn_parameters_and_keeps_their_case(
    listeners: dict[str, int], pki: Pki, hosted: Mailbox
) -> None:
    owner = hosted.owner
    assert isinstance(owner, User)
    with client(listeners["submission"], pki) as smtp:
        assert smtp.has_extn("dsn")
        smtp.login(owner.username, create_api_token(owner, "LPS")[1])
        assert smtp.rcpt(REMOTE)[0] == 503  # no MAIL yet
        code, _ = smtp.mail(hosted.address, ["RET=HDRS", "ENVID=Lps-42+2Bx"])
        assert code == 250
        assert smtp.rcpt(REMOTE, ["NOTIFY=BOGUS"])[0] == 501
        assert smtp.rcpt(REMOTE, ["NOTIFY=NEVER,SUCCESS"])[0] == 501
        code, _ = smtp.rcpt(REMOTE, ["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;Dr.Durand+2B1@x.test"])
        assert code == 250
        assert smtp.data(raw_from(hosted.address, REMOTE))[0] == 250
    row = OutboundDelivery.objects.get()
    assert row.notify == "DELAY,SUCCESS"
    assert row.original_recipient == "rfc822;Dr.Durand+1@x.test"
    assert (row.dsn_ret, row.envelope_id) == ("HDRS", "Lps-42+x")


def test_the_relay_port_does_not_announce_dsn(listeners: dict[str, int], pki: Pki) -> None:
    from .test_smtp_inbound import connect

    with connect(listeners["relay"], pki, pki.peer) as smtp:
        assert not smtp.has_extn("dsn")


def test_success_asked_gets_a_relayed_report_when_the_peer_has_no_dsn(
    peer: PeerOperator, hosted: Mailbox
) -> None:
    send(hosted, REMOTE, DsnRequest("HDRS", "env-7", notice(REMOTE, "SUCCESS", "rfc822;x@y.test")))
    outbound.deliver_due()
    [report] = reports(hosted)
    assert b"Action: relayed" in report and b"Status: 2.0.0" in report
    assert b"Original-Envelope-Id: env-7" in report
    assert b"Original-Recipient: rfc822; x@y.test" in report
    assert b"CONTENU-PRIVE" not in report


def test_no_success_report_by_default(peer: PeerOperator, hosted: Mailbox) -> None:
    send(hosted, REMOTE, DsnRequest())
    outbound.deliver_due()
    assert reports(hosted) == []


@pytest.mark.parametrize(("notify", "expected"), [("", 1), ("DELAY", 1), ("FAILURE", 0)])
def test_a_delayed_report_once_the_message_waited_the_configured_hours(
    peer: PeerOperator, hosted: Mailbox, smtp_settings: Any, notify: str, expected: int
) -> None:
    smtp_settings.EGIDE_SMTP_DELAY_WARNING_HOURS = 4
    send(hosted, FULL_MAILBOX, DsnRequest(recipients=notice(FULL_MAILBOX, notify)))
    outbound.deliver_due()  # first try: deferred, too early for a report
    assert reports(hosted) == []
    later = timezone.now() + datetime.timedelta(hours=5)
    outbound.deliver_due(now=later)
    outbound.deliver_due(now=later + datetime.timedelta(hours=5))  # only one delayed report
    found = reports(hosted)
    assert len(found) == expected
    if expected:
        assert b"Action: delayed" in found[0] and b"Status: 4.2.2" in found[0]


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        (DsnRequest(), b"text/rfc822-headers"),
        (DsnRequest("HDRS"), b"text/rfc822-headers"),
        (DsnRequest("FULL"), b"message/rfc822"),
        (DsnRequest(recipients=notice(UNKNOWN, "NEVER")), None),
        (DsnRequest(recipients=notice(UNKNOWN, "SUCCESS,DELAY")), None),
    ],
)
def test_a_failure_report_follows_notify_and_ret(
    peer: PeerOperator, hosted: Mailbox, dsn: DsnRequest, expected: bytes | None
) -> None:
    send(hosted, UNKNOWN, dsn)
    outbound.deliver_due()
    found = reports(hosted)
    if expected is None:
        assert found == []
        return
    [report] = found
    assert b"Action: failed" in report and expected in report
    assert (b"CONTENU-PRIVE" in report) == (dsn.ret == "FULL")


def test_dsn_parameters_are_read_strictly() -> None:
    arg, parsed = split_rcpt_parameters("TO:<a@b.test> NOTIFY=success,delay ORCPT=rfc822;a+40b")
    assert arg == "TO:<a@b.test>"
    assert parsed == RecipientNotice(frozenset({"SUCCESS", "DELAY"}), "rfc822;a@b")
    assert split_rcpt_parameters("TO:<a@b.test>") == ("TO:<a@b.test>", None)
    for bad in ("NOTIFY=", "NOTIFY=NEVER,DELAY", "ORCPT=nosemicolon", "ORCPT=rfc822;a+zz"):
        with pytest.raises(DsnSyntaxError):
            split_rcpt_parameters(f"TO:<a@b.test> {bad}")


def test_a_hosted_recipient_asked_with_success_gives_a_delivered_report(
    smtp_settings: Any, hosted: Mailbox, make_member: Any
) -> None:
    colleague = services.create_mailbox(
        hosted.practice,
        address="karim.bernard@tilleuls.egide.test",
        kind=MailboxKind.PERSONAL,
        display_name="Karim Bernard",
        owner=make_member(hosted.practice, "k.bernard"),
    )
    dsn = DsnRequest("", "lps-9", notice(colleague.address, "SUCCESS"))
    send(hosted, colleague.address, dsn)
    [report] = reports(hosted)
    assert b"Action: delivered" in report and b"Original-Envelope-Id: lps-9" in report
    assert Message.objects.filter(mailbox=colleague, folder=Folder.INBOX).count() == 1
    send(hosted, colleague.address, DsnRequest())  # by default, no success report
    assert len(reports(hosted)) == 1
