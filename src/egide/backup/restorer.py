"""`restore`: write a snapshot's files back, byte-identical and with their metadata.

The tree is walked once, and the chunks of the files to restore are gathered in batches (at most
`_BATCH_PIECES` chunks, `_BATCH_FILES` files). In each batch, chunks are sorted by pack and
offset, and chunks that sit close together in a pack — of one file or of many small files — are
fetched with one ranged read (one request on S3) by a worker. A worker authenticates,
decompresses and re-hashes every chunk against its id — the snapshot's record of the content —
and writes it at its offsets (`os.pwritev`) in each file that holds it, so a chunk repeated in a
batch is read and verified once. A file is written under a temporary name and renamed once its
last chunk is written and its size checked; a damaged chunk fails the files that hold it, and
only them. A file wholly in one run (most small files) is created, written, renamed and dated by
the worker of that run; a file written by several runs is created by the planner before them
and finished by a worker once the planner has every run's report. Directory times are set last,
deepest first, since writing their children changes them.

Workers are processes on a local repository (forked: they inherit the unlocked repository, and
the planner sends them plain descriptions of runs), threads otherwise (an S3 client does not
survive a fork). Threads share one GIL: at ~35 KB per chunk, the native calls (AES-GCM, zstd,
BLAKE3, `pwritev`) are too short for threads to gain from their releasing it — see ADR 0024.
Memory is bounded: one batch of chunk positions, and at most `2 × workers` runs in flight, each
one ranged read of at most `_MAX_RANGE` bytes in a worker.

A chunk of zeros is not written: the file is extended to its size at the end, so a sparse file
comes back sparse (and an image full of zeros costs no disk). Restoring over an existing tree
replaces what is in the way of the snapshot's entries — a file or a link where it has a
directory is removed, never followed — and leaves other entries alone.
"""

# Plain str paths on purpose: a pathlib object costs microseconds to build and thousands of
# files are restored per second, so os/os.path calls instead.
# ruff: noqa: PTH101, PTH102, PTH103, PTH105, PTH108, PTH118, PTH120, PTH211

from __future__ import annotations

import base64
import contextlib
import os
import stat
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from multiprocessing import get_context
from pathlib import Path

from .errors import BackupError
from .events import EventSink, FileProblem, Progress, ignore
from .index import BlobLocation
from .localstore import survives_fork
from .pack import BlobType, PackEntry, pack_name
from .repository import Repository
from .snapshot import Snapshot, read_tree
from .tree import Node

_MAX_RANGE = 4 << 20
_MAX_GAP = 256 << 10
_BATCH_PIECES = 4096
_BATCH_FILES = 256
_IOV_MAX = 1024


@dataclass(frozen=True)
class RestoreResult:
    """How many files and bytes were written, and what could not be."""

    files: int
    bytes: int
    problems: tuple[FileProblem, ...]


def selected(node: Node, includes: Sequence[str]) -> bool:
    """Whether `node` is one of `includes` (absolute paths), inside one, or an ancestor of one."""
    if not includes:
        return True
    path = "/" + node.path
    for include in includes:
        wanted = "/" + include.strip("/")
        if path == wanted or path.startswith(wanted + "/") or wanted.startswith(path + "/"):
            return True
    return False


class _Target:
    """A file being restored, as the planner sees it (main thread only)."""

    __slots__ = (
        "complete", "created", "error", "handed", "holes", "node", "number", "path", "pending",
        "planned", "planned_size", "temp",
    )  # fmt: skip

    def __init__(self, node: Node, path: str, number: int) -> None:
        self.node = node
        self.path = path
        self.number = number
        # Written aside and renamed when complete and verified: no half file under the real name.
        head, name = os.path.split(path)
        self.temp = os.path.join(head, f".{name}.egide-restore")
        self.complete = False  # every chunk is queued
        self.planned_size = 0  # bytes of the chunks queued so far
        self.pending = 0  # runs sent and not yet reported
        self.planned = False  # every chunk is in a run sent to the workers
        self.created = False  # the planner created the temporary file (written by several runs)
        self.handed = False  # wholly in one run: the worker of that run finishes it
        self.holes = False  # a chunk of zeros was skipped: extend the file to its size at the end
        self.error: str | None = None


