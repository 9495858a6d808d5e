"""`egide directory import|search|history` on the embedded index."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from egide.cli.main import cli

DATA = Path(__file__).parents[1] / "data" / "directory"
SAMPLE = DATA / "Extraction_Correspondance_MSSante_sample.txt"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_it_imports_then_searches_as_json(tmp_path: Path) -> None:
    code, out, _ = run("directory", "import", str(SAMPLE), "--index", str(tmp_path))
    assert code == 0
    assert "10 entrée(s) publiée(s)" in out
    assert "1 doublon(s) fusionné(s)" in out
    code, out, _ = run("directory", "search", "kiné lyon", "--index", str(tmp_path), "--json")
    assert code == 0
    found = json.loads(out)
    assert found[0]["address"] == "paul.martin@kine.mssante.fr"
    assert found[0]["display_name"] == "M Paul MARTIN"
    code, out, _ = run("directory", "search", "infirmière", "--index", str(tmp_path))
    assert "lea.durand@infirmier.mssante.fr" in out
    code, out, _ = run("directory", "history", "--index", str(tmp_path))
    assert "+10 -0 ~0" in out


def test_it_reports_the_import_as_json_with_malformed_lines(tmp_path: Path) -> None:
    broken = tmp_path / "broken.txt"
    broken.write_text(SAMPLE.read_text(encoding="utf-8") + "PER|cassé\n", encoding="utf-8")
    code, out, _ = run(
        "directory", "import", str(broken), "--kind", "mssante", "--index", str(tmp_path), "--json"
    )
    assert code == 0
    report = json.loads(out)
    assert report["malformed"] == 1
    assert report["problems"][0]["line"] == 13


def test_it_refuses_a_wrong_file_in_french(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("nom;prénom\n", encoding="utf-8")
    code, _, err = run("directory", "import", str(wrong), "--index", str(tmp_path))
    assert code == 1
    assert "Fichier refusé" in err


def test_it_withholds_the_red_list(tmp_path: Path) -> None:
    red = tmp_path / "liste-rouge.txt"
    red.write_text("paul.martin@kine.mssante.fr\n", encoding="utf-8")
    code, out, _ = run(
        "directory", "import", str(SAMPLE), "--index", str(tmp_path), "--red-list", str(red)
    )
    assert code == 0
    assert "1 en liste rouge" in out
    code, out, _ = run("directory", "search", "martin", "--index", str(tmp_path))
    assert "Aucun résultat." in out


def test_searching_without_an_index_says_what_to_do(tmp_path: Path) -> None:
    code, _, err = run("directory", "search", "x", "--index", str(tmp_path / "none"))
    assert code == 1
    assert "importez d'abord une extraction" in err
