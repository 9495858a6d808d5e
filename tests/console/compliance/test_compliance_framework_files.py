"""The framework files shipped with Égide, and bad files refused with file, line and reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from egide.console.compliance import framework_file, services
from egide.console.compliance.framework_file import FrameworkFileError, FrameworkSpec
from egide.console.compliance.models import Assessment, Framework, Measure, Profile

FRAMEWORKS = services.FRAMEWORKS_DIR
REFERENCE_IDS = (
    [f"RCM-SEN-{n}" for n in (1, 2)]
    + [f"RCM-AUT-{n}" for n in range(1, 5)]
    + [f"RCM-HAB-{n}" for n in range(1, 4)]
    + [f"RCM-TRA-{n}" for n in range(1, 5)]
    + [f"RCM-POS-{n}" for n in range(1, 5)]
    + [f"RCM-MOB-{n}" for n in range(1, 4)]
    + [f"RCM-RES-{n}" for n in range(1, 4)]
    + [f"RCM-SRV-{n}" for n in range(1, 4)]
    + [f"RCM-WEB-{n}" for n in range(1, 5)]
    + [f"RCM-SAV-{n}" for n in range(1, 5)]
    + [f"RCM-ARC-{n}" for n in (1, 2)]
    + [f"RCM-MNT-{n}" for n in range(1, 4)]
    + [f"RCM-STT-{n}" for n in range(1, 4)]
    + [f"RCM-ECH-{n}" for n in range(1, 4)]
    + [f"RCM-LOC-{n}" for n in (1, 2)]
    + [f"RCM-DEV-{n}" for n in range(1, 4)]
    + [f"RCM-CRY-{n}" for n in (1, 2)]
    + [f"RCM-SAN-{n}" for n in range(1, 5)]
)


def _shipped() -> FrameworkSpec:
    frameworks, _ = framework_file.read_directory(FRAMEWORKS)
    (spec,) = frameworks
    return spec


def test_the_shipped_framework_holds_every_measure_of_the_reference() -> None:
    ids = {measure.id for measure in _shipped().measures}
    assert set(REFERENCE_IDS) <= ids
    assert len(REFERENCE_IDS) == 56


def test_conditional_and_health_measures_are_marked() -> None:
    measures = {measure.id: measure for measure in _shipped().measures}
    for ref in ("RCM-WEB-1", "RCM-DEV-2", "RCM-CRY-1"):
        assert measures[ref].conditional and measures[ref].applies_if
    for ref in ("RCM-SAN-1", "RCM-SAN-2", "RCM-SAN-3", "RCM-SAN-4"):
        assert measures[ref].to_verify
    assert not measures["RCM-SAV-1"].to_verify


def test_the_loader_conditions_match_the_practice_profile() -> None:
    assert set(Profile.CONDITIONS) == framework_file.CONDITIONS


@pytest.mark.django_db
def test_loading_twice_imports_once_and_audits_the_import() -> None:
    first = services.load_frameworks()
    second = services.load_frameworks()
    assert [created for _, created in first] == [True]
    assert [created for _, created in second] == [False]
    assert Measure.objects.count() == len(_shipped().measures)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    target = tmp_path / "frameworks"
    target.mkdir(exist_ok=True)
    for shipped in FRAMEWORKS.glob("*.yaml"):
        if not (target / shipped.name).exists():
            (target / shipped.name).write_bytes(shipped.read_bytes())
    (target / name).write_text(text, encoding="utf-8")
    return target


def _shipped_text() -> str:
    return (FRAMEWORKS / "referentiel-cabinets-2020.yaml").read_text(encoding="utf-8")


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(
    ("change", "needle", "reason"),
    [
        (
            ("id: RCM-SEN-2", "id: RCM-SEN-1"),
            "id: RCM-SEN-1\n    theme: SEN\n    title: Avoir",
            "en double",
        ),
        (
            ("theme: LOC\n    title: Alarme", "theme: XYZ\n    title: Alarme"),
            "theme: XYZ",
            "thème « XYZ » non déclaré",
        ),
        (('guide_2024: ["12.2"]', 'guide_2024: ["42.1"]'), '"42.1"', "fiche 42 n'existe pas"),
        (
            (
                "evidence: [automatic_agent]\n    renewal_days: 7",
                "evidence: [telepathy]\n    renewal_days: 7",
            ),
            "telepathy",
            "mode de preuve inconnu",
        ),
        (("renewal_days: 7\n", "renewal_days: sept\n"), "renewal_days: sept", "nombre entier"),
        (("applies_if: [website]", "applies_if: [yacht]"), "yacht", "condition inconnue"),
        (
            ("    question: Votre cabinet a-t-il une alarme testée régulièrement ?\n", ""),
            "id: RCM-LOC-2",
            "clé obligatoire absente « question »",
        ),
        (
            ("    to_verify: true\n", "    to_verify: true\n    to_verify: true\n"),
            "\n    to_verify: true\n    to_verify: true",
            "en double",
        ),
        (
            ("    title: Sensibiliser toute", "    surprise: 1\n    title: Sensibiliser toute"),
            "surprise",
            "clé inconnue",
        ),
        (
            ("  - id: RCM-SEN-1\n", "  - id: RCM-SEN-1\n  bad: [unclosed\n"),
            "bad: [unclosed",
            "YAML illisible",
        ),
    ],
)
def test_it_refuses_a_bad_framework_file_with_file_line_and_reason(
    tmp_path: Path, change: tuple[str, str], needle: str, reason: str
) -> None:
    text = _shipped_text().replace(*change, 1)
    assert text != _shipped_text()
    directory = _write(tmp_path, "referentiel-cabinets-2020.yaml", text)
    with pytest.raises(FrameworkFileError) as caught:
        framework_file.read_directory(directory)
    error = caught.value
    assert error.path.name == "referentiel-cabinets-2020.yaml"
    assert reason in error.reason
    # a needle starting with a newline points at the line after it (the repeated key)
    expected = _line_of(text, needle) + (2 if needle.startswith("\n") else 0)
    if reason == "YAML illisible":
        assert abs(error.line - expected) <= 1
    else:
        assert error.line == expected
    assert re.match(r".*referentiel-cabinets-2020\.yaml:\d+: ", str(error))


def test_it_refuses_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    directory = _write(tmp_path, "latin1.yaml", "")
    (directory / "latin1.yaml").write_bytes(b"format: egide-framework/1\ntitle: \xe9t\xe9\n")
    with pytest.raises(FrameworkFileError) as caught:
        framework_file.read_directory(directory)
    assert caught.value.line == 2
    assert "UTF-8" in caught.value.reason


def test_it_refuses_an_unknown_format_and_an_empty_file(tmp_path: Path) -> None:
    directory = _write(tmp_path, "autre.yaml", "format: autre/9\n")
    with pytest.raises(FrameworkFileError, match="format inconnu"):
        framework_file.read_directory(directory)
    (directory / "autre.yaml").write_text("", encoding="utf-8")
    with pytest.raises(FrameworkFileError, match="vide"):
        framework_file.read_directory(directory)


@pytest.mark.django_db
def test_a_new_framework_version_keeps_past_assessments(tmp_path: Path, practice: object) -> None:
    services.load_frameworks()
    old = Framework.objects.get(is_current=True)
    assessment = Assessment.objects.create(practice=practice, framework=old)  # type: ignore[misc]
    text = _shipped_text().replace('version: "2020.1"', 'version: "2020.2"')
    directory = _write(tmp_path, "referentiel-cabinets-2020.yaml", text)
    services.load_frameworks(directory)
    new = Framework.objects.get(is_current=True)
    assert new.version == "2020.2"
    assessment.refresh_from_db()
    assert assessment.framework == old
    assert (
        Measure.objects.filter(framework=old).count()
        == Measure.objects.filter(framework=new).count()
    )


@pytest.mark.django_db
def test_changed_bytes_under_the_same_version_are_refused(tmp_path: Path) -> None:
    services.load_frameworks()
    text = _shipped_text().replace("Sensibiliser toute personne", "Sensibiliser chaque personne")
    directory = _write(tmp_path, "referentiel-cabinets-2020.yaml", text)
    with pytest.raises(FrameworkFileError, match="changez le numéro de version"):
        services.load_frameworks(directory)


def test_the_register_prefill_refers_only_to_measures_of_the_framework() -> None:
    from egide.console.compliance.register import prefill_data

    ids = {measure.id for measure in _shipped().measures}
    for activity in prefill_data()["activities"]:
        assert set(activity["measures"]) <= ids, activity["code"]
        for key in ("purposes", "data_subjects", "data_categories", "recipients"):
            assert all(isinstance(item, str) for item in activity[key]), (activity["code"], key)
        assert all(set(item) == {"data", "duration"} for item in activity["retention"])


def test_random_damage_to_a_framework_file_is_always_refused_cleanly(tmp_path: Path) -> None:
    import random

    original = (FRAMEWORKS / "referentiel-cabinets-2020.yaml").read_bytes()
    generator = random.Random(20261128)
    target = tmp_path / "damaged.yaml"
    outcomes = {"refused": 0, "accepted": 0}
    for _ in range(80):
        data = bytearray(original)
        for _ in range(generator.randint(1, 6)):
            position = generator.randrange(len(data))
            operation = generator.choice(("flip", "delete", "insert"))
            if operation == "flip":
                data[position] = generator.randrange(256)
            elif operation == "delete":
                del data[position : position + generator.randint(1, 40)]
            else:
                data[position:position] = generator.choice(
                    [b": ", b"\n  - ", b"&a ", b"*a", b"{", b"]", b"\t", b"0x1F", b"!!binary "]
                )
        target.write_bytes(bytes(data))
        try:
            framework_file.read_file(target)
        except FrameworkFileError as error:
            assert error.line >= 1 and error.reason
            outcomes["refused"] += 1
        else:
            outcomes["accepted"] += 1
    assert outcomes["refused"] > 30
