"""Égide vs restic vs BorgBackup on the same corpus, side by side in one run.

    .venv/bin/python -m bench.backup_vs_peers.run [--workdir /tmp/egide-bench] [--keep]
        [--tools egide,restic,borg] [--steps restore,check] [--repeat N] [--cold]

`--steps` runs only some steps: with `--keep`, a first full run leaves the corpus and the three
repositories in the work directory, and later runs of the read-side steps (`restore`, `check`)
reuse them — every tool still runs side by side. `--repeat` runs the chosen steps N times
(tools interleaved) and prints the median of each figure.

Steps per tool: init, first backup, next-day backup, full restore, check --read-data,
forget --keep-last 1 + prune. Each command's wall time, CPU time (user + system) and peak RSS come
from `os.wait4` on that process; "added" is the growth of the repository directory. Prints a
Markdown table and the Égide/restic and Égide/borg ratios. Each tool's backups start with the
whole corpus in the page cache (`--cold`: out of it). restic and borg are the Debian packages;
the script installs them when missing. `--tools` and `--steps` narrow a run while
working on one part (steps run in order; `next-day` needs `backup`); the recorded runs use all
three tools and every step, side by side.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

PASSPHRASE = "banc d'essai égide"  # noqa: S105 (a throwaway benchmark repository)
STEPS = ["init", "backup", "next-day", "restore", "check", "forget+prune"]
READ_STEPS = {"restore", "check"}


@dataclass
class Measure:
    wall: float = 0.0
    cpu: float = 0.0
    rss_mib: float = 0.0
    added_mib: float = 0.0
    repo_mib: float = 0.0


@dataclass
class Tool:
    name: str
    repo: Path
    env: dict[str, str]
    commands: dict[str, list[list[str]]]
    cwd: dict[str, Path] = field(default_factory=dict)
    results: dict[str, Measure] = field(default_factory=dict)


def tree_size(path: Path) -> int:
    total = 0
    for directory, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(directory) / name).lstat().st_size
            except FileNotFoundError:
                continue
    return total


def measure(tool: Tool, step: str) -> Measure:
    before = tree_size(tool.repo) if tool.repo.exists() else 0
    result = Measure()
    for command in tool.commands[step]:
        # GNU time measures the command itself: a child forked from this (large) Python
        # process would otherwise inherit its resident size in ru_maxrss.
        report = tool.repo.parent / "time.txt"
        timed = ["/usr/bin/time", "-f", "%U %S %M", "-o", str(report), *command]
        started = time.perf_counter()
        process = subprocess.run(
            timed, env=tool.env, cwd=tool.cwd.get(step), stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        result.wall += time.perf_counter() - started
        user, system, rss_kib = report.read_text().split()[-3:]
        result.cpu += float(user) + float(system)
        result.rss_mib = max(result.rss_mib, int(rss_kib) / 1024)
        if process.returncode not in (0, 3):
            error = process.stderr.decode(errors="replace")
            print(f"{tool.name} {step}: exit {process.returncode}\n{error}", file=sys.stderr)
    after = tree_size(tool.repo)
    result.added_mib = (after - before) / (1 << 20)
    result.repo_mib = after / (1 << 20)
    tool.results[step] = result
    print(
        f"{tool.name:7} {step:13} wall {result.wall:7.2f} s  cpu {result.cpu:7.2f} s"
        f"  rss {result.rss_mib:6.0f} MiB  added {result.added_mib:8.1f} MiB",
        flush=True,
    )
    return result


def ensure_peers() -> None:
    missing = [pkg for pkg, binary in (("restic", "restic"), ("borgbackup", "borg"))
               if shutil.which(binary) is None]  # fmt: skip
    if missing:
        lock = "/tmp/apt.lock"  # noqa: S108 (the lock every helper shares for apt)
        subprocess.run(["flock", lock, "apt-get", "install", "-y", "-q", *missing], check=True)


def ensure_bytecode() -> None:
    """Compile Égide's modules as an installation does: with PYTHONDONTWRITEBYTECODE set (as in
    some shells and CI), an editable install would otherwise compile them again in every
    measured command; restic is a binary and borg's Debian package ships its bytecode."""
    spec = importlib.util.find_spec("egide")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("egide is not importable from this interpreter")
    for location in spec.submodule_search_locations:
        subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", location],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip


