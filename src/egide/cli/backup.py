"""`egide backup …`: the backup engine from the command line.

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
from egide.backup.repository import Repository, init_repository, open_repository
from egide.backup.storage import RetryingStorage, Storage
from egide.crypto.kdf import Argon2Params

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
        fail(f"refusé : {error}. Les suppressions relèvent de l'opérateur, après la fin de la"
             " rétention.", EXIT_FAILURE)  # fmt: skip
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


@click.group(epilog=EXIT_CODES_HELP)
@click.option(
    "-r",
    "--repo",
    envvar="EGIDE_BACKUP_REPOSITORY",
    help="Dépôt : un dossier ou s3://seau/préfixe (ou EGIDE_BACKUP_REPOSITORY).",
)
@click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Fichier contenant la phrase de passe (sinon EGIDE_BACKUP_PASSPHRASE ou invite).",
)
@click.option(
    "--s3-endpoint", help="URL du service S3 de l'hébergeur HDS (sinon AWS_ENDPOINT_URL)."
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Cache local de l'index (par défaut ~/.cache/egide/backup).",
)
@click.option("--json", "json_output", is_flag=True, help="Événements en lignes JSON.")
@click.option(
    "--append-only",
    is_flag=True,
    envvar="EGIDE_BACKUP_APPEND_ONLY",
    help="Ajout seul : toute suppression ou réécriture de données est refusée.",
)
@click.option(
    "--object-lock",
    type=click.Choice(["compliance", "governance"]),
    envvar="EGIDE_BACKUP_OBJECT_LOCK",
    help="S3 : écrit chaque objet sous verrou (Object Lock) ; suppressions après la rétention.",
)
@click.option("--lock-days", type=click.IntRange(1), default=30, show_default=True,
              help="Durée du verrou Object Lock (jours).")  # fmt: skip
@click.pass_context
def backup(
    click_ctx: click.Context, repo: str | None, passphrase_file: Path | None,
    s3_endpoint: str | None, cache_dir: Path | None, json_output: bool, append_only: bool,
    object_lock: str | None, lock_days: int,
) -> None:  # fmt: skip
    """Sauvegarde chiffrée, dédupliquée et compressée vers un disque ou un stockage S3 HDS."""
    click_ctx.obj = Context(repo, passphrase_file, s3_endpoint, cache_dir, json_output)
    click_ctx.obj.append_only = append_only
    click_ctx.obj.object_lock = (object_lock, lock_days) if object_lock else None


def _size(count: float) -> str:
    value = float(count)
    for unit in ("o", "Kio", "Mio", "Gio", "Tio"):
        if value < 1024 or unit == "Tio":
            return f"{value:.0f} {unit}" if unit == "o" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} Tio"


@backup.command()
@click.option(
    "--kdf-memory",
    type=click.IntRange(8, 4096),
    default=64,
    show_default=True,
    help="Mémoire d'Argon2id en Mio.",
)
@click.option(
    "--kdf-time",
    type=click.IntRange(1, 20),
    default=3,
    show_default=True,
    help="Passes d'Argon2id.",
)
@pass_context
def init(ctx: Context, kdf_memory: int, kdf_time: int) -> None:
    """Crée un dépôt vide avec une première clé."""
    with engine_errors():
        storage = ctx.storage()
        params = Argon2Params(kdf_time, kdf_memory * 1024, 2)
        repo = init_repository(storage, ctx.passphrase(confirm=True), params, ctx.cache())
        repo.close()
    if ctx.json:
        line({"event": "init", "repository": storage.describe(), "id": repo.repo_id})
    else:
        click.echo(f"Dépôt créé : {storage.describe()} (identifiant {repo.repo_id[:12]}).")
        click.echo("Conservez la phrase de passe : sans elle, les sauvegardes sont illisibles.")


@backup.command("run")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("-e", "--exclude", multiple=True, help="Motif à exclure (nom ou chemin, glob).")
@click.option("--tag", multiple=True, help="Étiquette de l'instantané.")
@click.option("-x", "--one-file-system", is_flag=True, help="Ne pas traverser les montages.")
@click.option("--host", default=None, help="Nom de machine enregistré (par défaut celui-ci).")
@pass_context
def run_command(
    ctx: Context, paths: tuple[str, ...], exclude: tuple[str, ...], tag: tuple[str, ...],
    one_file_system: bool, host: str | None,
) -> None:  # fmt: skip
    """Sauvegarde PATHS dans un nouvel instantané."""
    from egide.backup.archiver import BackupOptions, run_backup

    options = BackupOptions(paths, exclude, tag, one_file_system)
    if host:
        options = BackupOptions(paths, exclude, tag, one_file_system, host)
    with engine_errors(), ctx.open() as repo, progress_sink(ctx, "Sauvegarde") as sink:
        result = run_backup(repo, options, releasing_memory(sink))
    stats = result.snapshot.stats
    if ctx.json:
        line({"event": "summary", "snapshot": result.snapshot.snapshot_id, **stats,
              "suspect": result.snapshot.suspect,
              "suspect_reasons": result.snapshot.suspect_reasons})  # fmt: skip
    else:
        click.echo(
            f"Instantané {result.snapshot.short_id} enregistré : {int(stats['files'])} fichiers,"
            f" {_size(stats['bytes'])} ; {int(stats['files_unchanged'])} inchangés ;"
            f" {_size(stats['bytes_added'])} ajoutés au dépôt en {stats['seconds']:.1f} s."
        )
        for reason in result.snapshot.suspect_reasons:
            click.echo(f"ALERTE rançongiciel possible : {reason}", err=True)
    if result.problems:
        if not ctx.json:
            click.echo(f"{len(result.problems)} fichier(s) n'ont pas pu être lus.", err=True)
        raise SystemExit(EXIT_WARNINGS)


@backup.command()
@pass_context
def snapshots(ctx: Context) -> None:
    """Liste les instantanés."""
    from egide.backup.retention import pinned
    from egide.backup.snapshot import list_snapshots

    with engine_errors(), ctx.open() as repo:
        found = list_snapshots(repo)
    pins = {s.snapshot_id for s in pinned(found)}
    if ctx.json:
        listed = [{**asdict(s), "pinned": s.snapshot_id in pins} for s in found]
        line({"event": "snapshots", "snapshots": listed})
        return
    if not found:
        click.echo("Aucun instantané.")
    for s in found:
        mark = "SUSPECT " if s.suspect else "épinglé " if s.snapshot_id in pins else ""
        click.echo(
            f"{s.short_id}  {s.moment.astimezone():%Y-%m-%d %H:%M:%S}  {s.host:<16}"
            f"  {','.join(s.tags) or '-':<12}  {_size(s.stats.get('bytes', 0)):>10}"
            f"  {mark}{' '.join(s.paths)}"
        )
        for reason in s.suspect_reasons:
            click.echo(f"          ⚠ {reason}")


@backup.command()
@click.argument("snapshot_ref", metavar="SNAPSHOT")
@click.argument("path", required=False)
@pass_context
def ls(ctx: Context, snapshot_ref: str, path: str | None) -> None:
    """Liste le contenu d'un instantané (« latest » pour le plus récent)."""
    from egide.backup.restorer import selected
    from egide.backup.snapshot import find_snapshot, read_tree

    with engine_errors(), ctx.open() as repo:
        snapshot = find_snapshot(repo, snapshot_ref)
        for node in read_tree(repo, snapshot):
            if path and not selected(node, [path]):
                continue
            if ctx.json:
                line({"event": "node", **{k: v for k, v in asdict(node).items() if k != "chunks"}})
            else:
                suffix = f" -> {node.target}" if node.target else ""
                click.echo(f"{node.type:<7} {node.size:>12}  /{shown(node.path)}{shown(suffix)}")


