"""DSN (RFC 3464) and MDN (RFC 8098): what we write, and what we read back (ANS examples)."""

from __future__ import annotations

from pathlib import Path

import pytest

from egide.messaging import receipts
from egide.messaging.errors import SmtpRefusal
from egide.messaging.relay import Route, parse_static_routes
from egide.messaging.smtp_server import check_content

DATA = Path(__file__).parent.parent / "data/messaging/receipts"
ORIGINAL = (
    b"From: a@tilleuls.egide.test\r\nTo: b@medecin.mssante.test\r\n"
    b"Message-ID: <abc@tilleuls.egide.test>\r\nSubject: CR MARQUEUR\r\n\r\nCorps MARQUEUR\r\n"
)


def test_a_dsn_names_each_failed_recipient_and_never_carries_the_body() -> None:
    raw = receipts.compose_dsn(
        ORIGINAL,
        reporting_mta="mx.egide.test",
        postmaster="MAILER-DAEMON@mx.egide.test",
        to="a@tilleuls.egide.test",
        failures=[("b@medecin.mssante.test", "5.1.1", "550 5.1.1 No such user")],
    )
    assert b'report-type="delivery-status"' in raw
    assert b"Corps MARQUEUR" not in raw
    [report] = receipts.read_report(raw)
    assert report.kind == "dsn" and report.status == "failed"
    assert report.recipient == "b@medecin.mssante.test"
    assert report.original_message_id == "<abc@tilleuls.egide.test>"


def test_an_mdn_round_trips() -> None:
    raw = receipts.compose_mdn(
        sender="b@medecin.mssante.test",
        to="a@tilleuls.egide.test",
        final_recipient="b@medecin.mssante.test",
        original_message_id="<abc@tilleuls.egide.test>",
    )
    [report] = receipts.read_report(raw)
    assert (report.kind, report.status) == ("mdn", "displayed")
    assert report.original_message_id == "<abc@tilleuls.egide.test>"


def test_it_reads_the_ans_negative_mdn_example() -> None:
    [report] = receipts.read_report((DATA / "mdn-ko-902.eml").read_bytes())
    assert report.kind == "mdn" and report.status == "error"
    assert report.detail.startswith("902")


def test_ordinary_or_malformed_messages_are_not_reports() -> None:
    assert receipts.read_report(ORIGINAL) == []
    assert receipts.read_report(b"\xff\xfe garbage") == []
    as_printed = (DATA / "mdn-ko-902_v2025-01-17-as-printed.eml").read_bytes()
    assert isinstance(receipts.read_report(as_printed), list)


def test_static_routes_are_read_and_bad_ones_named() -> None:
    assert parse_static_routes(["Medecin.mssante.test=relay.test:2525"]) == {
        "medecin.mssante.test": Route("relay.test", 2525)
    }
    for bad in ["nodomain", "a.test=host", "=h:25", "a.test=h:port"]:
        with pytest.raises(ValueError, match="route SMTP invalide"):
            parse_static_routes([bad])


@pytest.mark.parametrize("data", [b"a\nb\r\n", b"a\rb\r\n", b"a\r\n\n.\n\r\n", b"a\x00b\r\n"])
def test_content_with_bare_line_ends_or_nul_is_refused(data: bytes) -> None:
    with pytest.raises(SmtpRefusal, match=r"^554"):
        check_content(data)
    check_content(b"a\r\nb\r\n")


def test_a_dsn_diagnostic_in_french_stays_ascii_in_the_report() -> None:
    original = b"From: a@b.test\r\nMessage-ID: <m1@b.test>\r\nSubject: x\r\n\r\ncorps\r\n"
    dsn = receipts.compose_dsn(
        original,
        reporting_mta="mx.egide.test",
        postmaster="MAILER-DAEMON@mx.egide.test",
        to="a@b.test",
        failures=[("c@d.test", "5.6.0", "message reçu mais illisible, « à traiter »")],
        action="failed",
    )
    assert b"Diagnostic-Code: smtp; message recu mais illisible, ? a traiter ?" in dsn
    [report] = receipts.read_report(dsn)
    assert (report.recipient, report.status) == ("c@d.test", "failed")
