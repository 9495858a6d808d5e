"""The outcome of one check: a frozen value that the CLI renders and the console stores."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Status(enum.StrEnum):
    """Outcome of a check.

    `pass` and `fail` are the only verdicts; `not_applicable` means the measure does not concern
    this computer (no Wi-Fi adapter, no removable drive plugged in); `not_checked` means the agent
    could not tell (tool missing, privileges needed, unknown output format or language); `error`
    means a command misbehaved (timeout, crash). Only `pass` counts as evidence of compliance.
    """

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    NOT_APPLICABLE = "not_applicable"
    ERROR = "error"
    NOT_CHECKED = "not_checked"


# JSON-friendly value observed on the computer (numbers, strings, lists, small mappings).
Observed = Any


@dataclass(frozen=True)
class CheckResult:
    """What one check found: the verdict, what was seen, why, and how to fix it.

    `explanation` and `remediation` are plain French for the practice's staff; `observed` is the
    raw value (kept small and JSON-serialisable) that justifies the verdict.
    """

    check: str
    measure_id: str
    status: Status
    observed: Observed
    explanation: str
    remediation: str = ""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable mapping of the result."""
        return {
            "check": self.check,
            "measure_id": self.measure_id,
            "status": self.status.value,
            "observed": self.observed,
            "explanation": self.explanation,
            "remediation": self.remediation,
        }
