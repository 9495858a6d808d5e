"""SIGKILL in the middle of a load: every message that got `250` is there after a restart,
readable, and none is stored twice. The listener runs as `egide smtp serve` in a subprocess
with its own data directory (the embedded default: SQLite + blob files)."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from .smtp_fixtures import PEER_SENDER, TRUST_LIST, Pki, free_port

MAILBOX = "crash@tilleuls.egide.test"
SETUP = """
import os
from egide.cli.bootstrap import migrate, start_django
start_django(); migrate()
from egide.console.accounts.models import Role
from egide.console.accounts.services import create_member, create_practice
from egide.console.inbox import services
from egide.console.inbox.models import MailboxKind
practice = create_practice("Cabinet", "cabinet", "Lyon")
owner = create_member(practice, username="dr.crash", password=os.urandom(9).hex(),
                      role=Role.PRACTITIONER, first_name="C", last_name="K")
services.create_mailbox(practice, address=MAILBOX_ADDRESS, kind=MailboxKind.PERSONAL,
                        display_name="Crash", owner=owner)
""".replace("MAILBOX_ADDRESS", repr(MAILBOX))
LIST = """
import json
from egide.cli.bootstrap import start_django
start_django()
from egide.console.inbox import services
from egide.console.inbox.models import Message
print(json.dumps([services.summary_of(m).subject for m in Message.objects.all()]))
"""


def _env(tmp_path: Path, pki: Pki) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        EGIDE_DATA_DIR=str(tmp_path / "data"),
        EGIDE_KEY_DIR=str(tmp_path / "keys"),
        EGIDE_HTTPS="0",
        EGIDE_SMTP_CERT_FILE=pki.server.cert,
        EGIDE_SMTP_KEY_FILE=pki.server.key,
        EGIDE_SMTP_TRUST_ANCHORS_FILE=pki.root,
        EGIDE_TASKS_IMMEDIATE="0",
    )
    return env


def _python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _serve(egide: str, port: int, processes: int, env: dict[str, str], log: Path) -> Any:
    return subprocess.Popen(
        [egide, "smtp", "serve", "--port", str(port), "--processes", str(processes)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def _wait_listening(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            smtplib.SMTP("127.0.0.1", port, timeout=2).quit()
            return
        except OSError:
            time.sleep(0.3)


@pytest.mark.parametrize(
    ("processes", "kill", "split"),
    [
        (1, "sigkill", True),
        (1, "sigkill", False),
        (2, "sigkill", True),
        (1, "after-segment-sync", True),
        (1, "after-segment-sync", False),
        (1, "sigkill-ingest", True),
    ],
)
def test_every_acknowledged_message_survives_a_sigkill_and_none_is_duplicated(
    tmp_path: Path, pki: Pki, processes: int, kill: str, split: bool
) -> None:
    """With two listener processes, both are killed at once (and their ingest processes):
    two segments, one database. `split`: the storage runs in the listener's ingest process
    (EGIDE_SMTP_INGEST_PROCESS, ADR 0038), else in the listener itself.

    `after-segment-sync`: the process that stores kills itself (SIGKILL) after its 12th batch
    is fdatasync'ed to the segment and before that batch's rows are committed — what a power
    cut leaves when the commit without fsync is lost. Without the split, the restart's
    recovery pass rebuilds that batch from the segment: its messages (never acknowledged) are
    there, once each. With it, the listener runs that pass as soon as its ingest process dies,
    answers `250` for that batch (stored) and `451` for the rest, then exits with an error.
    `sigkill-ingest`: only the ingest process is killed, at any point of a batch: the same.
    In both cases exactly the acknowledged messages are stored: none answered `451` is kept
    (the peer sends it again, it would be stored twice).
    """
    env = _env(tmp_path, pki)
    env["EGIDE_SMTP_INGEST_PROCESS"] = "1" if split else "0"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "listeblanche.xml").write_bytes(TRUST_LIST.read_bytes())
    _python(SETUP, env)
    port = free_port()
    egide = str(Path(sys.executable).with_name("egide"))
    server_env = dict(env)
    if kill == "after-segment-sync":
        server_env["EGIDE_TEST_KILL_AFTER_SEGMENT_SYNC"] = "12"
    server = _serve(egide, port, processes, server_env, tmp_path / "server.log")
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[str] = []
    context = ssl.create_default_context(cafile=pki.root)
    context.check_hostname = False
    context.load_cert_chain(pki.peer.cert, pki.peer.key)

    def sender(worker: int) -> None:
        index = 0
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                client.starttls(context=context)
                client.ehlo("smtp-1.operateur-alpha.test")
                while not stop.is_set():
                    subject = f"w{worker}-{index}"
                    body = (
                        f"Subject: {subject}\r\nFrom: {PEER_SENDER}\r\n\r\n"
                        + ("x" * 76 + "\r\n") * 250
                    )
                    client.sendmail(PEER_SENDER, [MAILBOX], body.encode() + b"\r\n")
                    with lock:
                        acknowledged.append(subject)
                    index += 1
        except (OSError, smtplib.SMTPException) as error:
            errors.append(repr(error))  # expected once the server is killed under us

    try:
        deadline = time.monotonic() + 60
        _wait_listening(port, deadline)
        time.sleep(processes - 1)  # the other processes bind right after the first one
        threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        if kill == "after-segment-sync":
            server.wait(timeout=60)  # it kills itself between a sync and its commit
            assert server.returncode == (1 if split else -signal.SIGKILL)
        elif kill == "sigkill-ingest":
            while len(acknowledged) < 12 and time.monotonic() < deadline:
                time.sleep(0.05)
            [ingester] = _children(server.pid)
            os.kill(ingester, signal.SIGKILL)
            server.wait(timeout=60)  # the listener settles what was in flight, then stops
            assert server.returncode == 1
        else:
            while len(acknowledged) < 12 and time.monotonic() < deadline:
                time.sleep(0.05)
            children = _children(server.pid)
            for pid in [server.pid, *children]:  # all at once: none gets to finish its batch
                os.kill(pid, signal.SIGKILL)
            server.wait(timeout=30)
            _wait_gone(children)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        # The restart: its recovery pass runs before it listens.
        server = _serve(egide, port, 1, env, tmp_path / "server.log")
        _wait_listening(port, time.monotonic() + 60)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    whole_log = (tmp_path / "server.log").read_text(errors="replace")
    log = whole_log[-3000:]
    assert len(acknowledged) >= (1 if kill == "after-segment-sync" else 12), (errors, log)
    stored = json.loads(_python(LIST, env))
    assert set(acknowledged) <= set(stored)
    assert len(stored) == len(set(stored))
    if kill == "after-segment-sync" and not split:
        # The killed batch: synced, never committed nor acknowledged, rebuilt by the recovery.
        assert set(stored) - set(acknowledged), log
        assert "recovered" in log
    if split and kill != "sigkill":
        assert set(stored) == set(acknowledged), log
        assert "stored (250), the others 451" in whole_log, log
    if kill == "after-segment-sync" and split:
        assert "recovered" in whole_log  # the killed batch: synced, rebuilt, then acknowledged


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(child) for child in found.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pids: list[int]) -> None:
    """Killed processes not ours to reap: wait until each is gone or a zombie."""
    for pid in pids:
        for _ in range(100):
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                break
            if state == "Z":
                break
            time.sleep(0.1)


def test_several_listener_processes_share_the_port_and_die_with_their_parent(
    tmp_path: Path, pki: Pki
) -> None:
    env = _env(tmp_path, pki)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "listeblanche.xml").write_bytes(TRUST_LIST.read_bytes())
    _python(SETUP, env)
    port = free_port()
    egide = str(Path(sys.executable).with_name("egide"))
    server = subprocess.Popen(
        [egide, "smtp", "serve", "--port", str(port), "--processes", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "server.log").open("wb"),
    )
    context = ssl.create_default_context(cafile=pki.root)
    context.check_hostname = False
    context.load_cert_chain(pki.peer.cert, pki.peer.key)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                smtplib.SMTP("127.0.0.1", port, timeout=2).quit()
                break
            except OSError:
                time.sleep(0.3)
        time.sleep(1)  # the second process binds after the first
        sent = []
        for index in range(8):  # a new connection each time: the kernel spreads them
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                client.starttls(context=context)
                client.ehlo("smtp-1.operateur-alpha.test")
                subject = f"p-{index}"
                body = f"Subject: {subject}\r\nFrom: {PEER_SENDER}\r\n\r\nx\r\n"
                client.sendmail(PEER_SENDER, [MAILBOX], body.encode())
                sent.append(subject)
        # The second listener, and each listener's ingest process (ADR 0038).
        children = _children(server.pid)
        descendants = children + [pid for child in children for pid in _children(child)]
        assert len(children) == 2 and len(descendants) == 3, (tmp_path / "server.log").read_text(
            errors="replace"
        )
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        # PR_SET_PDEATHSIG: the orphan listener gets SIGTERM, stops and ends its ingest
        # process; the killed listener's ingest process finds its stream closed and leaves.
        _wait_gone(descendants)
        alive = [pid for pid in descendants if _alive(pid)]
        for pid in alive:
            os.kill(pid, signal.SIGKILL)
        assert not alive, "a listener or an ingest process outlived its parent"
    finally:
        if server.poll() is None:
            server.kill()
    stored = json.loads(_python(LIST, env))
    assert sorted(stored) == sorted(sent)