def tools(work: Path, corpus: Path) -> list[Tool]:
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("RESTIC_", "BORG_"))}
    secret = work / "passphrase"
    secret.write_text(PASSPHRASE)
    egide = shutil.which("egide") or str(Path(sys.executable).parent / "egide")
    e = [egide, "backup", "-r", str(work / "egide-repo"), "--passphrase-file", str(secret),
         "--cache-dir", str(work / "egide-cache")]  # fmt: skip
    r = ["restic", "-r", str(work / "restic-repo"), "--cache-dir", str(work / "restic-cache")]
    b = str(work / "borg-repo")
    return [
        Tool("egide", work / "egide-repo", base_env, {
            "init": [[*e, "init"]],
            "backup": [[*e, "run", str(corpus)]],
            "next-day": [[*e, "run", str(corpus)]],
            "restore": [[*e, "restore", "latest", str(work / "egide-out")]],
            "check": [[*e, "check", "--read-data"]],
            "forget+prune": [[*e, "forget", "--keep-last", "1", "--prune"]],
        }),
        Tool("restic", work / "restic-repo", {**base_env, "RESTIC_PASSWORD_FILE": str(secret)}, {
            "init": [[*r, "init"]],
            "backup": [[*r, "backup", str(corpus)]],
            "next-day": [[*r, "backup", str(corpus)]],
            "restore": [[*r, "restore", "latest", "--target", str(work / "restic-out")]],
            "check": [[*r, "check", "--read-data"]],
            "forget+prune": [[*r, "forget", "--keep-last", "1", "--prune"]],
        }),
        Tool("borg", work / "borg-repo",
             {**base_env, "BORG_PASSPHRASE": PASSPHRASE, "BORG_BASE_DIR": str(work / "borg-base"),
              "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes"}, {
            "init": [["borg", "init", "-e", "repokey-blake2", b]],
            "backup": [["borg", "create", f"{b}::day1", str(corpus)]],
            "next-day": [["borg", "create", f"{b}::day2", str(corpus)]],
            "restore": [["borg", "extract", f"{b}::day2"]],
            "check": [["borg", "check", "--verify-data", b]],
            "forget+prune": [["borg", "prune", "--keep-last", "1", b], ["borg", "compact", b]],
        }, cwd={"restore": work / "borg-out"}),
    ]  # fmt: skip


def median_measure(measures: list[Measure]) -> Measure:
    """Each figure's median over several runs of one step."""
    return Measure(*(statistics.median(getattr(m, f) for m in measures) for f in
                     ("wall", "cpu", "rss_mib", "added_mib", "repo_mib")))  # fmt: skip


def per_run_ratios(runs: list[dict[str, dict[str, Measure]]], steps: list[str]) -> str:
    """Égide/peer ratios of each run (tools ran side by side), and their medians."""
    rows = ["| step | ratio | run by run | median |", "|---|---|---|---:|"]
    for step in steps:
        for peer in ("restic", "borg"):
            for figure in ("wall", "cpu"):
                values = [
                    getattr(run["egide"][step], figure) / getattr(run[peer][step], figure)
                    for run in runs
                    if getattr(run[peer][step], figure) > 0.001
                ]
                if values:
                    listed = " · ".join(f"{v:.2f}" for v in values)
                    median = statistics.median(values)
                    rows.append(f"| {step} | {figure} É/{peer} | {listed} | **{median:.2f}** |")
    return "\n".join(rows)


