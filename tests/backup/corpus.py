"""Small source trees for the tests: a real SQLite database, text, random data, links, xattrs."""

# Bytes paths on purpose (file names that are not valid UTF-8), hence os.path:
# ruff: noqa: PTH112, PTH114, PTH115, PTH118

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import sqlite3
import stat
from pathlib import Path


def make_database(path: Path, rows: int = 4000) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE patient(id INTEGER PRIMARY KEY, nom TEXT, notes TEXT)")
        rng = random.Random(7)
        db.executemany(
            "INSERT INTO patient(nom, notes) VALUES (?, ?)",
            [(f"Patient {i}", rng.randbytes(300).hex()) for i in range(rows)],
        )
    path.chmod(0o640)


def make_tree(root: Path, seed: int = 1) -> Path:
    """A practice-like tree under `root`/cabinet; returns that directory."""
    rng = random.Random(seed)
    base = root / "cabinet"
    (base / "scans").mkdir(parents=True)
    (base / "courriers" / "2026").mkdir(parents=True)
    make_database(base / "patients.sqlite")
    for i in range(5):
        (base / "scans" / f"scan-{i}.jpg").write_bytes(rng.randbytes(rng.randint(50_000, 400_000)))
    for i in range(30):
        text = f"Courrier {i}\n" + "Le patient va bien. " * rng.randint(10, 500)
        (base / "courriers" / "2026" / f"lettre-{i}.txt").write_text(text)
    (base / "vide.txt").write_bytes(b"")
    (base / "lien").symlink_to("courriers/2026/lettre-1.txt")
    os.utime(base / "vide.txt", ns=(1_600_000_000_123_456_789, 1_600_000_000_987_654_321))
    (base / "scans" / "scan-0.jpg").chmod(0o600)
    odd = os.fsencode(str(base)) + b"/nom-\xe9trange.txt"
    with open(odd, "wb") as handle:  # noqa: PTH123 (bytes path: not valid UTF-8 on purpose)
        handle.write(b"latin-1 name")
    with contextlib.suppress(OSError):  # the file system may have no user xattrs
        os.setxattr(base / "vide.txt", "user.egide", b"etiquette")
    return base


def digest_tree(root: Path) -> dict[str, tuple[str, int, int, str]]:
    """Path → (type, mode, mtime_ns, content hash or link target) for every entry under root."""
    found: dict[str, tuple[str, int, int, str]] = {}
    for directory, dirs, files in os.walk(os.fsencode(root)):
        for name in dirs + files:
            full = os.path.join(directory, name)
            rel = os.path.relpath(full, os.fsencode(root)).decode("utf-8", "surrogateescape")
            info = os.lstat(full)
            if os.path.islink(full):
                found[rel] = ("link", 0, info.st_mtime_ns, os.readlink(full).decode())
            elif os.path.isdir(full):
                found[rel] = ("dir", info.st_mode & 0o7777, info.st_mtime_ns, "")
            elif stat.S_ISFIFO(info.st_mode):
                found[rel] = ("fifo", info.st_mode & 0o7777, info.st_mtime_ns, "")
            else:
                with open(full, "rb") as handle:  # noqa: PTH123
                    content = hashlib.sha256(handle.read()).hexdigest()
                found[rel] = ("file", info.st_mode & 0o7777, info.st_mtime_ns, content)
    return found
