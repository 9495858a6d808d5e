"""What every `egide backup` command shares: where the repository is, the passphrase, exit codes,
error messages for people (in French) and the rendering of engine events.

The edge of the engine: it reads flags, environment variables and passphrase files, builds the
typed engine objects, and renders the engine's events (a rich progress bar on a terminal, JSON
lines with `--json`). The engine itself never reads the environment.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, NoReturn

import click

from egide.backup import errors
from egide.backup.events import Event, FileProblem, Notice, Progress
from egide.backup.localstore import LocalStorage
from egide.backup.repository import Repository, open_repository
from egide.backup.storage import RetryingStorage, Storage

EXIT_OK, EXIT_FAILURE, EXIT_WARNINGS = 0, 1, 3
EXIT_NO_REPOSITORY, EXIT_LOCKED, EXIT_WRONG_PASSPHRASE = 10, 11, 12

EXIT_CODES_HELP = f"""
\b
Codes de sortie :
  {EXIT_OK}   réussite
  {EXIT_FAILURE}   échec
  {EXIT_WARNINGS}   terminé avec des avertissements (fichiers illisibles…)
  {EXIT_NO_REPOSITORY}  aucun dépôt à cet emplacement
  {EXIT_LOCKED}  dépôt occupé par un autre client (bail actif)
  {EXIT_WRONG_PASSPHRASE}  phrase de passe incorrecte
"""


class Context:
    """What every subcommand needs: where the repository is and how to unlock it."""

    def __init__(
        self,
        repo: str | None,
        passphrase_file: Path | None,
        s3_endpoint: str | None,
        cache_dir: Path | None,
        json_output: bool,
    ) -> None:
        self.repo = repo
        self.passphrase_file = passphrase_file
        self.s3_endpoint = s3_endpoint
        self.cache_dir = cache_dir
        self.json = json_output
        self.warnings = 0
        self.append_only = False
        self.object_lock: tuple[str, int] | None = None

    def storage(self) -> Storage:
        storage = self.backend()
        if self.append_only:
            from egide.backup.objectlock import AppendOnlyStorage

            return AppendOnlyStorage(storage)
        return storage

    def backend(self) -> Storage:
        if not self.repo:
            fail("indiquez le dépôt avec -r/--repo ou EGIDE_BACKUP_REPOSITORY", EXIT_FAILURE)
        if self.repo.startswith("s3://"):
            # boto3 is imported only for S3 repositories: it costs ~30 MB of memory.
            from egide.backup.s3store import S3Location, S3Storage, parse_s3_url

            bucket, prefix = parse_s3_url(self.repo)
            env = os.environ
            location = S3Location(
                bucket=bucket,
                prefix=prefix,
                endpoint_url=self.s3_endpoint
                or env.get("AWS_ENDPOINT_URL_S3")
                or env.get("AWS_ENDPOINT_URL"),
                region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
                access_key_id=env.get("AWS_ACCESS_KEY_ID"),
                secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
                session_token=env.get("AWS_SESSION_TOKEN"),
            )
            if self.object_lock:
                from datetime import timedelta

                from egide.backup.objectlock import LockMode, ObjectLockStorage

                mode, days = self.object_lock
                return RetryingStorage(
                    ObjectLockStorage(location, LockMode(mode.upper()), timedelta(days=days))
                )
            return RetryingStorage(S3Storage(location))
        return RetryingStorage(LocalStorage(Path(self.repo)))

    def cache(self) -> Path:
        if self.cache_dir is not None:
            return self.cache_dir
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "egide" / "backup"

    def passphrase(self, confirm: bool = False) -> bytes:
        if self.passphrase_file is not None:
            return read_passphrase_file(self.passphrase_file)
        from_env = os.environ.get("EGIDE_BACKUP_PASSPHRASE")
        if from_env:
            return from_env.encode()
        if not sys.stdin.isatty():
            fail(
                "aucune phrase de passe : utilisez --passphrase-file, EGIDE_BACKUP_PASSPHRASE"
                " ou un terminal",
                EXIT_FAILURE,
            )
        text = click.prompt(
            "Phrase de passe du dépôt", hide_input=True, confirmation_prompt=confirm
        )
        return str(text).encode()

    def open(self) -> Repository:
        return open_repository(self.storage(), self.passphrase(), self.cache())

    def emit(self, event: Event) -> None:
        """Render a non-progress event (progress goes through `progress_sink`)."""
        if isinstance(event, FileProblem):
            self.warnings += 1
            if self.json:
                line({"event": "warning", "path": event.path, "message": event.message})
            else:
                click.echo(f"avertissement : {shown(event.path)} : {event.message}", err=True)
        elif isinstance(event, Notice):
            if self.json:
                line({"event": "notice", "message": event.message})
            else:
                click.echo(event.message, err=True)


def releasing_memory(sink: Any) -> Any:
    """Wrap a sink so that, at most once a second, freed heap memory goes back to the system.

    Chunk buffers are freed by other threads than the one that allocated them; glibc keeps such
    memory in per-thread arenas, and the peak resident size of a long backup creeps up by tens of
    MiB. `malloc_trim` (glibc only) returns the free pages; once a second it costs nothing visible.
    """
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return sink
    last = [time.monotonic()]

    def wrapped(event: Event) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0:
            last[0] = now
            trim(0)
        sink(event)

    return wrapped


def read_passphrase_file(path: Path) -> bytes:
    """The passphrase in a file, without its trailing newline."""
    try:
        return path.read_bytes().rstrip(b"\r\n")
    except OSError as error:
        fail(f"fichier de phrase de passe illisible : {error.strerror}", EXIT_FAILURE)


def line(document: dict[str, Any]) -> None:
    """One JSON event line on standard output."""
    text = json.dumps(document, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A file name that is not UTF-8: keep it exact, as a JSON escape.
        text = json.dumps(document)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def shown(path: str) -> str:
    """A path for people: bytes that are not UTF-8 become U+FFFD instead of crashing output."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def fail(message: str, code: int) -> NoReturn:
    """Print a French message for people and exit with `code`."""
    click.echo(f"Erreur : {message}", err=True)
    raise SystemExit(code)


