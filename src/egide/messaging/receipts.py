"""Delivery status notifications (DSN, RFC 3464) and read receipts (MDN, RFC 8098).

Both are `multipart/report` messages (RFC 6522): a human-readable part (in French here), a
machine-readable part (`message/delivery-status` or `message/disposition-notification`), and
the original message's headers — never its body, which may carry health data the report's
path was not meant for. `read_report` recognises reports that come back, so that the sender's
timeline can move on (accepted → delivered → read → integrated).
"""

from __future__ import annotations

import email.policy
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, make_msgid

__all__ = [
    "Report",
    "compose_dsn",
    "compose_mdn",
    "is_report",
    "notification_address",
    "original_headers",
    "read_report",
]

_HEADER_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Report:
    """What a received DSN or MDN says about one of our messages."""

    kind: str  # "dsn" or "mdn"
    original_message_id: str
    recipient: str
    # DSN: "delivered", "failed", "delayed", "relayed", "expanded"; MDN: "displayed",
    # "processed", "deleted", "dispatched", or "error" when the disposition carries one.
    status: str
    detail: str = ""


def original_headers(raw: bytes) -> bytes:
    """The header block of a message (up to the first empty line), capped in size."""
    end = raw.find(b"\r\n\r\n")
    end = end + 2 if end >= 0 else min(len(raw), _HEADER_LIMIT)
    return raw[: min(end, _HEADER_LIMIT)]


def _report(
    *, sender: str, to: str, subject: str, text: str, domain: str, report_type: str
) -> EmailMessage:
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-replied"
    message.set_content(text)
    message.make_mixed()
    message.replace_header("Content-Type", f"multipart/report; report-type={report_type}")
    return message


def _attach(message: EmailMessage, body: str, content_type: str) -> None:
    part = EmailMessage(policy=email.policy.SMTP)
    part["Content-Type"] = content_type
    if content_type == "message/delivery-status":
        # The email package writes this type as a list of header blocks, one per group.
        blocks = [block for block in body.split("\r\n\r\n") if block.strip()]
        part.set_payload(
            [
                email.message_from_string(block + "\r\n\r\n", policy=email.policy.SMTP)
                for block in blocks
            ]
        )
    else:
        part.set_payload(body)
    message.attach(part)


_DSN_TEXT = {
    "failed": (
        "Échec de remise : message non distribué",
        "Votre message n'a pas pu être remis aux destinataires suivants :",
        "Aucune autre tentative ne sera faite. Vérifiez l'adresse dans l'annuaire santé.",
    ),
    "delayed": (
        "Remise retardée : nouvel essai en cours",
        "Votre message n'a pas encore pu être remis aux destinataires suivants :",
        "Rien à faire pour l'instant : de nouveaux essais sont faits pendant quatre jours, "
        "et vous serez prévenu en cas d'échec définitif.",
    ),
    "relayed": (
        "Remise effectuée : message transmis",
        "Votre message a été transmis à la messagerie des destinataires suivants :",
        "Cette messagerie ne confirme pas la remise finale dans la boîte du destinataire.",
    ),
    "delivered": (
        "Remise effectuée",
        "Votre message a été remis aux destinataires suivants :",
        "",
    ),
}


def _ascii(text: str) -> str:
    """A header field of the report is ASCII (RFC 3464 §2.1.2): accents go, anything else is ?."""
    decomposed = unicodedata.normalize("NFKD", text)
    return (
        "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        .encode("ascii", "replace")
        .decode("ascii")
    )


def compose_dsn(
    original: bytes,
    *,
    reporting_mta: str,
    postmaster: str,
    to: str,
    failures: Sequence[tuple[str, str, str]],
    action: str = "failed",
    envelope_id: str = "",
    original_recipients: Mapping[str, str] | None = None,
    return_content: bool = False,
) -> bytes:
    """A DSN to `to` for (recipient, status code like 5.1.1, diagnostic) triples.

    `action` is RFC 3464's: failed (default), delayed, relayed or delivered. `envelope_id` and
    `original_recipients` (recipient → «rfc822;addr») echo the sender's ENVID and ORCPT (RFC
    3461). The original's headers are returned, the whole message only with `return_content`
    (RET=FULL): the report goes back to the sender's own mailbox, but by default no body travels.
    """
    subject, opening, closing = _DSN_TEXT[action]
    lines = [
        opening,
        "",
        *[f"  {recipient} : {diagnostic}" for recipient, _, diagnostic in failures],
        "",
        closing,
    ]
    message = _report(
        sender=postmaster,
        to=to,
        subject=subject,
        text="\n".join(lines) + "\n",
        domain=reporting_mta,
        report_type="delivery-status",
    )
    fields = [f"Reporting-MTA: dns; {reporting_mta}"]
    if envelope_id:
        fields.append(f"Original-Envelope-Id: {envelope_id}")
    fields += [f"Arrival-Date: {message['Date']}", ""]
    originals = original_recipients or {}
    for recipient, status, diagnostic in failures:
        if originals.get(recipient):
            kind, _, address = originals[recipient].partition(";")
            fields.append(f"Original-Recipient: {kind}; {address}")
        fields += [
            f"Final-Recipient: rfc822; {recipient}",
            f"Action: {action}",
            f"Status: {status}",
            f"Diagnostic-Code: smtp; {_ascii(' '.join(diagnostic.split()))[:400]}",
            "",
        ]
    _attach(message, "\r\n".join(fields), "message/delivery-status")
    if return_content:
        part = EmailMessage(policy=email.policy.SMTP)
        part["Content-Type"] = "message/rfc822"
        part.set_payload([BytesParser(policy=email.policy.SMTP).parsebytes(original)])
        message.attach(part)
    else:
        headers = original_headers(original).decode("ascii", "replace")
        _attach(message, headers, "text/rfc822-headers")
    return message.as_bytes()