def table(all_tools: list[Tool], steps: list[str] = STEPS) -> str:
    by = {t.name: t.results for t in all_tools}
    rows = ["| step | tool | wall s | CPU s | peak RSS MiB | added MiB | repo MiB |",
            "|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    steps = [step for step in steps if all(step in t.results for t in all_tools)]
    for step in steps:
        for tool in all_tools:
            m = tool.results[step]
            rows.append(f"| {step} | {tool.name} | {m.wall:.2f} | {m.cpu:.2f} | {m.rss_mib:.0f}"
                        f" | {m.added_mib:.1f} | {m.repo_mib:.1f} |")  # fmt: skip
    rows += ["", "| step | wall É/restic | wall É/borg | added É/restic | added É/borg |"
             " RSS É/restic | CPU É/restic |", "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    if not {"egide", "restic", "borg"} <= by.keys():
        return "\n".join(rows)
    for step in steps:
        e, r, b = by["egide"][step], by["restic"][step], by["borg"][step]

        def ratio(x: float, y: float) -> str:
            return f"{x / y:.2f}" if y > 0.001 else "–"

        rows.append(f"| {step} | {ratio(e.wall, r.wall)} | {ratio(e.wall, b.wall)}"
                    f" | {ratio(e.added_mib, r.added_mib)} | {ratio(e.added_mib, b.added_mib)}"
                    f" | {ratio(e.rss_mib, r.rss_mib)} | {ratio(e.cpu, r.cpu)} |")  # fmt: skip
    return "\n".join(rows)


def remove_repositories(work: Path) -> None:
    for name in ("egide-repo", "egide-cache", "restic-repo", "restic-cache", "borg-repo",
                 "borg-base"):  # fmt: skip
        shutil.rmtree(work / name, ignore_errors=True)


def settle_corpus(corpus: Path, cold: bool) -> None:
    """Every tool's backup starts with the corpus in the same state: wholly in the page cache
    (read once here), or, with `cold`, wholly out of it. borg drops from the cache each file it
    reads (`posix_fadvise(DONTNEED)`): without this, whichever tool ran after borg read the
    corpus from the disk and the others from memory (ADR 0041)."""
    buffer = bytearray(1 << 20)
    for directory, _dirs, files in os.walk(corpus):
        for name in files:
            with (Path(directory) / name).open("rb", buffering=0) as handle:
                if cold:
                    os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
                else:
                    while handle.readinto(buffer):
                        pass


def generate_corpus(corpus: Path) -> None:
    """The day-one corpus, generated in a child process unless already complete."""
    if (corpus / ".complete").exists():
        return
    shutil.rmtree(corpus, ignore_errors=True)
    started = time.perf_counter()
    code = f"from pathlib import Path; from {__package__}.corpus import generate;"
    subprocess.run([sys.executable, "-c", f"{code} generate(Path({str(corpus)!r}))"],
                   check=True)  # fmt: skip
    (corpus / ".complete").write_text("")
    print(f"corpus generated in {time.perf_counter() - started:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/egide-bench"))  # noqa: S108
    parser.add_argument("--keep", action="store_true", help="keep the corpus for another run")
    parser.add_argument("--tools", default="egide,restic,borg", help="comma-separated subset")
    parser.add_argument(
        "--steps",
        type=lambda value: value.split(","),
        default=STEPS,
        help=f"comma-separated steps among {','.join(STEPS)} (default: all); with only"
        " restore/check, the repositories of an earlier --keep run are reused",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="start each tool's backups with the corpus out of the page cache (default: in it)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of the chosen steps (full runs start again from empty repositories and a"
        " freshly generated corpus)",
    )
    args = parser.parse_args()
    unknown = set(args.steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps: {', '.join(sorted(unknown))}")
    wanted_tools = args.tools.split(",")
    ensure_peers()
    ensure_bytecode()
    work: Path = args.workdir
    corpus = work / "corpus"
    reuse = set(args.steps) <= READ_STEPS
    if reuse and not (work / "egide-repo").exists():
        sys.exit(f"no repositories in {work}: run every step once with --keep first")
    leftovers = [work / n for n in ("egide-out", "restic-out", "borg-out", "old-out")]
    if any(path.exists() for path in leftovers):
        for path in leftovers:
            shutil.rmtree(path, ignore_errors=True)
        # Inodes freed less than ~30 s ago are skipped one by one by ext4's allocator: the
        # first restore would pay for this deletion.
        os.sync()
        time.sleep(40)
    if not reuse:
        remove_repositories(work)
    if (corpus / ".mutated").exists() and not reuse:
        sys.exit(f"{corpus} already had its next day: delete it to regenerate")
    generate_corpus(corpus)
    (work / "borg-out").mkdir(parents=True, exist_ok=True)
    all_tools = [tool for tool in tools(work, corpus) if tool.name in wanted_tools]
    print(f"corpus: {tree_size(corpus) / (1 << 20):.0f} MiB;"
          f" load average {os.getloadavg()}", flush=True)  # fmt: skip
    runs: list[dict[str, dict[str, Measure]]] = []
    for repeat in range(args.repeat):
        if repeat and not reuse:
            # A full run again: empty repositories and the corpus as it was on day one.
            remove_repositories(work)
            shutil.rmtree(corpus)
            generate_corpus(corpus)
            os.sync()
            time.sleep(40)  # ext4 and freed inodes: see above
        # Each repetition starts with another tool, so that no tool always follows the same one.
        order = all_tools[repeat % len(all_tools) :] + all_tools[: repeat % len(all_tools)]
        for step in [s for s in STEPS if s in args.steps]:
            if step == "next-day":
                # In a child process: this one stays small (see `measure`).
                code = f"from pathlib import Path; from {__package__}.corpus import next_day;"
                subprocess.run([sys.executable, "-c", f"{code} next_day(Path({str(corpus)!r}))"],
                               check=True)  # fmt: skip
                (corpus / ".mutated").write_text("")
            for tool in order:
                if step == "restore":
                    # The previous output is moved aside, deleted at the end: ext4 is slow to
                    # allocate inodes next to thousands deleted seconds before, a cost that
                    # would land on the tool measured next, not on the one that made it.
                    out = work / f"{tool.name}-out"
                    if out.exists():
                        (work / "old-out").mkdir(exist_ok=True)
                        out.rename(work / "old-out" / f"{tool.name}-{time.monotonic_ns()}")
                    out.mkdir()
                # The previous tool's dirty pages (a restored GiB, a deleted one) are written
                # out first: otherwise their writeback lands on the next tool's clock.
                os.sync()
                if step in ("backup", "next-day"):
                    settle_corpus(corpus, args.cold)
                measure(tool, step)
        runs.append({t.name: dict(t.results) for t in all_tools})
    for tool in all_tools:
        tool.results = {
            step: median_measure([run[tool.name][step] for run in runs]) for step in tool.results
        }
    print()
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} CPU,"
        f" Python {platform.python_version()}, load average at end {os.getloadavg()}"
        + (f"; medians of {args.repeat} runs" if args.repeat > 1 else "")
    )
    print(table(all_tools, [s for s in STEPS if s in args.steps]))
    if args.repeat > 1 and {"egide", "restic", "borg"} <= {t.name for t in all_tools}:
        print()
        print(per_run_ratios(runs, [s for s in STEPS if s in args.steps]))
    shutil.rmtree(work / "old-out", ignore_errors=True)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
