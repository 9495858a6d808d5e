"""Directory fixtures: the sample extractions and an index on each back-end.

`index` runs a test on the embedded SQLite index and on PostgreSQL (127.0.0.1:5432, user
postgres, database `egide_directory_test` created if missing); the PostgreSQL run is skipped
when no server answers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from egide.messaging.directory import DirectoryIndex, open_index

DATA = Path(__file__).parents[2] / "data" / "directory"
MSSANTE_SAMPLE = DATA / "Extraction_Correspondance_MSSante_sample.txt"
PS_SAMPLE = DATA / "PS_LibreAcces_Personne_activite_sample.txt"
SERVER = "postgresql://postgres@127.0.0.1:5432"
# One database per test process, so that two runs on one server (a developer's and CI's) never
# empty each other's index.
DATABASE = f"egide_directory_test_{os.getpid()}"


def postgres_url() -> str | None:
    """The test database's URL, creating the database once; None without a server."""
    try:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=3) as db:
            exists = db.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if exists.fetchone() is None:
                db.execute(f"CREATE DATABASE {DATABASE}")
    except psycopg.Error:
        return None
    return f"{SERVER}/{DATABASE}"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL ne répond pas sur 127.0.0.1:5432")
    yield url
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def _empty_postgres(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("DROP SCHEMA IF EXISTS egide_directory CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DirectoryIndex]:
    if request.param == "sqlite":
        opened = open_index(tmp_path)
    else:
        url = request.getfixturevalue("postgres_database")
        _empty_postgres(url)
        opened = open_index(url)
    yield opened
    opened.close()


def mssante_file(tmp_path: Path, lines: list[str], name: str = "extraction.txt") -> Path:
    """The sample's header followed by `lines`."""
    header = MSSANTE_SAMPLE.read_text(encoding="utf-8").splitlines()[0]
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def sample_lines() -> list[str]:
    """The data lines of the MSSanté sample."""
    return MSSANTE_SAMPLE.read_text(encoding="utf-8").splitlines()[1:]
