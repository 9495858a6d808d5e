"""The XDM files Égide writes are frozen by golden vectors (docs/formats/ihe-xdm.md).

A change here changes what receivers get: update the golden files on purpose, in the same
commit as the format page.
"""

from __future__ import annotations

import io
import zipfile

import pytest

from egide.messaging.xdm import build_xdm
from egide.messaging.xdm_metadata import SubmissionSet

from .conftest import DATA, LEVEL3_CDA

GOLDEN = DATA / "golden"


@pytest.mark.parametrize(
    ("member", "golden"),
    [
        ("README.TXT", "README.TXT"),
        ("INDEX.HTM", "INDEX.HTM"),
        ("IHE_XDM/SUBSET01/METADATA.XML", "METADATA.XML"),
    ],
)
def test_built_package_files_match_the_golden_vectors(member: str, golden: str) -> None:
    submission = SubmissionSet(
        source_id="1.2.250.1.999.1",
        patient_id="279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH",
        unique_id="2.25.1",
        submission_time="20260101000000",
        title="Golden",
    )
    package = build_xdm(
        [LEVEL3_CDA.read_bytes()],
        source_id="1.2.250.1.999.1",
        sender="Dr Charles BOILEAU",
        submission=submission,
    )
    with zipfile.ZipFile(io.BytesIO(package.data)) as archive:
        assert archive.read(member) == (GOLDEN / golden).read_bytes()