@contextlib.contextmanager
def engine_errors() -> Iterator[None]:
    """Turn engine errors into clear messages and the documented exit codes."""
    try:
        yield
    except errors.WrongPassphrase:
        fail("phrase de passe incorrecte : aucune clé du dépôt ne s'ouvre avec elle.",
             EXIT_WRONG_PASSPHRASE)  # fmt: skip
    except errors.RepositoryNotFound as error:
        fail(f"{error}. Créez-le avec « egide backup init ».", EXIT_NO_REPOSITORY)
    except errors.RepositoryLocked as error:
        fail(f"dépôt occupé : {error}. Réessayez plus tard.", EXIT_LOCKED)
    except errors.RepositoryExists as error:
        fail(str(error), EXIT_FAILURE)
    except errors.SnapshotNotFound as error:
        fail(str(error), EXIT_FAILURE)
    except errors.DeletionRefused as error:
        fail(
            f"refusé : {error}. Les suppressions relèvent de l'opérateur, après la fin de la"
            " rétention.",
            EXIT_FAILURE,
        )
    except errors.StorageFull as error:
        fail(f"stockage plein : {error}. Le dépôt reste cohérent.", EXIT_FAILURE)
    except errors.StorageError as error:
        fail(f"stockage inaccessible : {error}. Le dépôt reste cohérent.", EXIT_FAILURE)
    except errors.RepositoryCorrupted as error:
        fail(f"dépôt endommagé : {error}. Lancez « egide backup check --read-data ».",
             EXIT_FAILURE)  # fmt: skip
    except errors.BackupError as error:
        fail(str(error), EXIT_FAILURE)


@contextlib.contextmanager
def progress_sink(ctx: Context, label: str) -> Iterator[Any]:
    """A sink for engine events: a rich bar on a terminal, JSON lines, or nothing."""
    if ctx.json:

        def sink(event: Event) -> None:
            if isinstance(event, Progress):
                line({"event": "progress", **asdict(event)})
            else:
                ctx.emit(event)

        yield sink
        return
    if not sys.stderr.isatty():
        yield ctx.emit
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )  # fmt: skip
    from rich.progress import (
        Progress as Bar,
    )

    with Bar(
        TextColumn(label), BarColumn(), TextColumn("{task.fields[files]} fichiers"),
        DownloadColumn(),
        TransferSpeedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
        transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task(label, total=None, files=0)

        def render(event: Event) -> None:
            if isinstance(event, Progress):
                bar.update(task, completed=event.bytes, total=event.bytes_total, files=event.files)
            else:
                ctx.emit(event)

        yield render


pass_context = click.make_pass_decorator(Context)