@backup.command()
@click.argument("old")
@click.argument("new")
@pass_context
def diff(ctx: Context, old: str, new: str) -> None:
    """Différences entre deux instantanés (+ ajouté, - supprimé, M modifié, U métadonnées)."""
    from egide.backup.inventory import diff_snapshots
    from egide.backup.snapshot import find_snapshot

    with engine_errors(), ctx.open() as repo:
        for change in diff_snapshots(repo, find_snapshot(repo, old), find_snapshot(repo, new)):
            if ctx.json:
                line({"event": "change", "kind": change.kind, "path": change.path})
            else:
                click.echo(f"{change.kind}  {shown(change.path)}")


@backup.command()
@click.argument("snapshot_ref", metavar="SNAPSHOT")
@click.argument("target", type=click.Path(file_okay=False, path_type=Path))
@click.argument("paths", nargs=-1)
@pass_context
def restore(ctx: Context, snapshot_ref: str, target: Path, paths: tuple[str, ...]) -> None:
    """Restaure un instantané (ou seulement PATHS) dans TARGET, vérifié contre ses empreintes."""
    from egide.backup.restorer import restore_snapshot
    from egide.backup.snapshot import find_snapshot

    with engine_errors(), ctx.open() as repo, progress_sink(ctx, "Restauration") as sink:
        snapshot = find_snapshot(repo, snapshot_ref)
        result = restore_snapshot(repo, snapshot, target, paths, sink)
    if ctx.json:
        line({"event": "summary", "files": result.files, "bytes": result.bytes,
              "problems": len(result.problems)})  # fmt: skip
    else:
        for problem in result.problems:
            click.echo(f"avertissement : /{shown(problem.path)} : {problem.message}", err=True)
        click.echo(f"{result.files} fichiers restaurés ({_size(result.bytes)}) dans {target}.")
    if result.problems:
        raise SystemExit(EXIT_WARNINGS)


