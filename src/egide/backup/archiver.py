"""`run`: back up paths into a new snapshot.

The main thread walks the sources and reads changed files (each once) into a few reused buffers,
cutting chunks there (`batch.py`); a pool of workers takes full buffers and hashes, deduplicates,
compresses and seals their chunks; an uploader ships full packs. Files from `_WHOLE_MIN` up to a
buffer's size are read, cut and stored whole by a worker instead (ADR 0033): two at once, while
the main thread walks on.
Unchanged files (same type, size, mtime, ctime and inode as in the parent snapshot, all chunks
still indexed) are not read at all. Unreadable or vanishing files are reported, recorded in the
tree with their error, and the run goes on. The snapshot is stored last, after every pack and
index file it needs, and only while this client's lease is still valid.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

from .alarm import SAMPLE_SIZE, Tally, Thresholds, is_dense
from .batch import Batch, BatchReader, BufferPool, read_whole
from .chunker import Chunker, Policy
from .errors import BackupError, ObjectMissing, RepositoryLocked
from .events import EventSink, FileProblem, Notice, Progress, ignore
from .lock import Lease
from .pack import HEADER_SIZE, BlobType, PackReader, pack_name, trailer_length
from .repository import Repository
from .snapshot import Snapshot, list_snapshots, read_tree, save_snapshot
from .store import BlobStore
from .tree import MergeCursor, Node
from .walker import node_for, walk

_MAX_QUEUED_FILES = 512
# Unchanged files whose chunks are checked against the index in one query (per 500 ids).
_VERIFY_BATCH = 256
# Files from this size up to a read buffer's are read, cut and stored by a worker, whole: their
# chunks (≥ 256 KiB with the default chunker, but for a file's last) are framed alone anyway,
# while smaller files share buffers and group frames (ADR 0028).
_WHOLE_MIN = 256 << 10
_Segments = list[tuple[Batch, int, int]]
_FILES_PER_JOB = 1024


# What a worker found reading one file: chunk ids, size read, first bytes, mtime after the read;
# or why it could not be read.
_Outcome = tuple[list[bytes], int, bytes, int] | OSError


@dataclass(eq=False)
class _Job:
    """Files a worker reads, cuts and stores: one from `_WHOLE_MIN` up to a buffer, or small files
    one after the other in one buffer, stored in one batch (their small chunks share group
    frames). `future` is None while small files are still being added."""

    paths: list[str] = field(default_factory=list)
    expected: int = 0
    future: Future[list[_Outcome]] | None = None


@dataclass(frozen=True)
class BackupOptions:
    """What to back up and how."""

    paths: tuple[str, ...]
    excludes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    one_file_system: bool = False
    host: str = field(default_factory=socket.gethostname)
    parent: str | None = None
    workers: int = 2
    # Walk the sources a second time, alongside, for the totals of `Progress` (a bar, a share
    # done): a caller that shows no progress saves that walk.
    count_totals: bool = True
    alarm: Thresholds = field(default_factory=Thresholds)
    # Reasons to distrust this run found before it (the agent's tamper watch): recorded with the
    # alarm's own, so the snapshot is suspect and the one before it pinned.
    known_reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class BackupResult:
    """The stored snapshot and what the run met."""

    snapshot: Snapshot
    problems: tuple[FileProblem, ...]


def recover_orphan_packs(repo: Repository, sink: EventSink = ignore) -> int:
    """Index packs that were uploaded but never indexed (a run killed in between)."""
    indexed = repo.index.indexed_packs()
    orphans = []
    for info in repo.storage.list("data/"):
        pack_id = info.name.rsplit("/", 1)[-1]
        if pack_id not in indexed:
            orphans.append((pack_id, info.size))
    recovered = []
    for pack_id, size in orphans:
        try:
            header = repo.storage.get(pack_name(pack_id), 0, HEADER_SIZE)
            length = trailer_length(repo.storage.get(pack_name(pack_id), size - 4, 4))
            tail = repo.storage.get(pack_name(pack_id), max(0, size - 4 - length), length + 4)
            entries = PackReader(repo.master, header, pack_name(pack_id)).read_trailer(tail)
        except ObjectMissing:
            continue
        except BackupError as error:
            sink(Notice(f"pack {pack_id[:12]} illisible, ignoré : {error}"))
            continue
        recovered.append((pack_id, entries))
    if recovered:
        repo.write_index(recovered)
        sink(Notice(f"{len(recovered)} pack(s) d'une sauvegarde interrompue réutilisé(s)"))
    return len(recovered)


def _parent_snapshot(repo: Repository, options: BackupOptions, paths: list[str]) -> Snapshot | None:
    snapshots = list_snapshots(repo)
    if options.parent:
        return next((s for s in snapshots if s.snapshot_id.startswith(options.parent)), None)
    same = [s for s in snapshots if s.host == options.host and sorted(s.paths) == paths]
    return same[-1] if same else None


def _open_without_atime(path: str) -> int:
    flags = os.O_RDONLY | getattr(os, "O_NOATIME", 0)
    try:
        return os.open(path, flags)
    except PermissionError:
        return os.open(path, os.O_RDONLY)  # O_NOATIME needs ownership; the plain open decides


class _Run:
    def __init__(self, repo: Repository, options: BackupOptions, sink: EventSink) -> None:
        self.repo = repo
        self.options = options
        self.sink = sink
        self.store = BlobStore(repo)
        self.chunker = Chunker(repo.settings.chunker, repo.chunker_seed)
        self.pool = ThreadPoolExecutor(max(1, options.workers), thread_name_prefix="chunk")
        # Buffers of 1.5 times the largest chunk: each one yields at least half a maximal chunk
        # more than it carries over. One is filled while the workers store the others, or read
        # files into them (a fourth measured no faster, for ~10 MiB more at the peak: ADR 0033).
        self.buffers = BufferPool(self.chunker.max_chunk * 3 // 2, max(1, options.workers) + 1)
        self.reader = BatchReader(self.chunker, self.buffers, self._submit, SAMPLE_SIZE)
        # Nodes in walk order until their chunks are known, with the parent's file at their path.
        self.queue: deque[tuple[Node, Node | None, _Segments, _Job | None, int]] = deque()
        self.files = _Job()  # small files gathered for the next job
        # Files unchanged by their metadata whose chunks are not yet checked against the index,
        # in walk order (all of them are checked at once, before the first is written).
        self.unverified: list[tuple[Node, str, list[tuple[Batch, int, int]]]] = []
        self.tally = Tally()  # the ransomware alarm, fed as nodes are done
        self.problems: list[FileProblem] = []
        self.stats: dict[str, float] = dict.fromkeys(
            ("files", "dirs", "others", "bytes", "files_new", "files_changed",
             "files_unchanged", "bytes_read", "errors"), 0,
        )  # fmt: skip
        self.totals: list[int | None] = [None, None]
        self.done_files = 0
        self.done_bytes = 0
        self._last_event = 0.0

    def problem(self, path: str, message: str) -> None:
        event = FileProblem(path, message)
        self.problems.append(event)
        self.stats["errors"] += 1
        self.sink(event)

    def progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_event > 0.2:
            self._last_event = now
            self.sink(Progress("backup", self.done_files, self.done_bytes, *self.totals))

    def count_totals(self, paths: list[str]) -> None:
        files = size = 0
        for entry in walk(paths, self.options.excludes, self.options.one_file_system):
            if entry.stat is not None and not entry.error:
                files += 1
                size += entry.stat.st_size if entry.stat.st_mode & 0o100000 else 0
        self.totals = [files, size]

    def _store_batch(self, batch: Batch) -> list[bytes]:
        try:
            return self.store.store_many(BlobType.DATA, batch.chunks)
        finally:
            batch.chunks = []  # no view of the buffer outlives the batch
            self.buffers.give(batch.buffer)

    def _submit(self, batch: Batch) -> Future[list[bytes]]:
        return self.pool.submit(self._store_batch, batch)

    @staticmethod
    def _open(path: str) -> int:
        return _open_without_atime(path)

    @staticmethod
    def _prefetch(path: str) -> None:
        """Ask the kernel to start reading a file a worker will read soon (ADR 0041).

        A file not in the page cache costs ~0.1–0.3 ms of disk latency, paid in turn by the
        worker that reads it: 1 s on the bench corpus's 6,500 files. `WILLNEED` queues the read
        now, while the file waits in its job or for a buffer. Errors are the worker's to report."""
        try:
            fd = _open_without_atime(path)
        except OSError:
            return
        try:
            with contextlib.suppress(OSError):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        finally:
            os.close(fd)

    def _store_chunks(self, chunks: Sequence[memoryview]) -> list[bytes]:
        return self.store.store_many(BlobType.DATA, chunks)

    def _read_fd_whole(self, fd: int, path: str, buffer: bytearray) -> _Outcome:
        ids, size, sample = read_whole(
            fd, path, buffer, self.chunker, SAMPLE_SIZE, self._store_chunks
        )
        return ids, size, sample, os.fstat(fd).st_mtime_ns

    def _read_whole(self, path: str, buffer: bytearray) -> list[_Outcome]:
        # On a worker: the file is read, cut and stored in `buffer`, then the buffer goes back.
        try:
            try:
                fd = self._open(path)
            except OSError as error:
                return [error]
            try:
                return [self._read_fd_whole(fd, path, buffer)]
            except OSError as error:
                return [error]
            finally:
                os.close(fd)
        finally:
            self.buffers.give(buffer)

    def _read_files(self, paths: list[str], buffer: bytearray) -> list[_Outcome]:
        # On a worker: small files read one after the other into `buffer`, cut, and their chunks
        # stored in one batch. A file that grew past the room left is read on its own after the
        # chunks gathered so far are stored.
        outcomes: list[_Outcome] = []
        chunks: list[memoryview] = []
        owners: list[tuple[int, int]] = []  # (outcome index, chunk count) of `chunks`
        size = len(buffer)

        def store() -> None:
            ids = self._store_chunks(chunks) if chunks else []
            position = 0
            for index, count in owners:
                found = outcomes[index]
                assert not isinstance(found, OSError)
                found[0].extend(ids[position : position + count])
                position += count
            chunks.clear()
            owners.clear()

        try:
            with memoryview(buffer) as view:
                used = 0
                for path in paths:
                    try:
                        fd = self._open(path)
                    except OSError as error:
                        outcomes.append(error)
                        continue
                    try:
                        start = used
                        count = -1
                        while used < size and count:
                            count = os.readv(fd, [view[used:]])
                            used += count
                        if count:  # no room left before the end: alone, from its start
                            store()
                            used = 0
                            os.lseek(fd, 0, os.SEEK_SET)
                            outcomes.append(self._read_fd_whole(fd, path, buffer))
                            continue
                        data = view[start:used]
                        policy, block = self.chunker.plan(path, data)
                        cut = self.chunker.cut(data, policy, block, final=True)
                        outcomes.append(
                            ([], used - start, bytes(data[:SAMPLE_SIZE]), os.fstat(fd).st_mtime_ns)
                        )
                        owners.append((len(outcomes) - 1, len(cut)))
                        chunks.extend(cut)
                        del data, cut
                    except OSError as error:
                        outcomes.append(error)
                    finally:
                        os.close(fd)
                store()
            return outcomes
        finally:
            chunks.clear()
            self.buffers.give(buffer)

    def read_whole_later(self, path: str) -> _Job:
        """Hand a file to a worker, whole (`drain` takes what it found, in walk order)."""
        self.reader.flush()  # the last large file's tail: stored now, its buffer back in the pool
        buffer = self.buffers.take()
        return _Job([path], future=self.pool.submit(self._read_whole, path, buffer))

    def read_small_later(self, path: str, size: int) -> tuple[_Job, int]:
        """Gather a small file for a worker; the job leaves when a buffer's worth is gathered."""
        if self.files.paths and (
            self.files.expected + size > self.buffers.size * 3 // 4
            or len(self.files.paths) >= _FILES_PER_JOB
        ):
            self.submit_files()
        job = self.files
        job.paths.append(path)
        job.expected += size
        return job, len(job.paths) - 1

    def submit_files(self) -> None:
        """Send the gathered small files to a worker."""
        job, self.files = self.files, _Job()
        if job.paths:
            self.reader.flush()  # the last large file's tail: stored now, its buffer back
            buffer = self.buffers.take()
            job.future = self.pool.submit(self._read_files, job.paths, buffer)

    def job_done(self, node: Node, job: _Job, index: int) -> None:
        """Fill `node` from its worker's read (or record why the file could not be read)."""
        assert job.future is not None
        found = job.future.result()[index]
        path = job.paths[index]
        if isinstance(found, OSError):
            node.error = f"illisible : {found.strerror}"
            node.chunks = []
            self.problem(path, node.error)
            return
        ids, size, sample, mtime_ns = found
        self.done_bytes += size
        self.stats["bytes_read"] += size
        node.dense = is_dense(sample)
        if size != node.size or mtime_ns != node.mtime_ns:
            self.problem(
                path, "fichier modifié pendant la lecture : copie possiblement incohérente"
            )
            node.size = size
        node.chunks = [blob.hex() for blob in ids]
        self.progress()

    def read_file(self, path: str, node: Node) -> _Segments:
        fd = self._open(path)
        try:
            found = self.reader.read(fd, path, node.size)
            after = os.fstat(fd)
        finally:
            os.close(fd)
        self.done_bytes += found.size
        self.progress()
        node.dense = is_dense(found.sample)
        self.stats["bytes_read"] += found.size
        if found.size != node.size or after.st_mtime_ns != node.mtime_ns:
            self.problem(
                path, "fichier modifié pendant la lecture : copie possiblement incohérente"
            )
            node.size = found.size
        node.chunks = []
        return found.segments

    def drain(self, out: BinaryIO, limit: int) -> None:
        queue = self.queue
        while queue:
            node, before, segments, job, index = queue[0]
            forced = len(queue) > limit
            if self.unverified and self.unverified[0][0] is node:
                if not forced and len(self.unverified) < _VERIFY_BATCH:
                    return
                self.verify_unchanged()  # may read some files after all: `segments` grows
            if job is not None and job.future is None:
                if not forced:
                    return  # its small files are still being gathered
                self.submit_files()
            if not forced and (
                (job is not None and job.future is not None and not job.future.done())
                or not all(b.future is not None and b.future.done() for b, _, _ in segments)
            ):
                return
            queue.popleft()
            if job is not None:
                self.job_done(node, job, index)
            for batch, first, count in segments:
                self.reader.ensure_submitted(batch)
                assert batch.future is not None
                ids = batch.future.result()
                node.chunks.extend(blob.hex() for blob in ids[first : first + count])
            if node.type == "file":
                self.tally.pair(before, node)
            out.write(node.encode())

    def parent_gone(self, before: Node) -> None:
        """A node of the parent tree that this walk did not meet (`MergeCursor`'s `skipped`)."""
        if before.type == "file":
            self.tally.pair(before, None)

    def vanished(self, path: str, error: str, parent: MergeCursor, out: BinaryIO) -> None:
        """An entry the walk listed but could not stat: recorded as an unreadable file."""
        self.problem(path, f"disparu ou illisible : {error}")
        node = Node(path.lstrip("/"), "file", error=error)
        before = parent.find(node.key())
        self.queue.append((node, before if before and before.type == "file" else None, [], None, 0))
        self.drain(out, _MAX_QUEUED_FILES)

    def unchanged(self, node: Node, before: Node | None) -> bool:
        """Same metadata as in the parent (its chunks are checked later: `verify_unchanged`)."""
        return (
            before is not None
            and before.type == "file"
            and not before.error
            and (before.size, before.mtime_ns, before.ctime_ns, before.inode)
            == (node.size, node.mtime_ns, node.ctime_ns, node.inode)
        )

    def verify_unchanged(self) -> None:
        """Check the chunks of the files skipped by metadata, one index query per 500 chunks;
        a file with a chunk no longer indexed (a lost pack, a prune) is read after all."""
        pending, self.unverified = self.unverified, []
        wanted = list({bytes.fromhex(c) for node, _, _ in pending for c in node.chunks})
        known = self.repo.index.known(wanted)
        if len(known) == len(wanted):
            return
        for node, path, segments in pending:
            if all(bytes.fromhex(c) in known for c in node.chunks):
                continue
            self.stats["files_unchanged"] -= 1
            self.stats["files_changed"] += 1
            self.done_bytes -= node.size
            try:
                segments.extend(self.read_file(path, node))
            except OSError as error:
                node.error = f"illisible : {error.strerror}"
                node.chunks = []
                self.problem(path, node.error)

    def visit(self, path: str, info: os.stat_result, parent: MergeCursor, out: BinaryIO) -> None:
        try:
            node = node_for(path, info)
        except OSError as error:
            self.problem(path, f"illisible : {error.strerror}")
            return
        segments: _Segments = []
        job: _Job | None = None
        index = 0
        before: Node | None = None
        kind = node.type
        self.stats["files" if kind == "file" else "dirs" if kind == "dir" else "others"] += 1
        if kind == "file":
            self.stats["bytes"] += node.size
            before = parent.find(node.key())
            if self.unchanged(node, before):
                assert before is not None
                node.chunks = before.chunks
                node.dense = before.dense
                self.stats["files_unchanged"] += 1
                self.done_bytes += node.size
                self.unverified.append((node, path, segments))
            else:
                self.stats["files_changed" if before else "files_new"] += 1
                if node.size <= self.buffers.size:
                    self._prefetch(path)
                if _WHOLE_MIN <= node.size <= self.buffers.size:
                    job = self.read_whole_later(path)
                elif node.size < _WHOLE_MIN:
                    job, index = self.read_small_later(path, node.size)
                else:
                    try:
                        segments = self.read_file(path, node)
                    except OSError as error:
                        node.error = f"illisible : {error.strerror}"
                        node.chunks = []
                        self.problem(path, node.error)
        self.done_files += 1
        self.queue.append(
            (node, before if before and before.type == "file" else None, segments, job, index)
        )
        self.drain(out, _MAX_QUEUED_FILES)
        self.progress()

    def store_tree(self, out: BinaryIO) -> list[str]:
        out.seek(0)
        return [
            self.store.store(BlobType.TREE, bytes(view)).hex()
            for view in self.chunker.chunks(out, Policy.SMALL)
        ]