def compose_mdn(
    *,
    sender: str,
    to: str,
    final_recipient: str,
    original_message_id: str,
    disposition: str = "manual-action/MDN-sent-manually; displayed",
    reporting_ua: str = "Egide",  # ASCII: a header field inside the report
) -> bytes:
    """An MDN telling `to` what became of its message at `final_recipient` (RFC 8098 §3)."""
    domain = sender.rpartition("@")[2] or "localhost"
    message = _report(
        sender=sender,
        to=to,
        subject="Accusé de lecture",
        text=f"Votre message {original_message_id} a été ouvert par {final_recipient}.\n",
        domain=domain,
        report_type="disposition-notification",
    )
    fields = [
        f"Reporting-UA: {domain}; {reporting_ua}",
        f"Final-Recipient: rfc822; {final_recipient}",
        f"Original-Message-ID: {original_message_id}",
        f"Disposition: {disposition}",
        "",
    ]
    _attach(message, "\r\n".join(fields), "message/disposition-notification")
    return message.as_bytes()


def notification_address(raw: bytes) -> str | None:
    """The address a read receipt was requested for (`Disposition-Notification-To`), if any."""
    headers = BytesParser(policy=email.policy.compat32).parsebytes(
        original_headers(raw), headersonly=True
    )
    value = headers.get("Disposition-Notification-To")
    if not isinstance(value, str):
        return None
    for _, address in getaddresses([value]):
        if "@" in address and not any(ch.isspace() for ch in address):
            return address
    return None


def _fields(block: str) -> list[dict[str, str]]:
    groups: list[dict[str, str]] = [{}]
    for line in block.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if groups[-1]:
                groups.append({})
            continue
        name, colon, value = line.partition(":")
        if colon:
            groups[-1][name.strip().lower()] = value.strip()
    return [group for group in groups if group]


def _address(value: str) -> str:
    return value.partition(";")[2].strip().strip("<>").lower() or value.strip().lower()


def is_report(raw: bytes) -> bool:
    """True for a DSN or MDN (a `multipart/report`), judged on the header block alone.

    Reports travel with a null reverse-path (`MAIL FROM:<>`, RFC 5321 §4.5.5, RFC 3464, RFC
    8098), so that a report that cannot be delivered never causes another report (mail loops).
    """
    headers = BytesParser(policy=email.policy.compat32).parsebytes(
        original_headers(raw), headersonly=True
    )
    return headers.get_content_type() == "multipart/report"


def read_report(raw: bytes) -> list[Report]:
    """The reports a received message carries; empty when it is not a DSN or MDN."""
    # Most mail is not a report: decide on the header block alone before parsing the body.
    if not is_report(raw):
        return []
    message = BytesParser(policy=email.policy.default).parsebytes(raw[: 1024 * 1024])
    if message.get_content_type() != "multipart/report":
        return []
    reports: list[Report] = []
    original_id = ""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
            for group in _fields(text):
                original_id = original_id or group.get("message-id", "")
        elif kind in ("message/delivery-status", "message/disposition-notification"):
            body = _body_text(part)
            groups = _fields(body)
            if kind == "message/delivery-status":
                for group in groups[1:] if len(groups) > 1 else groups:
                    if "final-recipient" in group:
                        reports.append(
                            Report(
                                "dsn",
                                group.get("original-message-id", ""),
                                _address(group["final-recipient"]),
                                group.get("action", "").lower(),
                                group.get("diagnostic-code", group.get("status", "")),
                            )
                        )
            else:
                for group in groups:
                    disposition = group.get("disposition", "")
                    status = disposition.rpartition(";")[2].strip().lower()
                    status, _, error = status.partition("/error")
                    reports.append(
                        Report(
                            "mdn",
                            group.get("original-message-id", ""),
                            _address(group.get("final-recipient", "")),
                            "error" if error else status,
                            error.lstrip(":").strip(),
                        )
                    )
    return [
        report
        if report.original_message_id
        else Report(report.kind, original_id, report.recipient, report.status, report.detail)
        for report in reports
    ]


def _body_text(part: Message) -> str:
    payload = part.get_payload()
    if isinstance(payload, list):  # the email package parses these bodies as header blocks
        return "\n\n".join(
            "\n".join(f"{name}: {value}" for name, value in sub.items())
            for sub in payload
            if isinstance(sub, Message)
        )
    if isinstance(payload, str):
        return payload
    return ""
