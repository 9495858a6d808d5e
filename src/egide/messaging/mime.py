"""Composing and reading e-mail messages (RFC 5322 / MIME) with Python's `email` package.

Composition uses `email.policy.SMTP` (CRLF line ends, RFC 2047 encoded words for non-ASCII
headers, RFC 2231 file names) so that any MSSanté operator's MTA accepts the bytes; text is
UTF-8 (ECO.2.2.3). Threading follows RFC 5322 §3.6.4: a reply carries `In-Reply-To` (the parent's
Message-ID) and `References` (the parent's References then its Message-ID).

Reading is lenient, as `email` is, but not blind: the parser's defects become warnings, and
those that leave the structure unknowable (a multipart without its boundary) are errors.
"""

from __future__ import annotations

import email.errors
import email.policy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, make_msgid

from .errors import InvalidDraft, MalformedMime, MessageTooLarge

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Attachment",
    "Draft",
    "ReceivedMessage",
    "compose_message",
    "parse_message",
    "reply_threading",
]

DEFAULT_MAX_BYTES = 25 * 1024 * 1024  # the MES limit; operators may configure their own

_FATAL_DEFECTS = (
    email.errors.NoBoundaryInMultipartDefect,
    email.errors.StartBoundaryNotFoundDefect,
    email.errors.MultipartInvariantViolationDefect,
)
_KNOWN_HEADERS = ("from", "to", "subject", "date", "message-id", "content-type", "mime-version")


@dataclass(frozen=True)
class Attachment:
    """A file attached to a message."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Draft:
    """A message to compose. `headers` adds e.g. the X-MSS-* headers."""

    sender: str
    recipients: tuple[str, ...]
    subject: str
    body: str
    attachments: tuple[Attachment, ...] = ()
    cc: tuple[str, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ReceivedMessage:
    """A parsed message: routing and threading headers, text body, attachments, defects."""

    message_id: str | None
    subject: str
    sender: str
    recipients: tuple[str, ...]
    date: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    headers: dict[str, str]
    body: str
    attachments: list[Attachment]
    warnings: list[str]


def _too_large(what: str, size: int, limit: int) -> MessageTooLarge:
    return MessageTooLarge(
        f"{what} : {size / 1_048_576:.1f} Mo, au-delà de la limite de {limit / 1_048_576:.0f} Mo "
        "de la messagerie. Réduisez ou scindez l'envoi."
    )


def compose_message(draft: Draft, *, domain: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The RFC 5322 bytes of `draft`, with a fresh Message-ID in `domain`.

    Raises MessageTooLarge when an attachment or the whole message exceeds `max_bytes`.
    """
    for attachment in draft.attachments:
        if len(attachment.data) > max_bytes:
            raise _too_large(
                f"Pièce jointe « {attachment.filename} »", len(attachment.data), max_bytes
            )
    message = EmailMessage(policy=email.policy.SMTP)
    headers = {
        "From": draft.sender,
        "To": ", ".join(draft.recipients),
        "Cc": ", ".join(draft.cc),
        "Subject": draft.subject,
        "Date": format_datetime(datetime.now(UTC)),
        "Message-ID": make_msgid(domain=domain),
        "In-Reply-To": draft.in_reply_to or "",
        "References": " ".join(draft.references),
        **draft.headers,
    }
    for name, value in headers.items():
        if not value:
            continue
        # A line break in a value would let it forge headers; `email` refuses it, we say why.
        if "\r" in value or "\n" in value:
            raise InvalidDraft(f"En-tête {name} : un retour à la ligne n'y est pas permis.")
        try:
            message[name] = value
        except (ValueError, IndexError, email.errors.HeaderParseError):
            raise InvalidDraft(f"En-tête {name} invalide : « {value[:80]} ».") from None
    message.set_content(draft.body, charset="utf-8")
    for attachment in draft.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )  # fmt: skip
    data = message.as_bytes()
    if len(data) > max_bytes:
        raise _too_large("Message", len(data), max_bytes)
    return data


def reply_threading(parent: ReceivedMessage) -> tuple[str | None, tuple[str, ...]]:
    """(In-Reply-To, References) for a reply to `parent` (RFC 5322 §3.6.4)."""
    if parent.message_id is None:
        return None, parent.references
    return parent.message_id, (*parent.references, parent.message_id)


def _header(message: Message, name: str, warnings: list[str]) -> str | None:
    try:
        value = message.get(name)
    except (ValueError, TypeError, IndexError, email.errors.HeaderParseError):
        warnings.append(f"En-tête {name} illisible.")
        return None
    if value is None:
        return None
    text = str(value).strip()
    defects = getattr(value, "defects", ())
    if defects:
        warnings.append(f"En-tête {name} non conforme ({type(defects[0]).__name__}).")
    return text or None


