"""The ransomware alarm: measured trials, each signal alone, and what a suspect snapshot changes."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from bench.ransomware_alarm import encrypt_in_place, trial
from click.testing import CliRunner

from egide.backup.alarm import Thresholds, assess, is_dense
from egide.backup.archiver import BackupOptions, run_backup
from egide.backup.pruner import forget_snapshots, remove_snapshots
from egide.backup.repository import Repository
from egide.backup.retention import RetentionPolicy
from egide.backup.snapshot import list_snapshots, read_tree
from egide.backup.tree import Node
from egide.cli.main import cli

from .conftest import PASSPHRASE

TRIALS = 5


def test_a_simulated_attack_is_flagged_in_every_trial_and_an_ordinary_day_never(
    tmp_path: Path,
) -> None:
    for index in range(TRIALS):
        result = trial(tmp_path / f"trial-{index}", 1000 + index)
        assert result.first_reasons == ()
        assert result.next_day_reasons == (), result.next_day_reasons
        assert result.attack_reasons, f"trial {index}: attack not flagged"


def _file(path: str, chunks: str = "a", dense: bool = False) -> Node:
    return Node(path, "file", chunks=[chunks * 64], dense=dense)


def _tree(count: int) -> list[Node]:
    return [_file(f"cabinet/lettre-{i:04}.txt") for i in range(count)]


def test_an_unchanged_tree_and_a_first_backup_raise_nothing() -> None:
    assert not assess(_tree(100), _tree(100)).suspect
    assert not assess(None, _tree(100)).suspect


def test_mass_renames_to_a_new_extension_are_flagged_even_without_content_change() -> None:
    before = _tree(100)
    after = [_file(n.path + ".lockbit3") for n in before[:40]] + before[40:]
    after.sort(key=Node.key)
    verdict = assess(before, after)
    assert verdict.renamed == 40
    assert any("renommés" in reason for reason in verdict.reasons)
    assert any("extension de rançongiciel" in reason for reason in verdict.reasons)


def test_a_single_ransom_note_is_enough() -> None:
    after = [*_tree(100), _file("cabinet/zz/HOW_TO_DECRYPT_FILES.html")]
    verdict = assess(_tree(100), after)
    assert verdict.notes == ["HOW_TO_DECRYPT_FILES.html"]
    assert verdict.suspect


def test_files_that_turn_incompressible_are_flagged_below_the_changed_share() -> None:
    before = _tree(100)
    after = [_file(n.path, "b", dense=i < 10) for i, n in enumerate(before[:12])] + before[12:]
    verdict = assess(before, after)
    assert (verdict.changed, verdict.became_dense) == (12, 10)
    assert len(verdict.reasons) == 1
    assert "incompressibles" in verdict.reasons[0]


def test_files_already_dense_that_change_do_not_count_as_becoming_dense() -> None:
    before = [_file(f"scans/scan-{i:03}.pdf", dense=True) for i in range(100)]
    after = [_file(n.path, "b", dense=True) for n in before[:10]] + before[10:]
    verdict = assess(before, after)
    assert verdict.became_dense == 0
    assert not verdict.suspect


def test_thresholds_are_configurable_and_tiny_trees_do_not_trip_ratios() -> None:
    before = _tree(10)
    after = [_file(n.path, "b") for n in before]
    assert not assess(before, after).suspect
    assert assess(before, after, Thresholds(min_files=5)).suspect


def test_dense_means_incompressible_and_short_or_empty_samples_are_not_dense() -> None:
    rng = random.Random(5)
    assert is_dense(rng.randbytes(4096))
    assert not is_dense(b"Cher confrere, le patient va bien. " * 120)
    assert not is_dense(rng.randbytes(100))
    assert not is_dense(b"")


def _corpus(root: Path) -> Path:
    rng = random.Random(8)
    root.mkdir()
    for i in range(60):
        (root / f"lettre-{i:03}.txt").write_text(f"Courrier {i}. " + "Le patient va bien. " * 300)
    for i in range(10):
        (root / f"scan-{i}.pdf").write_bytes(rng.randbytes(20_000))
    return root


def test_a_suspect_snapshot_is_kept_listed_with_its_reasons_and_the_last_good_one_is_pinned(
    repo: Repository, tmp_path: Path
) -> None:
    source = _corpus(tmp_path / "cabinet")
    options = BackupOptions((str(source),), host="poste")
    good = run_backup(repo, options).snapshot
    assert not good.suspect
    encrypt_in_place(source, 0.5, seed=3)
    (source / "LISEZ-MOI_comment_dechiffrer.txt").write_text("Payez.")
    bad = run_backup(repo, options).snapshot
    again = run_backup(repo, options).snapshot  # the encrypted tree, now unchanged: not suspect
    assert bad.suspect and not again.suspect
    assert any("note de rançon" in r for r in bad.suspect_reasons)

    stored = {s.snapshot_id: s for s in list_snapshots(repo)}
    assert stored[bad.snapshot_id].suspect_reasons == bad.suspect_reasons
    assert not stored[good.snapshot_id].suspect

    kept, removed = forget_snapshots(repo, RetentionPolicy(last=1))
    # `again` is the newest; `bad` and `good`, the last one before the alarm, are pinned.
    assert {s.snapshot_id for s in kept} == {good.snapshot_id, bad.snapshot_id, again.snapshot_id}
    assert not removed
    remove_snapshots(repo, [bad])  # the operator closes the alert: the pin goes with it
    kept, removed = forget_snapshots(repo, RetentionPolicy(last=1))
    assert [s.snapshot_id for s in removed] == [good.snapshot_id]


def test_snapshots_json_shows_suspect_reasons_and_the_pinned_snapshot(tmp_path: Path) -> None:
    source = _corpus(tmp_path / "cabinet")
    env = {"EGIDE_BACKUP_PASSPHRASE": PASSPHRASE.decode(), "EGIDE_BACKUP_REPOSITORY": ""}
    base = ["backup", "-r", str(tmp_path / "repo"), "--cache-dir", str(tmp_path / "cache")]
    runner = CliRunner()
    init = runner.invoke(cli, [*base, "init", "--kdf-memory", "8", "--kdf-time", "1"], env=env)
    assert init.exit_code == 0, init.output
    assert runner.invoke(cli, [*base, "run", str(source)], env=env).exit_code == 0
    encrypt_in_place(source, 0.4, seed=4)
    attacked = runner.invoke(cli, [*base, "run", str(source)], env=env)
    assert "ALERTE" in attacked.output
    listing = runner.invoke(cli, [*base, "--json", "snapshots"], env=env)
    document = json.loads(listing.output.strip().splitlines()[-1])
    first, second = document["snapshots"]
    assert (first["suspect"], first["pinned"]) == (False, True)
    assert (second["suspect"], second["pinned"]) == (True, True)
    assert any("incompressibles" in reason for reason in second["suspect_reasons"])
    text = runner.invoke(cli, [*base, "snapshots"], env=env).output
    assert "SUSPECT" in text and "épinglé" in text


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_the_alarm_ignores_unreadable_files_rather_than_failing(tmp_path: Path) -> None:
    before = [*_tree(30), Node("cabinet/verrou.db", "file", error="illisible")]
    after = [*_tree(30), Node("cabinet/verrou.db", "file", error="illisible")]
    assert not assess(before, after).suspect


def test_the_counts_taken_during_the_walk_match_a_comparison_of_the_stored_trees(
    repo: Repository, tmp_path: Path
) -> None:
    source = _corpus(tmp_path / "cabinet")
    (source / "dossier").mkdir()
    (source / "dossier" / "a.txt").write_text("a")
    (source / "devient-dossier").write_text("un fichier, puis un dossier")
    options = BackupOptions((str(source),), host="poste")
    first = run_backup(repo, options).snapshot
    for i in range(5):
        (source / f"lettre-{i:03}.txt").unlink()  # deleted
    for i in range(5, 10):
        (source / f"lettre-{i:03}.txt").rename(source / f"lettre-{i:03}.txt.locked")
    (source / "lettre-020.txt").write_text("modifiée")
    (source / "scan-0.pdf").write_bytes(os.urandom(100))
    (source / "dossier" / "a.txt").unlink()
    (source / "dossier" / "b.txt").write_text("b")
    (source / "devient-dossier").unlink()
    (source / "devient-dossier").mkdir()
    (source / "devient-dossier" / "c.txt").write_text("c")
    (source / "z-nouveau.txt").write_text("nouveau")
    second = run_backup(repo, options).snapshot
    expected = assess(read_tree(repo, first), read_tree(repo, second))
    assert {k: second.stats[k] for k in expected.metrics()} == expected.metrics()
    assert second.stats["alarm_deleted"] == 5 + 5 + 2  # lettres, renamed ones, a.txt, the file
    assert second.stats["alarm_renamed"] == 5
    assert second.suspect_reasons == expected.reasons
