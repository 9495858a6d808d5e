"""The SMTP ingest path of ADR 0015: group commit, segment records, summaries after `250`,
and the DATA reader that replaced aiosmtpd's line-by-line loop."""

from __future__ import annotations

import fcntl
import smtplib
import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from egide.console.accounts.models import User
from egide.console.audit import services as audit
from egide.console.audit.models import AuditEntry
from egide.console.inbox import imap_backend, inbound, ingest, services, storage
from egide.console.inbox.inbound import RelaySink
from egide.console.inbox.models import Folder, Mailbox, Message, OutboundDelivery
from egide.crypto import envelope
from egide.crypto.errors import CryptoError, DecryptionFailed
from egide.messaging import mime
from egide.messaging.errors import SmtpRefusal
from egide.messaging.smtp_server import InboundMessage, Peer, check_content

from .smtp_fixtures import PEER_SENDER, Pki
from .test_smtp_inbound import connect, message_to

pytestmark = pytest.mark.django_db(transaction=True)
PEER = Peer("192.0.2.10", "TLSv1.3", "commonName=smtp-1.operateur-alpha.test")


def test_the_listener_keeps_the_message_before_its_full_parse_and_the_worker_completes_it(
    smtp_settings: Any, hosted: Mailbox
) -> None:
    draft = mime.Draft(
        sender=PEER_SENDER,
        recipients=(hosted.address,),
        subject="Résultats d'analyse",
        body="Voici les résultats.",
        attachments=(mime.Attachment("cr.pdf", "application/pdf", b"%PDF-1.4 x"),),
    )
    raw = mime.compose_message(draft, domain="medecin.mssante.test")
    reply = RelaySink(background=True).deliver(
        InboundMessage(PEER, PEER_SENDER, (hosted.address,), raw)
    )
    assert reply.startswith("250 ")
    kept = Message.objects.get(mailbox=hosted)
    # Durable, encrypted, audited and listed with its subject before any full parse.
    assert not kept.summarised and kept.folder == Folder.INBOX
    assert "@" in kept.blob and services.raw_of(kept) == raw
    assert services.summary_of(kept).subject == "Résultats d'analyse"
    assert services.summary_of(kept).snippet == services.PENDING_SNIPPET
    assert AuditEntry.objects.filter(action="message.stored", object_id=str(kept.pk)).exists()
    assert inbound.summarise_pending() == 1
    kept.refresh_from_db()
    summary = services.summary_of(kept)
    assert kept.summarised and kept.attachment_count == 1
    assert summary.snippet == "Voici les résultats." and summary.attachments == ["cr.pdf"]
    assert inbound.summarise_pending() == 0


def test_an_unreadable_message_goes_to_process_with_a_dsn_once_the_worker_parsed_it(
    smtp_settings: Any, hosted: Mailbox
) -> None:
    broken = b"From: a@medecin.mssante.test\r\nContent-Type: multipart/mixed\r\n\r\nno boundary\r\n"
    RelaySink(background=True).deliver(InboundMessage(PEER, PEER_SENDER, (hosted.address,), broken))
    assert Message.objects.get(mailbox=hosted).folder == Folder.INBOX
    assert not OutboundDelivery.objects.exists()
    inbound.summarise_pending()
    kept = Message.objects.get(mailbox=hosted, folder=Folder.QUARANTINE)
    assert kept.problem and kept.summarised
    dsn = OutboundDelivery.objects.get(recipient=PEER_SENDER)
    assert b"multipart/report" in services.raw_of(dsn.message)


def test_concurrent_deliveries_each_get_their_own_rows_and_audit_entries(
    smtp_settings: Any, hosted: Mailbox
) -> None:
    sink = RelaySink(background=True)
    replies: list[str] = []

    def deliver(index: int) -> None:
        raw = message_to(hosted.address, body=f"numero-{index}-fin")
        replies.append(sink.deliver(InboundMessage(PEER, PEER_SENDER, (hosted.address,), raw)))
        connection.close()

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(replies) == 12 and all(r.startswith("250 ") for r in replies)
    numbers = sorted(
        int(services.raw_of(m).split(b"numero-")[1].split(b"-fin")[0])
        for m in Message.objects.all()
    )
    assert numbers == list(range(12))
    assert AuditEntry.objects.filter(action="message.stored").count() == 12
    assert audit.verify_chain(audit.chain_key(hosted.practice_id)) is None


