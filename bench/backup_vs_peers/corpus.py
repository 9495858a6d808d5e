"""A deterministic ~1 GiB practice-like corpus, and its "next day".

* `base/cabinet.sqlite`: a real SQLite practice-management database (~300 MiB, 4 KiB pages);
* `base/export/cabinet.sql`: a ~100 MiB SQL dump of another table;
* `scans/`: ~2,000 incompressible scans, 50 KiB–2 MiB (log-uniform, scaled to ~560 MiB);
* `courriers/`, `bureautique/`: thousands of small letters and office-like files.

The next day rewrites ~1 % of the database's rows in place (same length, so SQLite rewrites the
pages where they live, scattered over the whole file), edits and extends the dump a little, adds
and deletes a few scans and letters.
"""

from __future__ import annotations

import math
import random
import sqlite3
import zlib
from pathlib import Path

MIB = 1 << 20
WORDS = (  # noqa: SIM905 (one readable sentence)
    "patient consultation ordonnance douleur traitement suivi tension glycémie vaccin rappel "
    "radiographie kinésithérapie séance lombaire cervicale certificat arrêt travail mutuelle "
    "tiers payant carte vitale allergie antécédents famille tabac alcool sport sommeil fatigue "
    "fièvre toux gorge oreille abdomen genou épaule cheville rééducation bilan résultat analyse "
    "sang urine biologie cardiologue dermatologue courrier confrère adressé revoir semaines mois"
).split()


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(WORDS, k=words))


def _note(rng: random.Random, phrases: list[str], length: int) -> str:
    text = ""
    while len(text) < length:
        text += rng.choice(phrases) + f" {rng.randint(0, 10**6)}. "
    return text[:length]


def make_database(path: Path, target: int, rng: random.Random) -> None:
    phrases = [_sentence(rng, 12) for _ in range(4000)]
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA page_size=4096")
        db.execute(
            "CREATE TABLE consultation(id INTEGER PRIMARY KEY, patient TEXT, ins TEXT,"
            " date TEXT, motif TEXT, notes TEXT)"
        )
        row = 0
        while path.stat().st_size < target:
            batch = []
            for _ in range(20000):
                row += 1
                batch.append(
                    (
                        row,
                        f"Patient {rng.randint(1, 40000)}",
                        f"{rng.randint(1, 2)}{rng.randint(10**12, 10**13 - 1)}",
                        f"20{rng.randint(10, 26)}-{rng.randint(1, 12):02}-{rng.randint(1, 28):02}",
                        _sentence(rng, 4),
                        _note(rng, phrases, 900),
                    )
                )
            db.executemany("INSERT INTO consultation VALUES (?,?,?,?,?,?)", batch)
            db.commit()


def make_dump(path: Path, target: int, rng: random.Random) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    phrases = [_sentence(rng, 10) for _ in range(3000)]
    with path.open("w") as out:
        out.write("-- dump de la table ordonnance\nBEGIN;\n")
        row = 0
        while out.tell() < target:
            row += 1
            out.write(
                f"INSERT INTO ordonnance VALUES ({row}, 'Patient {rng.randint(1, 40000)}',"  # noqa: S608  # noqa: S608
                f" '{_note(rng, phrases, rng.randint(100, 600))}');\n"
            )
        out.write("COMMIT;\n")


def make_scans(directory: Path, count: int, total: int, rng: random.Random) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    low, high = 50 << 10, 2 * MIB
    raw = [math.exp(rng.uniform(math.log(low), math.log(high))) ** 1.6 for _ in range(count)]
    scale = total / sum(raw)
    for i, size in enumerate(raw):
        length = int(min(high, max(low, size * scale)))
        (directory / f"scan-{i:05}.pdf").write_bytes(rng.randbytes(length))


def make_letters(directory: Path, count: int, rng: random.Random) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        body = "\n".join(_sentence(rng, 14) for _ in range(rng.randint(5, 300)))
        (directory / f"courrier-{i:05}.txt").write_text(f"Cher confrère,\n{body}\n")


def make_office(directory: Path, count: int, rng: random.Random) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        body = "\n".join(_sentence(rng, 12) for _ in range(rng.randint(20, 400)))
        (directory / f"document-{i:05}.docx").write_bytes(zlib.compress(body.encode(), 6))


def generate(root: Path, seed: int = 2026) -> None:
    """Create the corpus under `root` (deterministic for a given seed)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    make_database(root / "cabinet.sqlite", 300 * MIB, rng)
    make_dump(root / "export" / "cabinet.sql", 100 * MIB, rng)
    make_scans(root / "scans", 2000, 560 * MIB, rng)
    make_letters(root / "courriers", 3000, rng)
    make_office(root / "bureautique", 1500, rng)


def next_day(root: Path, seed: int = 2027) -> None:
    """Apply the next day's changes."""
    rng = random.Random(seed)
    database = root / "cabinet.sqlite"
    with sqlite3.connect(database) as db:
        rows = int(db.execute("SELECT MAX(id) FROM consultation").fetchone()[0])
        pages = database.stat().st_size // 4096
        chosen = rng.sample(range(1, rows + 1), max(1, pages // 100))
        phrases = [_sentence(rng, 12) for _ in range(500)]
        db.executemany(
            "UPDATE consultation SET notes=? WHERE id=?",
            [(_note(rng, phrases, 900), row) for row in chosen],
        )
    dump = root / "export" / "cabinet.sql"
    lines = dump.read_text().splitlines(keepends=True)
    for index in rng.sample(range(2, len(lines) - 1), 200):
        lines[index] = lines[index].replace("Patient", "Patiente", 1)
    lines.insert(-1, "INSERT INTO ordonnance VALUES (0, 'Nouveau', 'ajout du jour');\n")
    dump.write_text("".join(lines))
    scans = sorted((root / "scans").iterdir())
    for path in rng.sample(scans, 5):
        path.unlink()
    for i in range(10):
        (root / "scans" / f"nouveau-{i:03}.pdf").write_bytes(
            rng.randbytes(rng.randint(50 << 10, MIB))
        )
    letters = sorted((root / "courriers").iterdir())
    for path in rng.sample(letters, 20):
        path.write_text(path.read_text() + "\nPost-scriptum : revoir dans un mois.\n")
    make_letters(root / "courriers" / "jour2", 5, rng)
