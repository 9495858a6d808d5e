"""The agent's engine parts: plan (bad input too), schedule, outbox, drills, tamper watch."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from egide.backup.archiver import BackupOptions, run_backup
from egide.backup.drill import run_drill
from egide.backup.errors import DeliveryFailed, PlanInvalid
from egide.backup.outbox import Outbox
from egide.backup.plan import backup_due, next_slot, parse_plan
from egide.backup.repository import Repository
from egide.backup.runreport import backup_report, canonical, drill_report, repository_label
from egide.backup.watch import look, reasons_for, vanished

from .corpus import make_tree

GOOD = """
sources = ["donnees", "/srv/exports"]
excludes = ["*.tmp"]
schedule = ["19:00", "12:30"]
state_dir = "etat"
[repository]
location = "s3://hds/cabinet"
passphrase_file = "phrase"
[retention]
daily = 7
[console]
url = "https://console.example/"
token_file = "jeton"
"""


def test_a_plan_parses_with_relative_paths_resolved_and_times_sorted(tmp_path: Path) -> None:
    plan = parse_plan(GOOD, tmp_path)
    assert plan.sources == (str(tmp_path / "donnees"), "/srv/exports")
    assert plan.schedule == (time(12, 30), time(19, 0))
    assert plan.passphrase_file == tmp_path / "phrase"
    assert plan.console_url == "https://console.example"
    assert plan.retention.daily == 7 and not plan.retention_by_agent
    assert plan.drill_every_days == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sources = [", "illisible"),
        (GOOD + "\nsurprise = 1", "inconnue"),
        (GOOD.replace('schedule = ["19:00", "12:30"]', 'schedule = ["25h"]'), "heure"),
        (GOOD.replace('"https://console.example/"', '"ftp://x"'), "https"),
        (GOOD.replace("daily = 7", "daily = -1"), "positif"),
        (GOOD.replace('sources = ["donnees", "/srv/exports"]', "sources = []"), "sources"),
        (GOOD.replace('location = "s3://hds/cabinet"', ""), "location"),
        (GOOD.replace("[retention]", "retention = 3\n[x]"), "inconnue"),
    ],
)
def test_a_bad_plan_is_refused_with_a_message(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PlanInvalid, match=message):
        parse_plan(text, tmp_path)


def test_a_missed_slot_is_due_at_once_and_the_next_slot_follows() -> None:
    schedule = (time(12, 30), time(19, 0))
    now = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
    assert backup_due(schedule, None, now)
    assert backup_due(schedule, now - timedelta(hours=2), now)  # 19:00 was missed
    assert not backup_due(schedule, now - timedelta(minutes=30), now)
    assert next_slot(schedule, now) == datetime(2026, 11, 29, 12, 30, tzinfo=UTC)
    morning = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    assert backup_due(schedule, morning - timedelta(days=1), morning)  # yesterday's 19:00


def test_the_outbox_keeps_reports_until_delivered_and_sets_malformed_ones_aside(
    tmp_path: Path,
) -> None:
    box = Outbox(tmp_path / "outbox")
    for number in range(3):
        box.put("backup-report", {"n": number})
    (tmp_path / "outbox" / "0-garbage.json").write_text("{not json")
    delivered: list[Any] = []

    def down(kind: str, body: dict[str, Any]) -> None:
        raise DeliveryFailed("console injoignable")

    result = box.flush(down)
    assert (result.sent, result.waiting) == (0, 3) and result.rejected == 1

    def picky(kind: str, body: dict[str, Any]) -> None:
        if body["n"] == 1:
            raise DeliveryFailed("HTTP 400", rejected=True)
        delivered.append(body["n"])

    result = box.flush(picky)
    assert delivered == [0, 2] and (result.sent, result.waiting, result.rejected) == (2, 0, 1)
    assert len(list((tmp_path / "outbox" / "rejected").iterdir())) == 2


def test_a_drill_restores_a_sample_verifies_it_and_leaves_nothing_behind(
    repo: Repository, tmp_path: Path
) -> None:
    source = make_tree(tmp_path / "src")
    snapshot = run_backup(repo, BackupOptions((str(source),))).snapshot
    work = tmp_path / "drills"
    work.mkdir()
    result = run_drill(repo, snapshot, sample=10, rng=random.Random(1), workdir=work)
    assert result.passed and result.files_checked == 10 and result.bytes_checked > 0
    assert list(work.iterdir()) == []


def test_a_drill_on_damaged_packs_fails_and_names_the_files(
    repo: Repository, tmp_path: Path
) -> None:
    source = make_tree(tmp_path / "src")
    snapshot = run_backup(repo, BackupOptions((str(source),))).snapshot
    for info in list(repo.storage.list("data/")):
        data = bytearray(repo.storage.get(info.name))
        data[len(data) // 3] ^= 0x01
        repo.storage.delete(info.name)
        repo.storage.put(info.name, bytes(data))
    result = run_drill(repo, snapshot, sample=50, rng=random.Random(2))
    assert not result.passed and result.failures >= 1 and result.failed_paths


def test_a_drill_report_is_hashed_and_signed_as_the_console_expects(tmp_path: Path) -> None:
    from egide.backup.drill import DrillResult

    result = DrillResult("2026-11-28T10:00:00+00:00", "ab" * 32, 25, 1000, 0, ())
    report = drill_report(result, "s3cret")
    body = report["result"]
    assert report["sha256"] == hashlib.sha256(canonical(body)).hexdigest()
    key = hashlib.sha256(b"s3cret").hexdigest().encode()
    assert report["signature"] == hmac.new(key, canonical(body), hashlib.sha256).hexdigest()
    assert json.loads(canonical(body)) == body


def test_a_backup_report_names_the_repository_without_credentials() -> None:
    assert repository_label("https://user:pw@gw.example:8443/gateway/r") == (
        "https://gw.example:8443/gateway/r"
    )
    assert repository_label("s3://b/p", "https://k:s@s3.hds.example") == "s3://b/p @ s3.hds.example"
    now = datetime.now(UTC)
    failed = backup_report(started=now, finished=now, repository="/r", immutable=False,
                           snapshot=None, warnings=0, error="disque plein")  # fmt: skip
    assert failed["status"] == "failure" and failed["snapshot_id"] == ""


def test_objects_deleted_before_their_retention_ends_are_detected(
    repo: Repository, tmp_path: Path
) -> None:
    run_backup(repo, BackupOptions((str(make_tree(tmp_path / "src")),)))
    now = datetime.now(UTC)
    first = look(repo.storage, None, now)
    assert vanished(first, look(repo.storage, first, now), timedelta(days=30), now) == []
    victim = next(iter(repo.storage.list("snapshots/"))).name
    repo.storage.delete(victim)
    later = look(repo.storage, first, now + timedelta(days=1))
    gone = vanished(first, later, timedelta(days=30), now + timedelta(days=1))
    assert gone == [victim]
    assert "1 snapshots" in reasons_for(gone)[0]
    # Past the retention period, a deletion is the operator's ordinary prune.
    assert vanished(first, later, timedelta(days=30), now + timedelta(days=31)) == []


def test_a_retention_moved_earlier_or_removed_is_detected_and_a_longer_one_is_not() -> None:
    from egide.backup.watch import shortened, shortened_reasons

    year = "2027-01-01T00:00:00+00:00"
    before = {"snapshots/a": year, "snapshots/b": year, "snapshots/c": year, "snapshots/d": None}
    after = {"snapshots/a": "2026-12-01T00:00:00+00:00", "snapshots/b": None,
             "snapshots/c": "2027-02-01T00:00:00+00:00", "snapshots/d": None}  # fmt: skip
    assert shortened(before, after) == ["snapshots/a", "snapshots/b"]
    assert "2 instantané" in shortened_reasons(shortened(before, after))[0]
    assert shortened({}, after) == [] and shortened_reasons([]) == []
