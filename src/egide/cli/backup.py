"""`egide backup …`: the backup engine from the command line (one group; keys in `backup_keys`)."""

from __future__ import annotations

import sys
from dataclasses import asdict, replace
from pathlib import Path

import click

from egide.backup.repository import init_repository
from egide.crypto.kdf import Argon2Params

from .backup_keys import key
from .backup_session import (
    EXIT_CODES_HELP,
    EXIT_FAILURE,
    EXIT_WARNINGS,
    Context,
    engine_errors,
    fail,
    line,
    pass_context,
    progress_sink,
    releasing_memory,
    shown,
)


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
@click.option(
    "--lock-days",
    type=click.IntRange(1),
    default=30,
    show_default=True,
    help="Durée du verrou Object Lock (jours).",
)
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

    # Totals only where progress is shown (a bar on a terminal, or JSON lines).
    shows_progress = ctx.json or sys.stderr.isatty()
    options = BackupOptions(paths, exclude, tag, one_file_system, count_totals=shows_progress)
    if host:
        options = replace(options, host=host)
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
        # Ranged reads from S3 wait on the network: more threads than cores hide it.
        workers = 4 if ctx.repo and ctx.repo.startswith("s3://") else None
        result = restore_snapshot(repo, snapshot, target, paths, sink, workers)
    if ctx.json:
        line({"event": "summary", "files": result.files, "bytes": result.bytes,
              "problems": len(result.problems)})  # fmt: skip
    else:
        for problem in result.problems:
            click.echo(f"avertissement : /{shown(problem.path)} : {problem.message}", err=True)
        click.echo(f"{result.files} fichiers restaurés ({_size(result.bytes)}) dans {target}.")
    if result.problems:
        raise SystemExit(EXIT_WARNINGS)


def _subset(value: str | None) -> tuple[int, int] | float | None:
    """`n/m` (a fixed slice of the packs) or `P%` (the next P % of the data, in rotation)."""
    if value is None:
        return None
    if value.endswith("%"):
        try:
            percent = float(value[:-1].replace(",", "."))
        except ValueError:
            raise click.BadParameter("forme attendue P%, par exemple 15%") from None
        if not 0 < percent <= 100:
            raise click.BadParameter("il faut 0 < P ≤ 100")
        return percent / 100
    try:
        n, m = (int(part) for part in value.split("/"))
    except ValueError:
        raise click.BadParameter(
            "forme attendue n/m (par exemple 3/7) ou P% (par exemple 15%)"
        ) from None
    if not 1 <= n <= m:
        raise click.BadParameter("il faut 1 ≤ n ≤ m")
    return n, m


@backup.command()
@click.option("--read-data", is_flag=True, help="Relit et vérifie toutes les données.")
@click.option(
    "--read-data-subset",
    metavar="n/m|P%",
    help="Ne relit qu'une partie des données : la tranche n sur m des packs, ou P% : les P %"
    " suivants, à la suite de la vérification précédente (chaque nuit avec 15%, tout le dépôt"
    " est relu en une semaine).",
)
@click.option("--resume", is_flag=True, help="Reprend une relecture interrompue.")
@pass_context
def check(ctx: Context, read_data: bool, read_data_subset: str | None, resume: bool) -> None:
    """Vérifie le dépôt ; nomme les instantanés et fichiers endommagés.

    La relecture (--read-data) affiche sa progression ; interrompue, elle reprend avec --resume
    là où elle s'était arrêtée.
    """
    from egide.backup.checker import check_repository

    subset = _subset(read_data_subset)
    with engine_errors(), ctx.open() as repo, progress_sink(ctx, "Vérification") as sink:
        journal = ctx.cache() / repo.repo_id / "check-journal"
        if not resume:
            journal.unlink(missing_ok=True)
        report = check_repository(
            repo,
            read_data or subset is not None,
            subset if isinstance(subset, tuple) else None,
            sink,
            journal=journal,
            share=subset if isinstance(subset, float) else None,
            cursor=ctx.cache() / repo.repo_id / "check-cursor",
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


backup.add_command(key)
