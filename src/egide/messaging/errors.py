"""Errors of the messaging engine.

Every message is in French and says what is wrong with the item, so that the console can show
it as is next to an item kept « à traiter »; none carries a stack trace or document content.

MessagingError
 ├── InvalidIdentifier        an RPPS, ADELI, INS… value that breaks its format or check digit
 ├── UnreadableInput          a received item cannot be understood (it is kept, never dropped)
 │    ├── UnsafeXml           a DTD, an entity, a parse bomb or an oversized XML document
 │    ├── InvalidCda          well-formed XML that is not a usable CDA R2 document
 │    ├── InvalidArchive      a ZIP that is truncated, corrupt, or not an IHE XDM package
 │    │    └── UnsafeArchive  a zip bomb, a path leaving the archive, a nested archive
 │    ├── InvalidHl7Message   an HL7 v2 message that cannot be parsed
 │    ├── MalformedMime       an e-mail whose MIME structure cannot be read
 │    └── InvalidTrustList    a «liste blanche» that cannot be read or whose signature fails
 ├── InvalidDraft             a message to send is malformed (line break in a header…)
 ├── MessageTooLarge          a message or attachment over the configured size limit
 ├── SendingForbidden         a document's confidentiality codes forbid it for that recipient
 ├── RenditionFailed          the readable PDF copy of a CDA could not be produced
 ├── DirectoryError           the national directory (Annuaire Santé files, search index)
 │    ├── DirectoryFileRefused   a file that is not the expected extraction (header, encoding)
 │    └── DirectoryIndexError    the search index cannot be opened or written
 └── SmtpRefusal              an SMTP command or message refused, with its reply code
"""


class MessagingError(Exception):
    """Base of every error raised by `egide.messaging`."""


class InvalidIdentifier(MessagingError, ValueError):
    """A health identifier is malformed; the message says which rule it breaks."""


class UnreadableInput(MessagingError):
    """A received item cannot be understood; the message says why."""


class UnsafeXml(UnreadableInput):
    """XML refused before or while parsing: DTD, entity declarations, size beyond the limit."""


class InvalidCda(UnreadableInput):
    """The XML is not a CDA R2 ClinicalDocument we can read."""


class InvalidArchive(UnreadableInput):
    """The ZIP is damaged or is not an IHE XDM package."""


class UnsafeArchive(InvalidArchive):
    """The ZIP would expand too much, nests archives, or names paths outside itself."""


class InvalidHl7Message(UnreadableInput):
    """The HL7 v2 message cannot be parsed."""


class MalformedMime(UnreadableInput):
    """The e-mail's MIME structure cannot be read."""


class InvalidDraft(MessagingError, ValueError):
    """A message to compose cannot be written as RFC 5322 (e.g. a header with a line break)."""


class MessageTooLarge(MessagingError):
    """A message or attachment exceeds the configured limit."""


class SendingForbidden(MessagingError):
    """The document must not be sent to this recipient (MASQUE_PS, INVISIBLE_PATIENT…)."""


class RenditionFailed(MessagingError):
    """The PDF copy of a CDA document could not be produced."""


class DirectoryError(MessagingError):
    """Base of the directory errors (`egide.messaging.directory`)."""


class DirectoryFileRefused(DirectoryError):
    """The whole file is refused (wrong header, not text); the message says why, in French."""


class DirectoryIndexError(DirectoryError):
    """The index cannot be opened, created or written (missing file, unreachable server)."""


class InvalidTrustList(UnreadableInput):
    """The «liste blanche» cannot be used: unreadable XML, no domain, or a bad signature."""


class SmtpRefusal(MessagingError):
    """An SMTP exchange is refused; `reply` is the full SMTP answer (code, enhanced code, text)."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply
