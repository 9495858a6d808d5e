"""The journal is append-only, and any edit, removal or reordering is named by verification."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from django.db import DatabaseError, connection, transaction

from egide.cli.main import cli
from egide.console.accounts.models import Practice
from egide.console.audit.models import AppendOnlyError, AuditEntry
from egide.console.audit.services import chain_key, export_chain, record, verify_chain

pytestmark = pytest.mark.django_db


@contextmanager
def attacker_with_database_access() -> Iterator[Any]:
    """Someone who can run raw SQL: the triggers are the first thing they drop."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_entry_append_only")
        else:
            cursor.execute("DROP TRIGGER audit_entry_append_only")
        yield cursor


def journal_of(practice: Practice, events: int = 4) -> list[AuditEntry]:
    for number in range(events):
        record("message.read", practice_id=practice.pk, actor="dr.x", object_id=number)
    return list(AuditEntry.objects.filter(chain=chain_key(practice.pk)).order_by("seq"))


def test_an_untouched_chain_verifies(make_practice: Callable[..., Practice]) -> None:
    practice = make_practice()
    journal_of(practice)
    assert verify_chain(chain_key(practice.pk)) is None


def test_entries_cannot_be_changed_or_deleted_through_the_application(
    make_practice: Callable[..., Practice],
) -> None:
    entry = journal_of(make_practice())[0]
    entry.action = "autre"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="autre")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).delete()


def test_the_database_itself_refuses_an_update(make_practice: Callable[..., Practice]) -> None:
    entry = journal_of(make_practice())[0]
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditentry SET action = 'x' WHERE id = %s", [entry.pk])


def test_an_edited_entry_is_named(make_practice: Callable[..., Practice]) -> None:
    practice = make_practice()
    entries = journal_of(practice)
    with attacker_with_database_access() as cursor:
        cursor.execute(
            "UPDATE audit_auditentry SET actor = 'intrus' WHERE id = %s", [entries[2].pk]
        )
    problem = verify_chain(chain_key(practice.pk))
    assert problem is not None
    assert (problem.kind, problem.seq, problem.entry_id) == ("altered", 3, entries[2].pk)


def test_a_removed_entry_is_named(make_practice: Callable[..., Practice]) -> None:
    practice = make_practice()
    entries = journal_of(practice)
    with attacker_with_database_access() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE id = %s", [entries[1].pk])
    problem = verify_chain(chain_key(practice.pk))
    assert problem is not None and problem.kind == "removed" and problem.seq == 2


def test_reordered_entries_are_named(make_practice: Callable[..., Practice]) -> None:
    practice = make_practice()
    entries = journal_of(practice)
    # Swap the hashed content of entries 3 and 4 while keeping their positions.
    with attacker_with_database_access() as cursor:
        for source, target in ((entries[3], entries[2]), (entries[2], entries[3])):
            cursor.execute(
                "UPDATE audit_auditentry SET object_id = %s, prev_hash = %s, entry_hash = %s, "
                "seq = %s WHERE id = %s",
                [
                    source.object_id,
                    source.prev_hash,
                    source.entry_hash,
                    1000 + target.seq,
                    target.pk,
                ],
            )
        cursor.execute("UPDATE audit_auditentry SET seq = seq - 1000 WHERE seq > 1000")
    problem = verify_chain(chain_key(practice.pk))
    assert problem is not None and problem.seq == 3 and problem.kind in {"altered", "reordered"}


def test_a_truncated_tail_is_named(make_practice: Callable[..., Practice]) -> None:
    practice = make_practice()
    entries = journal_of(practice)
    with attacker_with_database_access() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE id = %s", [entries[-1].pk])
    problem = verify_chain(chain_key(practice.pk))
    assert problem is not None and problem.kind == "truncated"


def test_details_that_look_like_content_are_refused(make_practice: Callable[..., Practice]) -> None:
    with pytest.raises(ValueError, match="content"):
        record("message.sent", practice_id=make_practice().pk, details={"body": "compte rendu"})


def test_audit_verify_exits_non_zero_and_names_the_altered_entry(
    make_practice: Callable[..., Practice],
) -> None:
    practice = make_practice()
    entries = journal_of(practice)
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    with attacker_with_database_access() as cursor:
        cursor.execute("UPDATE audit_auditentry SET ip = '10.0.0.9' WHERE id = %s", [entries[1].pk])
    broken = runner.invoke(cli, ["audit", "verify"])
    assert broken.exit_code == 1
    assert f"practice:{practice.pk}" in broken.output
    assert f"entrée n°2 (id {entries[1].pk}) modifiée" in broken.output


def recompute_export(data: dict[str, Any]) -> bool:
    """A third party's verifier: only json and hashlib, as documented in audit/chain.py."""
    prev = data["genesis"]
    for entry in data["entries"]:
        fields = {key: value for key, value in entry.items() if key != "hash"}
        encoded = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if fields["prev"] != prev or hashlib.sha256(encoded.encode()).hexdigest() != entry["hash"]:
            return False
        prev = entry["hash"]
    return bool(data["head"]["hash"] == prev and data["head"]["length"] == len(data["entries"]))


def test_an_export_is_verifiable_by_a_third_party(
    make_practice: Callable[..., Practice], tmp_path: Path
) -> None:
    practice = make_practice(slug="lilas")
    journal_of(practice)
    target = tmp_path / "journal.json"
    result = CliRunner().invoke(cli, ["audit", "export", "--practice", "lilas", "-o", str(target)])
    assert result.exit_code == 0, result.output
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["chain"] == f"practice:{practice.pk}" and len(data["entries"]) == 5
    assert recompute_export(data)
    data["entries"][1]["actor"] = "quelqu'un d'autre"
    assert not recompute_export(data)
    assert recompute_export(
        export_chain(practice.pk)
    )  # the export itself was audited, chain intact


def test_exporting_an_unknown_practice_says_so(db: None) -> None:
    result = CliRunner().invoke(cli, ["audit", "export", "--practice", "inconnu"])
    assert result.exit_code != 0 and "Aucun cabinet « inconnu »" in result.output
