"""`egide mail inspect`: one JSON object, exit 0 when understood."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from egide.cli.main import cli

DATA = Path(__file__).resolve().parent.parent / "data" / "messaging"


def _inspect(path: Path, *extra: str) -> tuple[int, dict[str, object]]:
    result = CliRunner().invoke(cli, ["mail", "inspect", str(path), *extra])
    return result.exit_code, json.loads(result.stdout)


def test_inspect_describes_a_cda_and_exits_zero() -> None:
    code, data = _inspect(DATA / "cda" / "TLM-CR_2022.01.xml")
    assert code == 0
    assert data["kind"] == "cda"
    assert data["errors"] == []
    assert data["documents"][0]["mime_type"] == "text/xml"  # type: ignore[index]


def test_inspect_describes_an_xdm_package_with_warnings_and_exits_zero() -> None:
    code, data = _inspect(DATA / "xdm-direct" / "nhin-d_xd_xdm.zip")
    assert code == 0
    assert data["kind"] == "xdm"
    assert data["warnings"]


def test_inspect_describes_an_hl7_message() -> None:
    path = DATA / "hl7v2" / "Volets__Trans_LPS_CDA_MSSanté__V1.0__MDM__messageDocB64.hl7"
    code, data = _inspect(path)
    assert code == 0
    assert data["kind"] == "hl7v2"


def test_inspect_exits_non_zero_with_the_reason_for_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "IHE_XDM.ZIP"
    bad.write_bytes(b"PK\x03\x04 truncated")
    code, data = _inspect(bad)
    assert code == 1
    assert "tronquée" in " ".join(data["errors"])  # type: ignore[arg-type]


def test_inspect_refuses_a_file_far_over_the_size_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.eml"
    big.write_bytes(b"From: a@b.test\r\n\r\n" + b"x" * 5000)
    code, data = _inspect(big, "--max-bytes", "1000")
    assert code == 1
    assert "trop volumineux" in " ".join(data["errors"])  # type: ignore[arg-type]


FIXTURES = sorted(
    [
        *(DATA / "cda").glob("*.xml"),
        *(DATA / "hl7v2").iterdir(),
        *(DATA / "xdm-direct").glob("*.zip"),
    ]
)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name[-50:])
def test_every_cda_hl7_and_xdm_fixture_inspects_with_exit_zero(path: Path) -> None:
    code, data = _inspect(path)
    assert code == 0, data["errors"]
    assert data["kind"] in {"cda", "hl7v2", "xdm"}
