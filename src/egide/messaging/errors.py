"""Errors of the messaging engine.

MessagingError
 └── InvalidIdentifier   an RPPS, ADELI, INS… value that breaks its format or check digit
"""


class MessagingError(Exception):
    """Base of every error raised by `egide.messaging`."""


class InvalidIdentifier(MessagingError, ValueError):
    """A health identifier is malformed; the message says which rule it breaks."""