def _subset(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        n, m = (int(part) for part in value.split("/"))
    except ValueError:
        raise click.BadParameter("forme attendue n/m, par exemple 3/7") from None
    if not 1 <= n <= m:
        raise click.BadParameter("il faut 1 ≤ n ≤ m")
    return n, m


@backup.command()
@click.option("--read-data", is_flag=True, help="Relit et vérifie toutes les données.")
@click.option(
    "--read-data-subset",
    metavar="n/m",
    help="Ne relit que la tranche n sur m des packs (une tranche par nuit).",
)
@click.option("--resume", is_flag=True, help="Reprend une relecture interrompue.")
@pass_context
def check(ctx: Context, read_data: bool, read_data_subset: str | None, resume: bool) -> None:
    """Vérifie le dépôt ; nomme les instantanés et fichiers endommagés."""
    from egide.backup.checker import check_repository

    subset = _subset(read_data_subset)
    with engine_errors(), ctx.open() as repo, progress_sink(ctx, "Vérification") as sink:
        journal = ctx.cache() / repo.repo_id / "check-journal"
        if not resume:
            journal.unlink(missing_ok=True)
        report = check_repository(
            repo, read_data or subset is not None, subset, sink, journal=journal
        )
    if ctx.json:
        line({"event": "check", "ok": report.ok, "errors": report.errors,
              "damaged": [{"snapshot": s, "path": p} for s, p in report.damaged_files],
              "snapshots": report.snapshots, "packs_read": report.packs_read})  # fmt: skip
    else:
        for message in report.errors:
            click.echo(f"ERREUR : {message}", err=True)
        for snapshot_id, path in report.damaged_files:
            click.echo(f"ENDOMMAGÉ : instantané {snapshot_id} : {shown(path)}", err=True)
        if report.ok:
            click.echo(f"Dépôt intact : {report.snapshots} instantané(s),"
                       f" {report.packs_read} pack(s) relu(s),"
                       f" {report.packs_skipped} déjà vérifié(s).")  # fmt: skip
    if not report.ok:
        raise SystemExit(EXIT_FAILURE)


@backup.command()
@click.option("--keep-last", type=int, default=0)
@click.option("--keep-hourly", type=int, default=0)
@click.option("--keep-daily", type=int, default=0)
@click.option("--keep-weekly", type=int, default=0)
@click.option("--keep-monthly", type=int, default=0)
@click.option("--keep-yearly", type=int, default=0)
@click.option("--prune", "then_prune", is_flag=True, help="Libère ensuite l'espace.")
@click.option("--dry-run", is_flag=True, help="Montre sans rien supprimer.")
@click.argument("snapshot_refs", nargs=-1, metavar="[SNAPSHOT]…")
@pass_context
def forget(
    ctx: Context, keep_last: int, keep_hourly: int, keep_daily: int, keep_weekly: int,
    keep_monthly: int, keep_yearly: int, then_prune: bool, dry_run: bool,
    snapshot_refs: tuple[str, ...],
) -> None:  # fmt: skip
    """Oublie des instantanés (nommés, ou selon une politique de rétention)."""
    from egide.backup.pruner import forget_snapshots, prune_repository, remove_snapshots
    from egide.backup.retention import RetentionPolicy
    from egide.backup.snapshot import find_snapshot

    policy = RetentionPolicy(
        keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly
    )
    if policy.empty() and not snapshot_refs:
        fail("indiquez des instantanés ou au moins une option --keep-…", EXIT_FAILURE)
    with engine_errors(), ctx.open() as repo:
        if snapshot_refs:
            removed = [find_snapshot(repo, ref) for ref in snapshot_refs]
            if not dry_run:
                remove_snapshots(repo, removed)
        else:
            _kept, removed = forget_snapshots(repo, policy, dry_run)
        for s in removed:
            if ctx.json:
                line({"event": "forget", "snapshot": s.snapshot_id, "dry_run": dry_run})
            else:
                click.echo(f"{'à oublier' if dry_run else 'oublié'} : {s.short_id} {s.time}")
        if then_prune and not dry_run:
            with progress_sink(ctx, "Élagage") as sink:
                prune_repository(repo, sink)


@backup.command()
@pass_context
def prune(ctx: Context) -> None:
    """Libère l'espace des données qu'aucun instantané n'utilise plus."""
    from egide.backup.pruner import prune_repository

    with engine_errors(), ctx.open() as repo, progress_sink(ctx, "Élagage") as sink:
        result = prune_repository(repo, sink)
    if ctx.json:
        line({"event": "prune", **asdict(result)})
    else:
        click.echo(f"{result.packs_deleted + result.packs_repacked + result.orphans_deleted}"
                   f" pack(s) traités, {_size(result.bytes_freed)} libérés.")  # fmt: skip


@backup.command()
@pass_context
def stats(ctx: Context) -> None:
    """Taille du dépôt, déduplication et compression."""
    from egide.backup.inventory import repository_stats

    with engine_errors(), ctx.open() as repo:
        result = repository_stats(repo)
    if ctx.json:
        line({"event": "stats", **asdict(result)})
        return
    ratio = result.raw_bytes / result.stored_bytes if result.stored_bytes else 0
    click.echo(f"Instantanés : {result.snapshots}")
    click.echo(f"Données uniques : {_size(result.raw_bytes)} en {result.blobs} morceaux")
    click.echo(f"Taille stockée : {_size(result.stored_bytes)} en {result.packs} packs"
               f" (gain compression ×{ratio:.2f})")  # fmt: skip
    click.echo(f"Dernier instantané : {result.latest_files} fichiers, {_size(result.latest_bytes)}")


@backup.group()
def key() -> None:
    """Clés du dépôt : une phrase de passe par personne ou par usage."""


def _new_passphrase(ctx: Context, new_file: Path | None) -> bytes:
    if new_file is not None:
        return read_passphrase_file(new_file)
    if not sys.stdin.isatty():
        fail("indiquez la nouvelle phrase de passe avec --new-passphrase-file", EXIT_FAILURE)
    return str(click.prompt("Nouvelle phrase de passe", hide_input=True,
                            confirmation_prompt=True)).encode()  # fmt: skip


@key.command("add")
@click.option("--new-passphrase-file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--label", default="", help="À qui ou à quoi sert cette clé.")
@pass_context
def key_add(ctx: Context, new_passphrase_file: Path | None, label: str) -> None:
    """Ajoute une phrase de passe qui ouvre le même dépôt."""
    from egide.backup.keys import add_slot

    with engine_errors(), ctx.open() as repo:
        slot = add_slot(repo.storage, repo.master, _new_passphrase(ctx, new_passphrase_file),
                        Argon2Params(), label)  # fmt: skip
    click.echo(f"Clé {slot} ajoutée.")


@key.command("list")
@pass_context
def key_list(ctx: Context) -> None:
    """Liste les clés (l'astérisque marque celle utilisée)."""
    from egide.backup.keys import list_slots

    with engine_errors(), ctx.open() as repo:
        slots = list_slots(repo.storage)
        current = repo.slot_id
    for slot in slots:
        if ctx.json:
            line({"event": "key", **asdict(slot), "current": slot.slot_id == current})
        else:
            mark = "*" if slot.slot_id == current else " "
            click.echo(f"{mark} {slot.slot_id}  {slot.created}  {slot.label}")


@key.command("remove")
@click.argument("slot_id")
@pass_context
def key_remove(ctx: Context, slot_id: str) -> None:
    """Supprime une clé (jamais la dernière, ni celle utilisée pour ouvrir)."""
    from egide.backup.keys import remove_slot

    with engine_errors(), ctx.open() as repo:
        if slot_id == repo.slot_id:
            fail("on ne supprime pas la clé avec laquelle on vient d'ouvrir le dépôt",
                 EXIT_FAILURE)  # fmt: skip
        remove_slot(repo.storage, slot_id)
    click.echo(f"Clé {slot_id} supprimée.")


@key.command("passwd")
@click.option("--new-passphrase-file", type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def key_passwd(ctx: Context, new_passphrase_file: Path | None) -> None:
    """Change la phrase de passe de la clé utilisée."""
    from egide.backup.keys import add_slot, list_slots, remove_slot

    with engine_errors(), ctx.open() as repo:
        old = next(s for s in list_slots(repo.storage) if s.slot_id == repo.slot_id)
        new_passphrase = _new_passphrase(ctx, new_passphrase_file)
        # The new slot is written before the old one goes: a crash leaves both, never none.
        slot = add_slot(repo.storage, repo.master, new_passphrase, Argon2Params(), old.label)
        remove_slot(repo.storage, repo.slot_id)
    click.echo(f"Phrase de passe changée (nouvelle clé {slot}).")
