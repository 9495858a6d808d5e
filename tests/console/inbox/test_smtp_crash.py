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


@pytest.mark.parametrize("processes", [1, 2])
def test_every_acknowledged_message_survives_a_sigkill_and_none_is_duplicated(
    tmp_path: Path, pki: Pki, processes: int
) -> None:
    """With two listener processes, both are killed at once: two segments, one database."""
    env = _env(tmp_path, pki)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "listeblanche.xml").write_bytes(TRUST_LIST.read_bytes())
    _python(SETUP, env)
    port = free_port()
    egide = str(Path(sys.executable).with_name("egide"))
    server = subprocess.Popen(
        [egide, "smtp", "serve", "--port", str(port), "--processes", str(processes)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "server.log").open("wb"),
    )
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
        while time.monotonic() < deadline:
            try:
                smtplib.SMTP("127.0.0.1", port, timeout=2).quit()
                break
            except OSError:
                time.sleep(0.3)
        time.sleep(processes - 1)  # the other processes bind right after the first one
        threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
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
    finally:
        if server.poll() is None:
            server.kill()
    log = (tmp_path / "server.log").read_text(errors="replace")[-3000:]
    assert len(acknowledged) >= 12, (errors, log)
    stored = json.loads(_python(LIST, env))
    assert set(acknowledged) <= set(stored)
    assert len(stored) == len(set(stored))


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(child) for child in found.stdout.split()]


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
        children = subprocess.run(
            ["pgrep", "-P", str(server.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert len(children) == 1, (tmp_path / "server.log").read_text(errors="replace")
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        child = int(children[0])
        for _ in range(100):  # PR_SET_PDEATHSIG: the orphan gets SIGTERM and leaves
            try:
                state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                break
            if state == "Z":  # ended, not yet reaped by whoever adopted it
                break
            time.sleep(0.1)
        else:
            os.kill(child, signal.SIGKILL)
            raise AssertionError("the second listener outlived its parent")
    finally:
        if server.poll() is None:
            server.kill()
    stored = json.loads(_python(LIST, env))
    assert sorted(stored) == sorted(sent)
