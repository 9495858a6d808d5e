"""Errors of the workstation posture checks.

PostureError
 ├── CommandError            a command could not give an answer
 │    ├── CommandNotFound       the program is not installed (or not on the PATH)
 │    ├── CommandTimedOut       the program did not answer within its time limit
 │    └── CommandDenied         the program refused to run without more privileges
 ├── OutputNotUnderstood     the answer has an unexpected format or language
 ├── ReportDeliveryFailed    the console did not accept a posture report
 └── MalformedReport         a received posture report does not follow format v1

Checks never let these escape: they turn them into a result whose status is `not_checked` or
`error` and whose explanation carries the reason, so that a missing tool or a foreign-language
answer can never be mistaken for a pass.
"""

from __future__ import annotations


class PostureError(Exception):
    """Base of every error raised by `egide.posture`."""


class CommandError(PostureError):
    """A command could not give an answer."""

    def __init__(self, argv: tuple[str, ...], reason: str) -> None:
        self.argv = argv
        self.reason = reason
        super().__init__(f"{argv[0] if argv else '?'}: {reason}")


class CommandNotFound(CommandError):
    """The program is not installed, or not on the PATH."""


class CommandTimedOut(CommandError):
    """The program did not answer within its time limit."""


class CommandDenied(CommandError):
    """The program needs more privileges (administrator, root) than the agent has."""


class OutputNotUnderstood(PostureError):
    """A command answered in a format or a language the parser does not know."""


class ReportDeliveryFailed(PostureError):
    """The console refused a posture report or could not be reached."""


class MalformedReport(PostureError, ValueError):
    """A posture report received by the console does not follow the documented format."""