def _defects(message: Message) -> tuple[list[str], list[str]]:
    warnings: list[str] = []
    errors: list[str] = []
    for part in message.walk():
        for defect in part.defects:
            label = f"{type(defect).__name__} ({part.get_content_type()})"
            (errors if isinstance(defect, _FATAL_DEFECTS) else warnings).append(label)
    return warnings, errors


def _body_and_attachments(message: Message, max_bytes: int) -> tuple[str, list[Attachment]]:
    body_part = None
    if isinstance(message, EmailMessage):
        body_part = message.get_body(preferencelist=("plain", "html"))
    body = ""
    if body_part is not None and isinstance(body_part, EmailMessage):
        try:
            body = str(body_part.get_content())
        except (LookupError, ValueError, TypeError):
            payload = body_part.get_payload(decode=True)
            body = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    attachments: list[Attachment] = []
    for part in message.walk():
        if part.is_multipart() or part is body_part:
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        name = part.get_filename() or f"partie-{len(attachments) + 1}"
        if len(data) > max_bytes:
            raise _too_large(f"Pièce jointe « {name} »", len(data), max_bytes)
        attachments.append(Attachment(name, part.get_content_type(), data))
    return body, attachments


def parse_message(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ReceivedMessage:
    """Parse received message bytes; raise MalformedMime or MessageTooLarge with the reason."""
    if len(data) > max_bytes:
        raise _too_large("Message", len(data), max_bytes)
    if not data.strip():
        raise MalformedMime("Message vide.")
    try:
        message = BytesParser(policy=email.policy.default).parsebytes(data)
        known = [h for h in _KNOWN_HEADERS if h in {k.lower() for k in message}]
        if not known:
            raise MalformedMime("Ce fichier n'a aucun en-tête de courriel (From, To, Subject…).")
        warnings, fatal = _defects(message)
        if fatal:
            raise MalformedMime(
                "Structure MIME illisible : "
                + ", ".join(fatal[:3])
                + ". Le message doit être examiné à la main."
            )
        body, attachments = _body_and_attachments(message, max_bytes)
        return _received(message, warnings, body, attachments)
    except (MalformedMime, MessageTooLarge):
        raise
    except Exception as error:  # the email package may raise many types on hostile input
        raise MalformedMime(f"Message illisible ({type(error).__name__}).") from None


def _received(
    message: Message, warnings: list[str], body: str, attachments: list[Attachment]
) -> ReceivedMessage:
    headers = {
        key: value
        for key in ("X-MSS-CODECDA", "X-MSS-INS", "X-MSS-NIL", "X-MSS-MES")
        if (value := _header(message, key, warnings)) is not None
    }
    references = _header(message, "References", warnings)
    raw = [v for h in ("To", "Cc") if (v := _header(message, h, warnings)) is not None]
    recipients = [address for _, address in getaddresses(raw) if address]
    return ReceivedMessage(
        message_id=_header(message, "Message-ID", warnings),
        subject=_header(message, "Subject", warnings) or "",
        sender=_header(message, "From", warnings) or "",
        recipients=tuple(recipients),
        date=_header(message, "Date", warnings),
        in_reply_to=_header(message, "In-Reply-To", warnings),
        references=tuple(references.split()) if references else (),
        headers=headers,
        body=body,
        attachments=attachments,
        warnings=[f"Défaut MIME toléré : {w}" for w in warnings],
    )


def parse_headers(data: bytes) -> ReceivedMessage:
    """The header section alone (empty body, no attachments): routing before the full parse.

    Reads only up to the first empty line, with the email package's light `compat32` policy
    (encoded words decoded here), so that its cost does not grow with the attachments and
    stays well below `parse_message`'s. Raises MalformedMime when nothing can be read.
    """
    end = data.find(b"\r\n\r\n")  # SMTP data is CRLF; a bare-LF file is rarer (and slower)
    if end < 0:
        end = data.find(b"\n\n")
    head = data[:end] if end >= 0 else data
    try:
        message = BytesParser(policy=email.policy.compat32).parsebytes(
            head + b"\r\n\r\n", headersonly=True
        )

        def text(name: str) -> str | None:
            value = message.get(name)
            if value is None:
                return None
            decoded = str(make_header(decode_header(str(value)))).strip()
            return " ".join(decoded.split()) or None

        references = text("References")
        raw = [v for h in ("To", "Cc") if (v := text(h)) is not None]
        return ReceivedMessage(
            message_id=text("Message-ID"),
            subject=text("Subject") or "",
            sender=text("From") or "",
            recipients=tuple(address for _, address in getaddresses(raw) if address),
            date=text("Date"),
            in_reply_to=text("In-Reply-To"),
            references=tuple(references.split()) if references else (),
            headers={},
            body="",
            attachments=[],
            warnings=[],
        )
    except Exception as error:  # the email package may raise many types on hostile input
        raise MalformedMime(f"En-têtes illisibles ({type(error).__name__}).") from None
