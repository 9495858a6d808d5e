"""Errors of the compliance desk; each message is French and tells the person what to do.

ComplianceError
├── InvalidInput        a date in the past, an impossible deadline, a missing field
├── UnknownMeasure      a measure id that the current framework does not define
├── UploadRefused       a document of the wrong type, too large, or with active content
└── FrameworkFileError  a framework file refused at load (file, line, reason), defined in
                        framework_file.py
"""

from __future__ import annotations


class ComplianceError(Exception):
    """Base of every refusal of the compliance desk."""


class InvalidInput(ComplianceError):
    pass


class UnknownMeasure(ComplianceError):
    pass


class UploadRefused(ComplianceError):
    pass
