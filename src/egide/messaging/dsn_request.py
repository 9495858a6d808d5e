"""What a sender asks about delivery notifications: the SMTP DSN extension (RFC 3461).

On `MAIL`: `RET=FULL|HDRS` (return the whole message or its headers in a failure report) and
`ENVID=<xtext>` (the sender's own id for this transaction, echoed in reports). On `RCPT`:
`NOTIFY=NEVER` or any of `SUCCESS,FAILURE,DELAY`, and `ORCPT=<addr-type>;<xtext>` (the original
recipient address, echoed in reports). No NOTIFY means the default of §5.1: failure and delay
reports, never a success report. Values keep their case (aiosmtpd upper-cases parameters, which
would change an ENVID), and xtext is decoded (`+2B` is `+`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "DsnRequest",
    "DsnSyntaxError",
    "RecipientNotice",
    "encode_xtext",
    "split_mail_parameters",
    "split_rcpt_parameters",
]

_XTEXT = re.compile(r"^(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*$")
_NOTIFY = {"SUCCESS", "FAILURE", "DELAY"}
MAX_ENVID = 100  # RFC 3461 §4.4: at most 100 characters
MAX_ORCPT = 500  # RFC 3461 §4.2: the RCPT line grows by at most 500 characters with ORCPT


class DsnSyntaxError(ValueError):
    """A DSN parameter is malformed: its SMTP reply (501)."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


def _xtext(value: str, name: str) -> str:
    if not _XTEXT.match(value):
        raise DsnSyntaxError(f"501 5.5.4 {name} is not valid xtext (RFC 3461 4)")
    return re.sub(r"\+([0-9A-F]{2})", lambda hit: chr(int(hit.group(1), 16)), value)


def encode_xtext(value: str) -> str:
    """`value` as xtext (RFC 3461 §4): «+», «=», spaces and controls become +XX."""
    return "".join(
        ch if 0x21 <= ord(ch) <= 0x7E and ch not in "+=" else f"+{ord(ch):02X}" for ch in value
    )


@dataclass(frozen=True)
class RecipientNotice:
    """NOTIFY and ORCPT of one recipient; `notify` empty means the RFC default."""

    notify: frozenset[str] = frozenset()
    original_recipient: str = ""  # «rfc822;addr», decoded

    def wants(self, event: str) -> bool:
        """Whether a report of `event` (SUCCESS, FAILURE or DELAY) is asked for."""
        if "NEVER" in self.notify:
            return False
        if not self.notify:
            return event in ("FAILURE", "DELAY")
        return event in self.notify

    @property
    def notify_parameter(self) -> str:
        return ",".join(sorted(self.notify))


@dataclass(frozen=True)
class DsnRequest:
    """RET and ENVID of a transaction, and the notices asked for each recipient."""

    ret: str = ""  # "FULL", "HDRS" or "" (not said: we return headers only)
    envelope_id: str = ""
    recipients: dict[str, RecipientNotice] = field(default_factory=dict)

    def notice(self, recipient: str) -> RecipientNotice:
        return self.recipients.get(recipient.lower(), RecipientNotice())


def _split(arg: str) -> tuple[str, list[tuple[str, str, str]]]:
    """The address part and (NAME, value, original word) of each parameter after it."""
    address, _, rest = arg.partition(">")
    words = rest.split()
    params = []
    for word in words:
        name, _, value = word.partition("=")
        params.append((name.upper(), value, word))
    return address + ">" if _ else arg, params


def split_mail_parameters(arg: str) -> tuple[str, str, str]:
    """MAIL's argument without RET/ENVID, and their values; DsnSyntaxError when malformed."""
    address, params = _split(arg)
    ret, envid, kept = "", "", []
    for name, value, word in params:
        if name == "RET":
            if ret or value.upper() not in ("FULL", "HDRS"):
                raise DsnSyntaxError("501 5.5.4 RET must be FULL or HDRS, once")
            ret = value.upper()
        elif name == "ENVID":
            if envid or not value or len(value) > MAX_ENVID:
                raise DsnSyntaxError("501 5.5.4 ENVID must be 1 to 100 characters, once")
            envid = _xtext(value, "ENVID")
        else:
            kept.append(word)
    return " ".join([address, *kept]), ret, envid


def split_rcpt_parameters(arg: str) -> tuple[str, RecipientNotice | None]:
    """RCPT's argument without NOTIFY/ORCPT, and the notice (None when neither was given)."""
    address, params = _split(arg)
    notify: frozenset[str] | None = None
    orcpt = ""
    kept = []
    for name, value, word in params:
        if name == "NOTIFY":
            items = frozenset(item.strip().upper() for item in value.split(","))
            if notify is not None or not items or not (items == {"NEVER"} or items <= _NOTIFY):
                raise DsnSyntaxError(
                    "501 5.5.4 NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY"
                )
            notify = items
        elif name == "ORCPT":
            kind, semicolon, encoded = value.partition(";")
            if orcpt or not semicolon or not kind or not encoded or len(value) > MAX_ORCPT:
                raise DsnSyntaxError("501 5.5.4 ORCPT must be addr-type;xtext, once")
            orcpt = f"{kind.lower()};{_xtext(encoded, 'ORCPT')}"
        else:
            kept.append(word)
    if notify is None and not orcpt:
        return " ".join([address, *kept]), None
    return " ".join([address, *kept]), RecipientNotice(notify or frozenset(), orcpt)