def run_backup(repo: Repository, options: BackupOptions, sink: EventSink = ignore) -> BackupResult:
    """Back up `options.paths` into a new snapshot; raises BackupError on storage failure."""
    started = time.monotonic()
    moment = datetime.now(UTC)
    # abspath, not resolve: a symlinked source is backed up under the name the user gave.
    paths = sorted({os.path.abspath(p) for p in options.paths})  # noqa: PTH100
    with Lease(repo.storage, exclusive=False) as lease:
        repo.sync_index()
        recover_orphan_packs(repo, sink)
        parent = _parent_snapshot(repo, options, paths)
        run = _Run(repo, options, sink)
        if options.count_totals:
            counter = threading.Thread(target=run.count_totals, args=(paths,), daemon=True)
            counter.start()
        parent_nodes = MergeCursor(read_tree(repo, parent) if parent else iter(()), run.parent_gone)
        try:
            with tempfile.TemporaryFile() as out:
                for entry in walk(paths, options.excludes, options.one_file_system):
                    if entry.stat is None:
                        run.vanished(entry.path, entry.error, parent_nodes, out)
                        continue
                    if entry.error:
                        run.problem(entry.path, entry.error)
                    run.visit(entry.path, entry.stat, parent_nodes, out)
                run.reader.flush()
                run.submit_files()
                run.drain(out, 0)
                parent_nodes.finish()
                verdict = run.tally.verdict(options.alarm)
                # The tree in packs of its own: a lost data pack damages the files it held,
                # not the listing of every file of the snapshot.
                run.store.ship_open()
                tree = run.store_tree(out)
            run.store.flush()
        finally:
            run.pool.shutdown(wait=True, cancel_futures=True)
            run.store.close()
        run.progress(force=True)
        if not lease.valid():
            raise RepositoryLocked(
                "le bail sur le dépôt a expiré pendant la sauvegarde ; relancez-la"
                " (les données envoyées seront réutilisées)"
            )
        stats = dict(run.stats)
        stats.update(
            blobs_new=run.store.new_blobs,
            bytes_new=run.store.new_raw_bytes,
            bytes_added=run.store.stored_bytes,
            seconds=round(time.monotonic() - started, 3),
        )
        stats.update(verdict.metrics())
        snapshot = Snapshot(
            time=moment.isoformat(),
            host=options.host,
            paths=paths,
            tree=tree,
            tags=sorted(set(options.tags)),
            user=_user_name(),
            parent=parent.snapshot_id if parent else "",
            stats=stats,
            suspect=verdict.suspect or bool(options.known_reasons),
            suspect_reasons=[*options.known_reasons, *verdict.reasons],
        )
        save_snapshot(repo, snapshot)
    return BackupResult(snapshot, tuple(run.problems))


def _user_name() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return ""