@dataclass(frozen=True)
class _FileJob:
    """What a worker needs about one file of a run (plain data: it may cross to a process)."""

    temp: str
    path: str
    create: bool  # not created yet: the worker creates (and truncates) the temporary file
    finish: Node | None  # the whole file is in this run: the worker finishes it


# (type, id, offset, length, raw length) of a blob, and the places it is written to: (file number,
# offset in the file). Tuples rather than PackEntry objects: cheaper to send to a process.
_Blob = tuple[int, bytes, int, int, int, list[tuple[int, int]]]


@dataclass(frozen=True)
class _Run:
    """Blobs of one pack fetched with one ranged read, and the files they go to."""

    pack_id: str
    blobs: list[_Blob]
    files: dict[int, _FileJob]


# What a worker reports for each file of a run or of a finish: (file number, error, a hole was
# left, the file is finished, metadata problems).
_Outcome = tuple[int, str | None, bool, bool, list[FileProblem]]


def _zeros(data: bytes | memoryview) -> bool:
    """Whether a chunk holds only zeros (three bytes looked at first: most chunks stop there)."""
    size = len(data)
    if not size or data[0] or data[-1] or data[size // 2]:
        return False
    return (data if isinstance(data, bytes) else bytes(data)) == bytes(size)


def _open_temp(temp: str, create: bool) -> int:
    flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    if create:
        flags |= os.O_CREAT | os.O_TRUNC
    return os.open(temp, flags, 0o600)


class _Writing:
    """One file as a worker writes it: its descriptor and the consecutive chunks not yet written
    (consecutive chunks of a file are written with one `pwritev`)."""

    __slots__ = ("buffers", "end", "error", "fd", "holes", "job", "offset")

    def __init__(self, job: _FileJob) -> None:
        self.job = job
        self.fd = -1
        self.error: str | None = None
        self.holes = False
        self.offset = self.end = 0
        self.buffers: list[bytes | memoryview] = []

    def add(self, offset: int, data: bytes | memoryview) -> None:
        if self.buffers and self.end != offset:
            self.flush()
        if not self.buffers:
            self.offset = self.end = offset
        self.buffers.append(data)
        self.end += len(data)

    def flush(self) -> None:
        buffers, self.buffers = self.buffers, []
        if self.error is not None or not buffers:
            return
        try:
            if self.fd < 0:
                self.fd = _open_temp(self.job.temp, self.job.create)
            offset = self.offset
            while buffers:
                group = buffers[:_IOV_MAX]
                written = os.pwritev(self.fd, group, offset)
                offset += written
                for index, buffer in enumerate(group):  # a short write: go on after it
                    if written < len(buffer):
                        buffers = [memoryview(buffer)[written:], *buffers[index + 1 :]]
                        break
                    written -= len(buffer)
                else:
                    buffers = buffers[len(group) :]
        except OSError as error:
            self.error = str(error.strerror)


def _finish(
    temp: str, path: str, node: Node, fd: int, create: bool, error: str | None, holes: bool
) -> tuple[str | None, list[FileProblem]]:
    """Close, rename and date a complete file, or drop its temporary file on error."""
    problems: list[FileProblem] = []
    try:
        try:
            if error is None:
                if fd < 0:  # an empty file, a file of zeros, or one written by several runs
                    fd = _open_temp(temp, create)
                if holes:
                    os.ftruncate(fd, node.size)
        finally:
            if fd >= 0:
                os.close(fd)
        if error is None:
            os.replace(temp, path)
    except OSError as failure:
        error = error or str(failure.strerror)
    if error is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        return error, problems
    _apply_metadata(node, path, problems)
    return None, problems


def _write_run(repo: Repository, run: _Run) -> list[_Outcome]:
    """Fetch, verify and write one run; finish the files wholly in it (a worker's task)."""
    files = {number: _Writing(job) for number, job in run.files.items()}
    first, last = run.blobs[0], run.blobs[-1]
    start = first[2]
    reader = None
    failure = ""
    try:
        span = memoryview(
            repo.storage.get(pack_name(run.pack_id), start, last[2] + last[3] - start)
        )
        reader = repo.pack_reader(run.pack_id)
    except BackupError as error:
        span, failure = memoryview(b""), str(error)
    for blob_type, blob_id, offset, length, raw_length, places in run.blobs:
        data: bytes | memoryview = b""
        zeros = False
        if reader is not None:
            try:
                entry = PackEntry(BlobType(blob_type), blob_id, offset, length, raw_length)
                data = repo.open_verified(
                    reader, entry, span[offset - start : offset - start + length]
                )
                zeros = _zeros(data)
                failure = ""
            except BackupError as error:
                failure = str(error)
        for number, at in places:
            file = files[number]
            if failure:
                file.error = file.error or failure
            elif zeros:
                file.holes = True  # left as a hole; the file is extended to its size at the end
            elif file.error is None:
                file.add(at, data)
    outcomes: list[_Outcome] = []
    for number, file in files.items():
        file.flush()
        job = file.job
        if job.finish is not None:
            result, problems = _finish(
                job.temp, job.path, job.finish, file.fd, job.create, file.error, file.holes
            )
            outcomes.append((number, result, file.holes, True, problems))
        else:
            if file.fd >= 0:
                os.close(file.fd)
            outcomes.append((number, file.error, file.holes, False, []))
    return outcomes


def _finish_file(
    number: int, temp: str, path: str, node: Node, create: bool, error: str | None, holes: bool
) -> list[_Outcome]:
    """Finish a file written by several runs (a worker's task)."""
    error, problems = _finish(temp, path, node, -1, create, error, holes)
    return [(number, error, holes, True, problems)]


# The repository, in a worker process: set before the fork, so inherited rather than sent.
_inherited: Repository | None = None


def _adopt(repo: Repository) -> None:
    global _inherited  # one repository per worker process, for its life
    _inherited = repo


def _write_run_inherited(run: _Run) -> list[_Outcome]:
    assert _inherited is not None
    return _write_run(_inherited, run)


def _pack_order(item: tuple[BlobLocation, list[tuple[int, int]]]) -> tuple[str, int]:
    return item[0].pack_id, item[0].entry.offset


def _slim(node: Node) -> Node:
    """The node without its chunk list (what finishing a file needs, cheap to send)."""
    return replace(node, chunks=[]) if len(node.chunks) > 8 else node


class _Restore:
    """One restore: plans runs from the tree (main thread); workers write them."""

    def __init__(self, repo: Repository, sink: EventSink) -> None:
        self.repo = repo
        self.sink = sink
        self.problems: list[FileProblem] = []
        self.files = 0
        self.bytes = 0
        self.numbers = 0
        # Files with work in flight, by number.
        self.targets: dict[int, _Target] = {}
        # The batch being planned: (chunk id, file), in tree order.
        self.pieces: list[tuple[bytes, _Target]] = []
        self.batch_files: list[_Target] = []

    def problem(self, path: str, message: str) -> None:
        problem = FileProblem(path, message)
        self.problems.append(problem)
        self.sink(problem)

    def new_target(self, node: Node, path: str) -> _Target:
        self.numbers += 1
        target = _Target(node, path, self.numbers)
        self.targets[target.number] = target
        return target

    def add_chunk(self, chunk: str, target: _Target) -> None:
        """Queue one chunk of `target`; the planner calls `flush` when the batch is `full`."""
        if not self.batch_files or self.batch_files[-1] is not target:
            self.batch_files.append(target)
        self.pieces.append((bytes.fromhex(chunk), target))

    def add_file(self, target: _Target) -> None:
        """Note that every chunk of `target` is queued (an empty file has none)."""
        target.complete = True
        if not self.batch_files or self.batch_files[-1] is not target:
            self.batch_files.append(target)

    def full(self) -> bool:
        return len(self.pieces) >= _BATCH_PIECES or len(self.batch_files) >= _BATCH_FILES

    def flush(self) -> tuple[list[_Run], list[_Target]]:
        """Locate the batch's chunks, cut it into runs sorted by pack and offset; returns the runs
        and the files with nothing left to write (to finish)."""
        pieces, self.pieces = self.pieces, []
        batch, self.batch_files = self.batch_files, []
        known = self.repo.index.locate_batch([piece[0] for piece in pieces])
        by_blob: dict[bytes, tuple[BlobLocation, list[tuple[int, int]]]] = {}
        for blob_id, target in pieces:
            location = known.get(blob_id)
            if location is None:
                target.error = target.error or f"morceau {blob_id.hex()[:16]} absent de l'index"
                continue
            offset = target.planned_size
            target.planned_size += location.entry.raw_length
            found = by_blob.get(blob_id)
            if found is None:
                by_blob[blob_id] = (location, [(target.number, offset)])
            else:
                found[1].append((target.number, offset))
        # Cut into runs, noting the files of each (numbers, in order of appearance).
        cuts: list[tuple[str, list[_Blob], dict[int, None]]] = []
        blobs: list[_Blob] = []
        members: dict[int, None] = {}
        pack = ""
        first = end = -1
        for location, places in sorted(by_blob.values(), key=_pack_order):
            entry = location.entry
            if (
                location.pack_id != pack
                or not 0 <= entry.offset - end <= _MAX_GAP
                or entry.offset + entry.length - first > _MAX_RANGE
            ):
                blobs, members = [], {}
                cuts.append((location.pack_id, blobs, members))
                pack, first = location.pack_id, entry.offset
            blobs.append((
                int(entry.blob_type), entry.blob_id, entry.offset, entry.length, entry.raw_length,
                places,
            ))  # fmt: skip
            for number, _ in places:
                members[number] = None
            end = entry.offset + entry.length
        runs_of: dict[int, int] = {}
        for _, _, numbers in cuts:
            for number in numbers:
                runs_of[number] = runs_of.get(number, 0) + 1
        ready: list[_Target] = []
        jobs: dict[int, _FileJob] = {}
        for target in batch:
            if target.complete and target.planned_size != target.node.size and not target.error:
                target.error = (
                    f"taille restaurée {target.planned_size} ≠ {target.node.size} attendue"
                )
            count = runs_of.get(target.number, 0)
            if count == 1 and target.complete and target.error is None and not target.created:
                target.handed = True  # its only run creates, writes and finishes it
                finish: Node | None = target.node  # a few chunk ids at most
            else:
                finish = None
                if count and not target.created:
                    try:  # several runs write it: created here, once, before any of them
                        os.close(_open_temp(target.temp, create=True))
                    except OSError as error:
                        target.error = target.error or str(error.strerror)
                    target.created = True
            jobs[target.number] = _FileJob(target.temp, target.path, not target.created, finish)
            target.pending += count
            target.planned = target.complete
            if target.planned and target.pending == 0:
                ready.append(target)
        runs = [
            _Run(pack_id, blobs, {number: jobs[number] for number in numbers})
            for pack_id, blobs, numbers in cuts
        ]
        return runs, ready

    def apply(self, outcomes: list[_Outcome]) -> list[_Target]:
        """Take a worker's report; returns the files that have nothing left to write."""
        ready: list[_Target] = []
        for number, error, holes, finished, problems in outcomes:
            target = self.targets[number]
            if finished:
                del self.targets[number]
                if error is not None:
                    self.problem(target.node.path, f"non restauré : {error}")
                else:
                    self.files += 1
                    self.bytes += target.node.size
                    self.problems.extend(problems)
                continue
            target.error = target.error or error
            target.holes = target.holes or holes
            target.pending -= 1
            if target.pending == 0 and target.planned:
                ready.append(target)
        return ready


def _make_dir(path: str) -> None:
    """A directory at `path`, writable by the restore; whatever else is there is removed."""
    try:
        os.mkdir(path, 0o700)
        return
    except FileNotFoundError:
        os.makedirs(path, 0o700, exist_ok=True)
        return
    except FileExistsError:
        info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(path)  # a file, or a link that must not be followed out of the target
        os.mkdir(path, 0o700)
    elif info.st_mode & 0o700 != 0o700:
        os.chmod(path, info.st_mode | 0o700)  # restored before: its mode is set again at the end


def _clear(path: str) -> None:
    """Remove a file or link in the way of a link or FIFO (a directory stays: a problem)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _apply_metadata(node: Node, target: str, problems: list[FileProblem]) -> None:
    link = node.type == "symlink"
    try:
        if os.geteuid() == 0:
            os.chown(target, node.uid, node.gid, follow_symlinks=False)
        if not link:
            os.chmod(target, node.mode)
        for name, value in node.xattrs.items():
            try:
                os.setxattr(target, name, base64.b64decode(value), follow_symlinks=False)
            except OSError as error:
                problems.append(FileProblem(node.path, f"attribut {name} : {error.strerror}"))
        os.utime(target, ns=(node.atime_ns, node.mtime_ns), follow_symlinks=not link)
    except OSError as error:
        problems.append(FileProblem(node.path, f"métadonnées : {error.strerror}"))


def restore_snapshot(
    repo: Repository,
    snapshot: Snapshot,
    target: Path,
    includes: Sequence[str] = (),
    sink: EventSink = ignore,
    workers: int = 4,
    processes: bool = True,
) -> RestoreResult:
    """Restore the snapshot (or the `includes` paths of it) under `target`.

    `workers` verify and write in parallel: processes (forked, so they inherit the unlocked
    repository) when `processes` allows it and the storage survives a fork — a local directory;
    threads otherwise (an S3 client does not survive a fork).
    """
    repo.sync_index()
    target.mkdir(parents=True, exist_ok=True)
    state = _Restore(repo, sink)
    directories: list[tuple[Node, str]] = []
    root = str(target)
    made: set[str] = {root}
    in_flight: deque[Future[list[_Outcome]]] = deque()
    last = 0.0
    # A full restore knows its totals from the snapshot's statistics: the bar shows time left.
    files_total = None if includes else int(snapshot.stats.get("files", 0)) or None
    bytes_total = None if includes else int(snapshot.stats.get("bytes", 0)) or None
    pool: Executor
    if processes and workers > 1 and survives_fork(repo.storage):
        # One per core, and one more to work while another waits on the disk; no more: each
        # holds its own copy-on-write pages and buffers.
        count = min(workers, (os.cpu_count() or 1) + 1)
        pool = ProcessPoolExecutor(count, get_context("fork"), initializer=_adopt, initargs=(repo,))
        write: Callable[[_Run], list[_Outcome]] = _write_run_inherited
    else:
        pool = ThreadPoolExecutor(workers, thread_name_prefix="restore")
        write = partial(_write_run, repo)

    def finish(ready: list[_Target]) -> None:
        for done in ready:
            in_flight.append(pool.submit(
                _finish_file, done.number, done.temp, done.path, _slim(done.node),
                not done.created, done.error, done.holes,
            ))  # fmt: skip

    def settle(limit: int) -> None:
        """Take the workers' reports, oldest first, until at most `limit` tasks are in flight."""
        while len(in_flight) > limit or (in_flight and in_flight[0].done()):
            finish(state.apply(in_flight.popleft().result()))

    def submit(runs: list[_Run], ready: list[_Target]) -> None:
        nonlocal last
        finish(ready)
        for run in runs:
            settle(2 * workers - 1)
            in_flight.append(pool.submit(write, run))
            if time.monotonic() - last > 0.2:
                last = time.monotonic()
                sink(Progress("restore", state.files, state.bytes, files_total, bytes_total))

    def parent(path: str) -> None:
        head = os.path.dirname(path)
        if head not in made:
            os.makedirs(head, exist_ok=True)
            made.add(head)

    with pool:
        for node in read_tree(repo, snapshot):
            if not selected(node, includes):
                continue
            path = os.path.join(root, node.path)
            if node.error:
                state.problem(node.path, f"absent de l'instantané : {node.error}")
                continue
            try:
                if node.type == "dir":
                    _make_dir(path)
                    made.add(path)
                    directories.append((node, path))
                elif node.type == "symlink":
                    parent(path)
                    _clear(path)
                    os.symlink(node.target, path)
                    _apply_metadata(node, path, state.problems)
                elif node.type == "file":
                    parent(path)
                    file = state.new_target(node, path)
                    for chunk in node.chunks:
                        state.add_chunk(chunk, file)
                        if state.full():
                            submit(*state.flush())
                    state.add_file(file)
                    if state.full():
                        submit(*state.flush())
                elif node.type == "fifo":
                    parent(path)
                    _clear(path)
                    os.mkfifo(path, node.mode)
                    _apply_metadata(node, path, state.problems)
            except OSError as error:
                state.problem(node.path, f"non restauré : {error.strerror}")
        submit(*state.flush())
        settle(0)
    for node, path in reversed(directories):
        _apply_metadata(node, path, state.problems)
    sink(Progress("restore", state.files, state.bytes, state.files, state.bytes))
    return RestoreResult(state.files, state.bytes, tuple(state.problems))
