"""The national directory: ANS extraction files imported into a searchable index.

Reads the «Extraction_Correspondance_MSSante» and PS_LibreAcces «Personne_activite» files
(`extraction`), merges duplicate lines, keeps a dated diff of every import (`importer`) and
answers autocomplete queries the way a secretary types them (`query`, `vocabulary`), on an
embedded SQLite FTS5 file (`sqlite_index`; a full import builds its FTS5 tables beside it,
`sqlite_side`) or on PostgreSQL (`postgres_index`).

Pure library: no Django, no environment reads, no printing. Imports the standard library and
`psycopg` (only when a PostgreSQL index is opened).

    index = open_index(data_dir)                  # or open_index("postgresql://…")
    record = import_file(index, Path("Extraction_Correspondance_MSSante_202608250000.txt"))
    for entry in index.search("kiné lyon", limit=10): ...
"""

from __future__ import annotations

from pathlib import Path

from .entry import Entry, Source
from .extraction import MalformedLine
from .importer import import_file, import_lines
from .index import Change, ChangeKind, DirectoryIndex, ImportRecord

__all__ = [
    "INDEX_FILE_NAME",
    "Change",
    "ChangeKind",
    "DirectoryIndex",
    "Entry",
    "ImportRecord",
    "MalformedLine",
    "Source",
    "import_file",
    "import_lines",
    "is_database_url",
    "open_index",
]

INDEX_FILE_NAME = "directory.sqlite3"


def is_database_url(location: str | Path) -> bool:
    """True for a PostgreSQL URL (`postgresql://…`), false for a file or directory path."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def open_index(location: str | Path, *, create: bool = True) -> DirectoryIndex:
    """Open (or create) the directory index at `location`.

    A PostgreSQL URL opens the operator back-end; a directory holds the embedded index as
    `directory.sqlite3`; any other path is the SQLite file itself. With `create=False` a
    missing embedded index raises DirectoryIndexError instead of being created empty.
    """
    if is_database_url(location):
        from .postgres_index import PostgresIndex

        return PostgresIndex(str(location), create=create)
    from .sqlite_index import SqliteIndex

    path = Path(location)
    if path.is_dir():
        path = path / INDEX_FILE_NAME
    return SqliteIndex(path, create=create)
