"""`restore`: write a snapshot's files back, byte-identical and with their metadata.

The tree is walked once, and the chunks of the files to restore are gathered in batches (at most
`_BATCH_PIECES` chunks, `_BATCH_FILES` files). In each batch, chunks are sorted by pack and
offset, and chunks that sit close together in a pack — of one file or of many small files — are
fetched with one ranged read (one request on S3) and handed to a pool of threads. A worker
authenticates, decompresses and re-hashes every chunk against its id — the snapshot's record of
the content — and writes it at its offsets (`os.pwrite`) in each file that holds it, so a chunk
repeated in a batch is read and verified once. Decryption, zstd, BLAKE3 and writes release the
GIL, but at ~35 KB a chunk their calls are short and each hands the GIL over: one thread per
core, no more, on a local repository (ADR 0019, 2026-12-06 note; ADR 0030). A file is written
without a name (`O_TMPFILE`; a temporary name where the file system has none), created by the
first worker that needs it, and linked under its name once its last chunk is written, its size
checked and its metadata set on its descriptor; a damaged chunk fails the files that hold it, and
only them, and a failed or killed restore leaves no partial file. Memory is bounded: one batch of
chunk positions, and at most `2 × workers` ranges (≤ `_MAX_RANGE` bytes each) in flight. Directory
times are set last, deepest first, since writing their children changes them.

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
import errno
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .errors import BackupError
from .events import EventSink, FileProblem, Progress, ignore
from .index import BlobLocation
from .pack import PackEntry, pack_name
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
    """A file being restored: its descriptor (an unnamed file, or its temporary name's) and
    chunks still to write."""

    __slots__ = (
        "complete",
        "error",
        "fd",
        "holes",
        "named",
        "node",
        "open_lock",
        "path",
        "pending",
        "planned",
        "planned_size",
        "temp",
    )  # fmt: skip

    def __init__(self, node: Node, path: str) -> None:
        self.node = node
        self.path = path
        # Written aside (unnamed, else under `temp`) and given its real name when complete and
        # verified (`publish`): no half file under the real name.
        head, name = os.path.split(path)
        self.temp = os.path.join(head, f".{name}.egide-restore")
        self.named = False  # written under `temp` (no O_TMPFILE here) rather than unnamed
        self.fd = -1
        self.open_lock = threading.Lock()
        self.complete = False  # every chunk is queued (planner's view)
        self.planned_size = 0  # bytes of the chunks queued so far (planner's view)
        self.pending = 0  # chunks planned and not yet written (under the restore's lock)
        self.planned = False  # every chunk is planned (under the restore's lock)
        self.holes = False  # a chunk of zeros was skipped: extend the file to its size at the end
        self.error: str | None = None

    def descriptor(self) -> int:
        with self.open_lock:
            if self.fd < 0:
                self.fd = _unnamed_file(os.path.dirname(self.path))
                if self.fd < 0:
                    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
                    self.fd = os.open(self.temp, flags, 0o600)
                    self.named = True
            return self.fd

    def publish(self) -> None:
        """The complete file under its real name (the descriptor still open)."""
        if self.named:
            os.replace(self.temp, self.path)
            return
        try:  # one directory entry made, instead of a temporary one made then renamed
            _link_descriptor(self.fd, self.path)
        except FileExistsError:  # restored over an existing file: replaced atomically
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temp)  # left by an interrupted restore
            _link_descriptor(self.fd, self.temp)
            self.named = True
            os.replace(self.temp, self.path)


def _unnamed_file(directory: str) -> int:
    """A file without a name in `directory` (O_TMPFILE), or -1 where the system has none."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag or not _proc_fd_links:
        return -1
    try:
        return os.open(directory or ".", flag | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    except OSError as error:
        if error.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return -1
        raise


def _link_descriptor(fd: int, path: str) -> None:
    """Give the unnamed file open as `fd` the name `path` (linkat through /proc, following
    its link: `os.link` with default directories calls link(2), which would not)."""
    os.link(str(fd), path, src_dir_fd=_proc_fds(), follow_symlinks=True)


_proc = threading.Lock()
_proc_fd_dirs: dict[int, int] = {}  # process id → descriptor of its /proc/<pid>/fd


def _proc_fds() -> int:
    """This process's /proc/<pid>/fd, opened once (by pid: a forked child opens its own)."""
    pid = os.getpid()
    with _proc:
        fd = _proc_fd_dirs.get(pid)
        if fd is None:
            fd = os.open(f"/proc/{pid}/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            _proc_fd_dirs[pid] = fd
        return fd


_proc_fd_links = Path("/proc/self/fd").is_dir()


# (file, offset in the file) where one chunk goes.
_Place = tuple[_Target, int]


@dataclass
class _Run:
    """Blobs of one pack fetched with one ranged read, each with the places it is written to."""

    pack_id: str
    blobs: list[tuple[PackEntry, list[_Place]]]


def _zeros(data: bytes | memoryview) -> bool:
    """Whether a chunk holds only zeros (three bytes looked at first: most chunks stop there)."""
    size = len(data)
    if not size or data[0] or data[-1] or data[size // 2]:
        return False
    return (data if isinstance(data, bytes) else bytes(data)) == bytes(size)


class _Segment:
    """Consecutive chunks of one file, written with one `pwritev`."""

    __slots__ = ("buffers", "end", "offset")

    def __init__(self, offset: int, data: bytes | memoryview) -> None:
        self.offset = offset
        self.end = offset + len(data)
        self.buffers = [data]

    def add(self, data: bytes | memoryview) -> None:
        self.buffers.append(data)
        self.end += len(data)

    def write(self, target: _Target) -> None:
        if target.error is not None:
            return
        try:
            fd = target.descriptor()
            offset, buffers = self.offset, self.buffers
            while buffers:
                group = buffers[:_IOV_MAX]
                written = os.pwritev(fd, group, offset)
                offset += written
                for index, buffer in enumerate(group):  # a short write: go on after it
                    if written < len(buffer):
                        buffers = [memoryview(buffer)[written:], *buffers[index + 1 :]]
                        break
                    written -= len(buffer)
                else:
                    buffers = buffers[len(group) :]
        except OSError as error:
            target.error = target.error or str(error.strerror)


class _Restore:
    """One restore: plans runs from the tree, and workers write them."""

    def __init__(self, repo: Repository, sink: EventSink) -> None:
        self.repo = repo
        self.sink = sink
        self.lock = threading.Lock()
        self.problems: list[FileProblem] = []
        self.files = 0
        self.bytes = 0
        # The batch being planned: each file with its chunk ids (bytes) queued, in tree order.
        self.groups: list[tuple[_Target, list[bytes]]] = []
        self.queued = 0  # chunk ids in `groups`
        self.owner = os.geteuid() == 0  # owners restored only when run as root

    def problem(self, path: str, message: str) -> None:
        problem = FileProblem(path, message)
        with self.lock:
            self.problems.append(problem)
        self.sink(problem)

    # --- planning (main thread) ------------------------------------------------------------

    def room(self) -> int:
        """How many more chunks the batch takes."""
        return _BATCH_PIECES - self.queued

    def add_chunks(self, chunks: list[str], target: _Target) -> None:
        """Queue chunks of `target` (at most `room()`); the planner calls `flush` when `full`."""
        ids = [bytes.fromhex(chunk) for chunk in chunks]
        self.queued += len(ids)
        if self.groups and self.groups[-1][0] is target:
            self.groups[-1][1].extend(ids)
        else:
            self.groups.append((target, ids))

    def add_file(self, target: _Target) -> None:
        """Note that every chunk of `target` is queued (an empty file has none)."""
        target.complete = True
        if not self.groups or self.groups[-1][0] is not target:
            self.groups.append((target, []))

    def full(self) -> bool:
        return self.queued >= _BATCH_PIECES or len(self.groups) >= _BATCH_FILES

    def flush(self) -> tuple[list[_Run], list[_Target]]:
        """Locate the batch's chunks, and cut it into runs sorted by pack and offset."""
        groups, self.groups, self.queued = self.groups, [], 0
        known = self.repo.index.locate_many([i for _, ids in groups for i in ids])
        by_blob: dict[bytes, tuple[BlobLocation, list[_Place]]] = {}
        counts: dict[_Target, int] = {}
        for target, ids in groups:
            offset = target.planned_size
            count = 0
            for blob_id in ids:
                location = known.get(blob_id)
                if location is None:
                    target.error = target.error or f"morceau {blob_id.hex()[:16]} absent de l'index"
                    continue
                found = by_blob.get(blob_id)
                if found is None:
                    by_blob[blob_id] = (location, [(target, offset)])
                else:
                    found[1].append((target, offset))
                offset += location.entry.raw_length
                count += 1
            target.planned_size = offset
            counts[target] = counts.get(target, 0) + count
        ready: list[_Target] = []
        for target in counts:
            if target.complete and target.planned_size != target.node.size and not target.error:
                target.error = (
                    f"taille restaurée {target.planned_size} ≠ {target.node.size} attendue"
                )
        with self.lock:  # once per batch, not per file
            for target, count in counts.items():
                target.pending += count
                target.planned = target.complete
                if target.planned and target.pending == 0:
                    ready.append(target)
        runs: list[_Run] = []
        current: _Run | None = None
        first = end = 0
        for location, places in sorted(
            by_blob.values(), key=lambda item: (item[0].pack_id, item[0].entry.offset)
        ):
            entry = location.entry
            if (
                current is None
                or location.pack_id != current.pack_id
                or not -entry.length <= entry.offset - end <= _MAX_GAP  # (<0: the same frame)
                or entry.offset + entry.length - first > _MAX_RANGE
            ):
                current = _Run(location.pack_id, [])
                runs.append(current)
                first = entry.offset
            current.blobs.append((entry, places))
            end = entry.offset + entry.length
        return runs, ready

    # --- work (pool threads) ---------------------------------------------------------------

    def write_run(self, run: _Run) -> None:
        """Fetch, verify and write one run; finish the files whose last chunk it held."""
        done: dict[_Target, int] = {}
        # Chunks that follow each other in a file are written with one system call.
        segments: dict[_Target, _Segment] = {}
        start = run.blobs[0][0].offset
        last = run.blobs[-1][0]
        opener = None
        failure = ""
        try:
            span = memoryview(
                self.repo.storage.get(
                    pack_name(run.pack_id), start, last.offset + last.length - start
                )
            )
            reader = self.repo.pack_reader(run.pack_id)
            # A group frame is decompressed once for all the chunks of the run it holds.
            opener = self.repo.opener(reader, [entry for entry, _ in run.blobs])
        except BackupError as error:
            span, failure = memoryview(b""), str(error)
        for entry, places in run.blobs:
            data: bytes | memoryview = b""
            zeros = False
            if opener is not None:
                try:
                    sealed = span[entry.offset - start : entry.offset - start + entry.length]
                    data = opener.open(entry, sealed)
                    zeros = _zeros(data)
                    failure = ""
                except BackupError as error:
                    failure = str(error)
            for target, offset in places:
                done[target] = done.get(target, 0) + 1
                if failure:
                    target.error = target.error or failure
                elif zeros:
                    target.holes = True  # left as a hole; `finish` sets the size
                elif target.error is None:
                    segment = segments.get(target)
                    if segment is not None and segment.end == offset:
                        segment.add(data)
                    else:
                        if segment is not None:
                            segment.write(target)
                        segments[target] = _Segment(offset, data)
        for target, segment in segments.items():
            segment.write(target)
        finished = []
        with self.lock:
            for target, count in done.items():
                target.pending -= count
                if target.pending == 0 and target.planned:
                    finished.append(target)
        for target in finished:
            self.finish(target)

    def finish(self, target: _Target) -> None:
        """Close, rename and date a complete file, or drop its temporary file on error."""
        node = target.node
        problems: list[FileProblem] = []
        try:
            if target.fd < 0 and target.error is None:
                target.descriptor()  # an empty file
            if target.fd >= 0:
                if target.holes and target.error is None:
                    os.ftruncate(target.fd, node.size)
                if target.error is None:
                    # Metadata set through the open descriptor, before the file has its name:
                    # no path walked again, and linking it changes neither its mode nor times.
                    _apply_metadata(node, target.fd, problems, self.owner)
                    target.publish()
                os.close(target.fd)
                target.fd = -1
        except OSError as error:
            target.error = str(error.strerror)
            if target.fd >= 0:
                os.close(target.fd)  # an unnamed file goes with its descriptor
                target.fd = -1
        if target.error is not None:
            if target.named:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(target.temp)
            self.problem(node.path, f"non restauré : {target.error}")
            return
        with self.lock:
            self.files += 1
            self.bytes += node.size
            self.problems.extend(problems)


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


def _apply_metadata(
    node: Node, target: str | int, problems: list[FileProblem], owner: bool
) -> None:
    """Owner (when `owner`: run as root), mode, extended attributes and times of `node` on
    `target`, a path or an open descriptor."""
    link = node.type == "symlink"
    # A path's last component is never followed (a link is dated itself); a descriptor is
    # the file itself (and cannot be combined with follow_symlinks=False).
    follow = isinstance(target, int)
    try:
        if owner:
            os.chown(target, node.uid, node.gid, follow_symlinks=follow)
        if not link:
            os.chmod(target, node.mode)  # after chown, which clears set-user-id bits
        for name, value in node.xattrs.items():
            try:
                os.setxattr(target, name, base64.b64decode(value), follow_symlinks=follow)
            except OSError as error:
                problems.append(FileProblem(node.path, f"attribut {name} : {error.strerror}"))
        os.utime(target, ns=(node.atime_ns, node.mtime_ns), follow_symlinks=follow or not link)
    except OSError as error:
        problems.append(FileProblem(node.path, f"métadonnées : {error.strerror}"))


def restore_snapshot(
    repo: Repository,
    snapshot: Snapshot,
    target: Path,
    includes: Sequence[str] = (),
    sink: EventSink = ignore,
    workers: int | None = None,
) -> RestoreResult:
    """Restore the snapshot (or the `includes` paths of it) under `target`.

    `workers` threads verify and write (default: one per core, at most four). A local
    repository's reads cost no waiting, and more threads than cores only hand the GIL to one
    another at every native call; a remote one (S3) gains from a few more, to hide latency.
    """
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    repo.sync_index()
    target.mkdir(parents=True, exist_ok=True)
    state = _Restore(repo, sink)
    directories: list[tuple[Node, str]] = []
    root = str(target)
    made: set[str] = {root}
    in_flight: deque[Future[None]] = deque()
    last = 0.0
    # A full restore knows its totals from the snapshot's statistics: the bar shows time left.
    files_total = None if includes else int(snapshot.stats.get("files", 0)) or None
    bytes_total = None if includes else int(snapshot.stats.get("bytes", 0)) or None

    def submit(runs: list[_Run], ready: list[_Target]) -> None:
        nonlocal last
        for done in ready:
            in_flight.append(pool.submit(state.finish, done))
        for run in runs:
            while len(in_flight) >= 2 * workers or (in_flight and in_flight[0].done()):
                in_flight.popleft().result()
            in_flight.append(pool.submit(state.write_run, run))
            if time.monotonic() - last > 0.2:
                last = time.monotonic()
                sink(Progress("restore", state.files, state.bytes, files_total, bytes_total))

    def parent(path: str) -> None:
        head = os.path.dirname(path)
        if head not in made:
            os.makedirs(head, exist_ok=True)
            made.add(head)

    with ThreadPoolExecutor(workers, thread_name_prefix="restore") as pool:
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
                    _apply_metadata(node, path, state.problems, state.owner)
                elif node.type == "file":
                    parent(path)
                    file = _Target(node, path)
                    chunks, start = node.chunks, 0
                    while start < len(chunks):  # a large file may span several batches
                        part = chunks[start : start + state.room()]
                        state.add_chunks(part, file)
                        start += len(part)
                        if state.full():
                            submit(*state.flush())
                    state.add_file(file)
                    if state.full():
                        submit(*state.flush())
                elif node.type == "fifo":
                    parent(path)
                    _clear(path)
                    os.mkfifo(path, node.mode)
                    _apply_metadata(node, path, state.problems, state.owner)
            except OSError as error:
                state.problem(node.path, f"non restauré : {error.strerror}")
        submit(*state.flush())
        while in_flight:
            in_flight.popleft().result()
    for node, path in reversed(directories):
        _apply_metadata(node, path, state.problems, state.owner)
    sink(Progress("restore", state.files, state.bytes, state.files, state.bytes))
    return RestoreResult(state.files, state.bytes, tuple(state.problems))
