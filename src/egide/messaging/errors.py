"""Errors of the messaging engine.

MessagingError
 ├── InvalidIdentifier   an RPPS, ADELI, INS… value that breaks its format or check digit
 └── DirectoryError      the national directory (Annuaire Santé files, search index)
      ├── DirectoryFileRefused   a file that is not the expected extraction (header, encoding)
      └── DirectoryIndexError    the search index cannot be opened or written
"""


class MessagingError(Exception):
    """Base of every error raised by `egide.messaging`."""


class InvalidIdentifier(MessagingError, ValueError):
    """A health identifier is malformed; the message says which rule it breaks."""


class DirectoryError(MessagingError):
    """Base of the directory errors (`egide.messaging.directory`)."""


class DirectoryFileRefused(DirectoryError):
    """The whole file is refused (wrong header, not text); the message says why, in French."""


class DirectoryIndexError(DirectoryError):
    """The index cannot be opened, created or written (missing file, unreachable server)."""
