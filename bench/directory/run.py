"""Directory benchmark: import and autocomplete on the real size, SQLite and PostgreSQL,
side by side with a plain SQLite FTS5 table (the baseline of issue 5).

    python -m bench.directory.run                     # SQLite, PostgreSQL and the baseline
    python -m bench.directory.run --skip-postgres
    python -m bench.directory.run --skip-sqlite --skip-baseline   # PostgreSQL only
    python -m bench.directory.run --database-url postgresql://postgres@127.0.0.1:5432/egide_directory_bench

Prints, for each: full import (merge + dated diff) wall and CPU seconds, the next day's
import, and p50/p95/p99 over 1,000 autocomplete queries (after one warm-up pass), with the
number of queries that found nothing. CPU seconds are this process's only (PostgreSQL's
server time shows in wall time). The machine is shared: quote medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psycopg

from egide.messaging.directory import DirectoryIndex, import_file, open_index
from egide.messaging.directory.normalization import words

from .generate import Generator, iter_queries, next_day, write

OUT = Path(__file__).parents[1] / "out"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/egide_directory_bench"


def timed(action: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": ordered[-1]}


def latencies(search: Callable[[str], Sequence[object]], queries: list[str]) -> dict[str, float]:
    for query in queries:  # warm-up pass: the figures are for a warm index
        search(query)
    samples = []
    empty = 0
    for query in queries:
        start = time.perf_counter()
        found = search(query)
        samples.append((time.perf_counter() - start) * 1000)
        empty += not found
    return {**percentiles(samples), "empty": empty}


def bench_index(
    index: DirectoryIndex, first: Path, second: Path, queries: list[str]
) -> dict[str, object]:
    wall, cpu = timed(lambda: import_file(index, first, allow_shrink=True))
    next_wall, next_cpu = timed(lambda: import_file(index, second))
    record = index.imports(1)[0]
    return {
        "import_wall": wall,
        "import_cpu": cpu,
        "next_day_wall": next_wall,
        "next_day_cpu": next_cpu,
        "next_day_diff": [record.added, record.removed, record.changed],
        "entries": record.entries,
        **latencies(lambda text: index.search(text, 10), queries),
    }


def bench_baseline(first: Path, queries: list[str], directory: Path) -> dict[str, object]:
    """A plain FTS5 table over the file's searchable columns, queried as typed."""
    db = sqlite3.connect(directory / "baseline.sqlite3", isolation_level=None)
    db.execute(
        "CREATE VIRTUAL TABLE adresses USING fts5(nom, prenom, profession, savoir_faire, ville,"
        " code_postal, raison_sociale, adresse, rpps, tokenize='unicode61 remove_diacritics 2')"
    )

    def load() -> None:
        db.execute("BEGIN")
        with first.open(encoding="utf-8") as lines:
            next(lines)
            rows = (line.rstrip("\n").split("|") for line in lines)
            db.executemany(
                "INSERT INTO adresses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((f[9], f[10], f[14], f[16], f[27], f[28], f[18], f[1], f[3]) for f in rows),
            )
        db.execute("COMMIT")

    wall, cpu = timed(load)

    def expression(text: str) -> str:
        found = words(text)
        return " ".join(f'"{word}"' for word in found[:-1]) + (f' "{found[-1]}"*' if found else "")

    def ranked(text: str) -> list[object]:
        query = "SELECT rowid FROM adresses WHERE adresses MATCH ? ORDER BY rank LIMIT 10"
        return db.execute(query, (expression(text),)).fetchall()

    def unranked(text: str) -> list[object]:
        query = "SELECT rowid FROM adresses WHERE adresses MATCH ? LIMIT 10"
        return db.execute(query, (expression(text),)).fetchall()

    result: dict[str, object] = {"import_wall": wall, "import_cpu": cpu}
    result["ranked"] = latencies(ranked, queries)
    result["unranked"] = latencies(unranked, queries)
    db.close()
    return result


def fresh_postgres(url: str) -> bool:
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=3) as db:
            db.execute("DROP SCHEMA IF EXISTS egide_directory CASCADE")
    except psycopg.Error:
        base, _, name = url.rpartition("/")
        try:
            with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=3) as db:
                db.execute(f"CREATE DATABASE {name}")
        except psycopg.Error:
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--file", type=Path, default=OUT / "Extraction_Correspondance_MSSante_synth.txt"
    )
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    first: Path = args.file
    second = first.with_name(first.stem + "_next_day.txt")
    lines: list[str]
    if not first.exists() or not second.exists():
        print(f"Generating {first} and {second} …")
        lines = Generator().lines()
        write(first, lines)
        write(second, next_day(lines))
    else:
        lines = first.read_text(encoding="utf-8").splitlines()[1:]
    queries = list(iter_queries(lines, args.queries))
    print(
        f"{first.name}: {len(lines):,} lines, {first.stat().st_size / 1e6:.1f} MB;"
        f" {len(queries)} queries; load average {os.getloadavg()[0]:.1f}"
    )
    results: dict[str, object] = {"load_average_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        if not args.skip_sqlite:
            index = open_index(directory)
            results["sqlite"] = bench_index(index, first, second, queries)
            index.close()
            report("Égide SQLite", results["sqlite"])
        if not args.skip_postgres and fresh_postgres(args.database_url):
            index = open_index(args.database_url)
            results["postgresql"] = bench_index(index, first, second, queries)
            index.close()
            report("Égide PostgreSQL", results["postgresql"])
        if not args.skip_baseline:
            baseline = bench_baseline(first, queries, directory)
            results["baseline"] = baseline
            report("plain FTS5, bm25", {**baseline, **baseline["ranked"]})  # type: ignore[dict-item]
            report("plain FTS5, unranked", {**baseline, **baseline["unranked"]})  # type: ignore[dict-item]
    results["load_average_end"] = os.getloadavg()[0]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "directory-results.json").write_text(json.dumps(results, indent=2))
    print(
        f"load average at the end {os.getloadavg()[0]:.1f};"
        " details in bench/out/directory-results.json"
    )


def report(name: str, figures: object) -> None:
    data = figures if isinstance(figures, dict) else {}
    line = f"{name:22s} import {data['import_wall']:6.1f} s wall {data['import_cpu']:5.1f} s CPU"
    if "next_day_wall" in data:
        line += f" | next day {data['next_day_wall']:5.1f} s wall {data['next_day_cpu']:5.1f} s CPU"
    line += (
        f" | p50 {data['p50']:6.2f} p95 {data['p95']:6.2f} p99 {data['p99']:6.2f} ms"
        f" | no result {data['empty']}"
    )
    print(line, flush=True)


if __name__ == "__main__":
    main()