def test_a_failing_item_fails_alone_in_its_batch() -> None:
    def commit(batch: list[int]) -> list[int]:
        if 13 in batch:
            raise ValueError("unlucky")
        return [n * 2 for n in batch]

    group: ingest.GroupCommit[int, int] = ingest.GroupCommit(commit)
    results: dict[int, object] = {}
    start = threading.Barrier(6)

    def submit(n: int) -> None:
        start.wait()
        try:
            results[n] = group.submit(n)
        except ValueError as error:
            results[n] = error

    threads = [threading.Thread(target=submit, args=(n,)) for n in (1, 2, 13, 4, 5, 6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert isinstance(results.pop(13), ValueError)
    assert results == {1: 2, 2: 4, 4: 8, 5: 10, 6: 12}


def test_segment_records_are_bound_to_their_name_and_deleting_one_destroys_it(
    settings: Any, tmp_path: Path, hosted: Mailbox
) -> None:
    settings.EGIDE_MAIL_DIR = str(tmp_path / "mail")
    first = ingest.accept([hosted], b"Subject: un\r\n\r\nun\r\n", envelope_from="", actor="t")
    second = ingest.accept([hosted], b"Subject: deux\r\n\r\ndeux\r\n", envelope_from="", actor="t")
    [a], [b] = first, second
    assert a.blob.split("@")[0] == b.blob.split("@")[0]  # appended to the same segment
    sealed = storage.read_blob(b.blob)
    with pytest.raises(DecryptionFailed):  # a record moved under another name is refused
        envelope.open_message(
            storage.mailbox_key(bytes(hosted.wrapped_key), hosted.address),
            sealed,
            mailbox_id=hosted.address,
            message_id=a.blob,
        )
    storage.close_segment()  # as in a new process: a new segment, never a torn tail extended
    [c] = ingest.accept([hosted], b"Subject: trois\r\n\r\ntrois\r\n", envelope_from="", actor="t")
    assert c.blob.split("@")[0] != a.blob.split("@")[0]
    storage.delete_blob(a.blob)
    assert services.raw_of(b) == b"Subject: deux\r\n\r\ndeux\r\n"
    with pytest.raises(CryptoError):  # zeros: no header, no wrapped data key, nothing
        services.raw_of(a)


def test_a_message_whose_stored_bytes_are_lost_is_kept_to_process_with_the_reason(
    settings: Any, tmp_path: Path, hosted: Mailbox
) -> None:
    settings.EGIDE_MAIL_DIR = str(tmp_path / "mail")
    raw = message_to(hosted.address)
    RelaySink(background=True).deliver(InboundMessage(PEER, PEER_SENDER, (hosted.address,), raw))
    kept = Message.objects.get(mailbox=hosted)
    segment, _, offset = kept.blob.partition("@")
    [path] = Path(settings.EGIDE_MAIL_DIR).rglob(segment)
    with path.open("r+b") as handle:  # what a power cut can leave of an unsynced tail
        handle.truncate(int(offset) + 4)
    assert inbound.summarise_pending() == 1
    kept.refresh_from_db()
    assert kept.folder == Folder.QUARANTINE and "illisible" in kept.problem
    assert kept.summarised


def _synced_but_not_committed(box: Mailbox, raws: list[bytes]) -> list[str]:
    """What a crash between the segment's fdatasync and the database commit leaves."""
    key = storage.mailbox_key(bytes(box.wrapped_key), box.address)

    def sealer(raw: bytes) -> Any:
        return lambda name: envelope.seal_message(key, raw, mailbox_id=box.address, message_id=name)

    appended = storage.append_segment(
        [sealer(raw) for raw in raws],
        [{"mailbox": box.address, "from": PEER_SENDER, "actor": "smtp:192.0.2.10"}] * len(raws),
    )
    appended.wait_durable()
    storage.close_segment()  # the writer is gone: its lock with it
    return appended.names


def test_the_recovery_pass_rebuilds_rows_whose_commit_was_lost_once_and_only_once(
    settings: Any, tmp_path: Path, hosted: Mailbox
) -> None:
    settings.EGIDE_MAIL_DIR = str(tmp_path / "mail")
    [kept] = ingest.accept([hosted], b"Subject: avant\r\n\r\nx\r\n", envelope_from="", actor="t")
    storage.close_segment()
    raws = [
        f"Subject: perdu {n}\r\nFrom: {PEER_SENDER}\r\n\r\ncorps\r\n".encode() for n in range(3)
    ]
    names = _synced_but_not_committed(hosted, raws)
    assert not Message.objects.filter(blob__in=names).exists()
    assert ingest.recover() == 3
    rebuilt = Message.objects.filter(blob__in=names).order_by("blob")
    assert sorted(services.raw_of(m) for m in rebuilt) == sorted(raws)
    assert all(not m.summarised and m.envelope_from == PEER_SENDER for m in rebuilt)
    assert sorted(services.summary_of(m).subject for m in rebuilt) == [
        f"perdu {n}" for n in range(3)
    ]
    entries = AuditEntry.objects.filter(action="message.stored", details__recovered=True)
    assert entries.count() == 3 and {e.actor for e in entries} == {"smtp:192.0.2.10"}
    assert audit.verify_chain(audit.chain_key(hosted.practice_id)) is None
    # Idempotent: a second pass (another start-up) finds nothing to do, and no longer even
    # reads the settled segments.
    assert ingest.recover() == 0
    segment = names[0].partition("@")[0]
    assert list(Path(settings.EGIDE_MAIL_DIR).rglob(segment + storage.SETTLED_SUFFIX))
    assert storage.recover_segments(lambda records: pytest.fail("settled segment read")) == 0
    assert Message.objects.count() == 4 and Message.objects.filter(pk=kept.pk).exists()
    assert inbound.summarise_pending() == 4


def test_the_recovery_pass_leaves_a_live_writer_and_withdrawn_or_deleted_records_alone(
    settings: Any, tmp_path: Path, hosted: Mailbox
) -> None:
    settings.EGIDE_MAIL_DIR = str(tmp_path / "mail")
    # Another process's open segment (its flock held): not recovered while it lives.
    [lost] = _synced_but_not_committed(hosted, [b"Subject: s\r\n\r\nx\r\n"])
    segment = lost.partition("@")[0]
    [path] = Path(settings.EGIDE_MAIL_DIR).rglob(segment)
    with path.open("rb") as writer:
        fcntl.flock(writer.fileno(), fcntl.LOCK_EX)
        assert ingest.recover() == 0
    # A record zeroed (a message deleted, a failed batch withdrawn) never comes back.
    storage.delete_blob(lost)
    assert ingest.recover() == 0 and not Message.objects.exists()


def test_a_batch_that_fails_after_its_sync_is_withdrawn_and_never_recovered(
    settings: Any, tmp_path: Path, hosted: Mailbox
) -> None:
    settings.EGIDE_MAIL_DIR = str(tmp_path / "mail")
    ghost = Mailbox.objects.get(pk=hosted.pk)
    Mailbox.objects.filter(pk=hosted.pk).delete()  # removed between RCPT and the commit
    with pytest.raises(IntegrityError):
        ingest.accept([ghost], b"Subject: x\r\n\r\nx\r\n", envelope_from="", actor="t")
    storage.close_segment()
    assert ingest.recover() == 0 and not Message.objects.exists()


def test_mail_and_rcpt_are_answered_from_the_cache_only_after_a_full_check(
    smtp_settings: Any, hosted: Mailbox
) -> None:
    sink = RelaySink(background=True)
    other = Peer("192.0.2.11", "TLSv1.3", "commonName=smtp-9.autre-operateur.test")
    assert not sink.known_sender(PEER, PEER_SENDER)
    assert not sink.known_recipient(PEER, hosted.address)
    assert sink.check_sender(PEER, PEER_SENDER) is None
    assert sink.check_recipient(PEER, hosted.address) is None
    assert sink.known_sender(PEER, PEER_SENDER.upper())
    assert sink.known_recipient(PEER, hosted.address.upper())
    # Another operator's certificate, a refused sender, an unknown mailbox: the full check.
    assert not sink.known_sender(other, PEER_SENDER)
    assert sink.check_sender(other, PEER_SENDER) is not None
    assert not sink.known_sender(other, PEER_SENDER)
    assert sink.check_recipient(PEER, "personne@tilleuls.egide.test") is not None
    assert not sink.known_recipient(PEER, "personne@tilleuls.egide.test")


def _age(sink: RelaySink, seconds: float) -> None:
    """Make every answer cached by `sink` `seconds` older."""
    with sink._lock:
        sink._cache = {a: (at - seconds, box) for a, (at, box) in sink._cache.items()}
        sink._senders = {key: at - seconds for key, at in sink._senders.items()}


def _refreshed(sink: RelaySink) -> None:
    """Wait for the refreshes `sink` queued (its refresh thread runs them in order)."""
    assert sink._refresher is not None
    sink._refresher.submit(lambda: None).result(timeout=60)


def test_a_cached_answer_is_checked_again_in_the_background_before_it_expires(
    smtp_settings: Any, hosted: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = RelaySink(background=True)
    assert sink.check_sender(PEER, PEER_SENDER) is None
    assert sink.check_recipient(PEER, hosted.address) is None
    # Fresh: answered from the cache, nothing queued.
    assert sink.known_sender(PEER, PEER_SENDER) and sink.known_recipient(PEER, hosted.address)
    assert sink._refresher is None
    # Past the refresh age, still answered from the cache, and checked again meanwhile.
    _age(sink, inbound.REFRESH_AFTER_SECONDS + 0.1)
    aged = dict(sink._senders), dict(sink._cache)
    assert sink.known_sender(PEER, PEER_SENDER) and sink.known_recipient(PEER, hosted.address)
    _refreshed(sink)
    assert all(at > aged[0][key] for key, at in sink._senders.items())
    assert all(at > aged[1][key][0] for key, (at, _) in sink._cache.items())
    # A mailbox removed, a sender now refused: the cached answers are forgotten.
    Mailbox.objects.filter(pk=hosted.pk).delete()
    monkeypatch.setattr(sink, "check_sender", lambda peer, address: "550 5.7.1 refused")
    _age(sink, inbound.REFRESH_AFTER_SECONDS + 0.1)
    sink.known_sender(PEER, PEER_SENDER)
    sink.known_recipient(PEER, hosted.address)
    _refreshed(sink)
    assert not sink.known_sender(PEER, PEER_SENDER)
    assert not sink.known_recipient(PEER, hosted.address)


def test_an_expired_answer_is_never_used_even_while_refreshed(
    smtp_settings: Any, hosted: Mailbox
) -> None:
    sink = RelaySink(background=True)
    assert sink.check_sender(PEER, PEER_SENDER) is None
    assert sink.check_recipient(PEER, hosted.address) is None
    _age(sink, inbound.MAILBOX_CACHE_SECONDS + 0.1)
    assert not sink.known_sender(PEER, PEER_SENDER)
    assert not sink.known_recipient(PEER, hosted.address)


# --- the DATA reader, over the network ------------------------------------------------------


def test_dot_stuffed_lines_and_dots_ending_lines_arrive_intact(
    listeners: dict[str, int], pki: Pki, hosted: Mailbox
) -> None:
    body = ".commence par un point\r\n..deux points\r\n.\r\nfin de phrase.\r\nx.\r\n"
    raw = message_to(hosted.address, body=body.replace("\r\n", "\n"))
    with connect(listeners["relay"], pki, pki.peer) as client:
        assert client.sendmail(PEER_SENDER, [hosted.address], raw) == {}
        assert client.sendmail(PEER_SENDER, [hosted.address], raw) == {}  # same connection
    stored = Message.objects.filter(mailbox=hosted)
    assert stored.count() == 2
    assert all(services.raw_of(m) == raw for m in stored)


def test_a_line_over_1000_octets_is_refused_and_nothing_kept(
    listeners: dict[str, int], pki: Pki, hosted: Mailbox
) -> None:
    raw = message_to(hosted.address) + b"x" * 999 + b"\r\n"
    with connect(listeners["relay"], pki, pki.peer) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail(PEER_SENDER, [hosted.address], raw)
        assert refused.value.smtp_code == 500
        ok = message_to(hosted.address) + b"x" * 998 + b"\r\n"
        assert client.sendmail(PEER_SENDER, [hosted.address], ok) == {}
    assert Message.objects.filter(mailbox=hosted).count() == 1


@pytest.mark.parametrize("data", [b"a\rb\r\n", b"a\r\n\r", b"\ra\r\n", b"a\r\n\x00\r\n"])
def test_after_the_stream_check_an_unpaired_cr_or_a_nul_is_still_refused(data: bytes) -> None:
    with pytest.raises(SmtpRefusal):
        check_content(data, lf_checked=True)
    check_content(b"a\r\n.b\r\n\r\n", lf_checked=True)


def test_a_message_purged_over_imap_before_its_record_was_zeroed_is_not_brought_back(
    settings: Any, tmp_path: Path, hosted: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.EGIDE_MAIL_DIR = str(tmp_path / "mail")
    [kept] = ingest.accept([hosted], b"Subject: x\r\n\r\nx\r\n", envelope_from="", actor="t")
    storage.close_segment()  # its writer gone, the segment not yet settled
    Message.objects.filter(pk=kept.pk).update(folder=Folder.TRASH, imap_folder=Folder.TRASH)
    kept.refresh_from_db()
    assert isinstance(hosted.owner, User)
    account = imap_backend.ImapAccount(hosted.owner, "127.0.0.1")
    # The IMAP process dies between the purge's commit and the zeroing of the record.
    monkeypatch.setattr(storage, "delete_blob", lambda name: None)
    with transaction.atomic():
        imap_backend.ImapStore()._remove(account, kept)
    monkeypatch.undo()
    assert not Message.objects.exists()
    assert ingest.recover() == 0 and not Message.objects.exists()
    key = storage.mailbox_key(bytes(hosted.wrapped_key), hosted.address)
    with pytest.raises((ValueError, CryptoError)):  # the recovery pass finished the purge
        envelope.open_message(
            key, storage.read_blob(kept.blob), mailbox_id=hosted.address, message_id=kept.blob
        )
    purge = AuditEntry.objects.get(action="message.purged")
    assert purge.details["blob"] == kept.blob


def test_the_wal_checkpoint_runs_after_the_batches_every_so_many_messages(
    smtp_settings: Any, hosted: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ADR 0036: out of the ingest commit (before `250`), a pass every `every` messages."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's WAL only")
    checkpoints = ingest.Checkpoints(every=3)
    monkeypatch.setattr(ingest, "_checkpoints", checkpoints)
    sink = RelaySink(background=True)
    for index in range(7):
        raw = message_to(hosted.address, body=f"message {index}")
        reply = sink.deliver(InboundMessage(PEER, PEER_SENDER, (hosted.address,), raw))
        assert reply.startswith("250 ")
        checkpoints.wait()
    assert checkpoints.passes == 2  # after the third and the sixth message
    assert checkpoints.whole  # no commit overlapped the pass: the whole log was copied back
    assert Message.objects.filter(mailbox=hosted).count() == 7
