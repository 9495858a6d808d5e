"""`restore`: write a snapshot's files back, byte-identical and with their metadata.

Files are restored by a pool of threads; for each file, runs of chunks that sit next to each
other in the same pack are fetched with one ranged read (one request on S3), then every chunk is
authenticated, decompressed and re-hashed against its id — the snapshot's record of the content —
before it is written. Memory is bounded by the workers × one range (≤ `_MAX_RANGE`). Directory
times are set last, deepest first, since writing their children changes them.
"""

from __future__ import annotations

import base64
import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .errors import BackupError
from .events import EventSink, FileProblem, Progress, ignore
from .index import BlobLocation
from .pack import pack_name
from .repository import Repository
from .snapshot import Snapshot, read_tree
from .tree import Node

_MAX_RANGE = 8 << 20
_MAX_GAP = 256 << 10


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


def _runs(repo: Repository, chunks: list[str]) -> Iterator[list[BlobLocation]]:
    """Consecutive chunks grouped by pack proximity, for one ranged read each."""
    current: list[BlobLocation] = []
    ids = [bytes.fromhex(chunk) for chunk in chunks]
    known = repo.index.locate_many(ids)
    for blob_id in ids:
        location = known.get(blob_id)
        if location is None:
            raise BackupError(f"morceau {blob_id.hex()[:16]} absent de l'index")
        if current:
            first, last = current[0], current[-1]
            end = last.entry.offset + last.entry.length
            if (
                location.pack_id != first.pack_id
                or not 0 <= location.entry.offset - end <= _MAX_GAP
                or location.entry.offset + location.entry.length - first.entry.offset > _MAX_RANGE
            ):
                yield current
                current = []
        current.append(location)
    if current:
        yield current


def _write_file(repo: Repository, node: Node, target: Path) -> int:
    written = 0
    # Written aside and renamed when complete and verified: no half file under the real name.
    temp = target.with_name(f".{target.name}.egide-restore")
    try:
        with temp.open("wb") as out:
            for run in _runs(repo, node.chunks):
                start = run[0].entry.offset
                end = run[-1].entry.offset + run[-1].entry.length
                span = memoryview(repo.storage.get(pack_name(run[0].pack_id), start, end - start))
                for location in run:
                    offset = location.entry.offset - start
                    piece = span[offset : offset + location.entry.length]
                    data = repo.read_located(location, piece)
                    out.write(data)
                    written += len(data)
        if written != node.size:
            raise BackupError(f"taille restaurée {written} ≠ {node.size} attendue")
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    temp.replace(target)
    return written


def _apply_metadata(node: Node, target: Path, problems: list[FileProblem]) -> None:
    link = node.type == "symlink"
    try:
        if os.geteuid() == 0:
            os.chown(target, node.uid, node.gid, follow_symlinks=False)
        if not link:
            target.chmod(node.mode)
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
) -> RestoreResult:
    """Restore the snapshot (or the `includes` paths of it) under `target`."""
    repo.sync_index()
    target.mkdir(parents=True, exist_ok=True)
    problems: list[FileProblem] = []
    directories: list[tuple[Node, Path]] = []
    pending: deque[tuple[Node, Path, Future[int]]] = deque()
    files = written = 0
    last = 0.0

    def finish(node: Node, path: Path, future: Future[int]) -> None:
        nonlocal files, written
        try:
            written += future.result()
            files += 1
            _apply_metadata(node, path, problems)
        except (BackupError, OSError) as error:
            problems.append(FileProblem(node.path, f"non restauré : {error}"))
            sink(problems[-1])

    with ThreadPoolExecutor(workers, thread_name_prefix="restore") as pool:
        for node in read_tree(repo, snapshot):
            if not selected(node, includes):
                continue
            path = target / node.path
            if node.error:
                problems.append(FileProblem(node.path, f"absent de l'instantané : {node.error}"))
                sink(problems[-1])
                continue
            try:
                if node.type == "dir":
                    path.mkdir(parents=True, exist_ok=True)
                    directories.append((node, path))
                elif node.type == "symlink":
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.unlink(missing_ok=True)
                    path.symlink_to(node.target)
                    _apply_metadata(node, path, problems)
                elif node.type == "file":
                    path.parent.mkdir(parents=True, exist_ok=True)
                    pending.append((node, path, pool.submit(_write_file, repo, node, path)))
                elif node.type == "fifo":
                    path.parent.mkdir(parents=True, exist_ok=True)
                    os.mkfifo(path, node.mode)
            except OSError as error:
                problems.append(FileProblem(node.path, f"non restauré : {error.strerror}"))
                sink(problems[-1])
            while pending and (len(pending) > 4 * workers or pending[0][2].done()):
                finish(*pending.popleft())
            if time.monotonic() - last > 0.2:
                last = time.monotonic()
                sink(Progress("restore", files, written))
        while pending:
            finish(*pending.popleft())
    for node, path in reversed(directories):
        _apply_metadata(node, path, problems)
    sink(Progress("restore", files, written, files, written))
    return RestoreResult(files, written, tuple(problems))
