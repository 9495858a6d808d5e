"""SMTP ingest: Égide's relay listener vs Postfix → Maildir, same load, same machine.

    .venv/bin/python -m bench.smtp_ingest --messages 300 --connections 1 4 16 --processes 1 2

Each message carries a 100 KB attachment and is sent over STARTTLS on persistent connections
(one thread per connection, smtplib, TCP_NODELAY) by a load generator in its own process
(`bench/smtp_load.py`). Latency is measured from MAIL FROM to the final reply after DATA,
i.e. until the server acknowledged durable storage (`250`). Égide is `egide smtp serve` in
its own process(es) (`--processes`: several listeners on one port, SO_REUSEPORT) with the
embedded default: SQLite WAL with synchronous=FULL, encrypted at rest, segment fdatasync'ed,
audit entry, group commit of ADR 0015. Postfix is a private instance in a temporary directory
(needs root and the Debian package). CPU per message: the server's processes and their
children, for both. The summaries Égide leaves to its worker are timed after the runs, in
this process. Prints a Markdown table; record medians and ratios, never absolute promises.
"""

from __future__ import annotations

import argparse
import ctypes
import multiprocessing
import os
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# Only when run (multiprocessing imports this module in the load generator's process too).
WORK = Path(tempfile.mkdtemp(prefix="egide-bench-smtp-")) if __name__ == "__main__" else Path()
if __name__ == "__main__":
    os.environ.update(
        EGIDE_DATA_DIR=str(WORK / "data"), EGIDE_KEY_DIR=str(WORK / "keys"), EGIDE_HTTPS="0"
    )
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.console.inbox import postfix_peer  # noqa: E402
from tests.console.inbox.smtp_fixtures import TRUST_LIST, Pki, free_port, make_pki  # noqa: E402

from bench import smtp_load  # noqa: E402

EGIDE_RCPT = "bench@tilleuls.egide.test"
POSTFIX_RCPT = "bench@medecin.mssante.test"


def tree_cpu_seconds(root_pid: int) -> float:
    """User + system CPU of a process and its live descendants (and the children it reaped)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = sum(int(v) for v in fields[11:15]) / tick
    total = 0.0
    for pid, seconds in times.items():
        current = pid
        while current not in (0, 1) and current != root_pid:
            current = parents.get(current, 0)
        if current == root_pid:
            total += seconds
    return total


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def measure(
    pool: ProcessPoolExecutor,
    port: int,
    pki: Pki,
    to: str,
    total: int,
    connections: int,
    cpu: Callable[[], float],
) -> tuple[float, float, float, float]:
    """msg/s, p50 ms, p99 ms and server CPU ms per message, the client in its own process."""
    before = cpu()
    elapsed, latencies = pool.submit(
        smtp_load.run_load, port, pki.root, pki.peer.cert, pki.peer.key, to, total, connections
    ).result()
    spent = cpu() - before
    return (
        len(latencies) / elapsed,
        percentile(latencies, 50) * 1000,
        percentile(latencies, 99) * 1000,
        spent / len(latencies) * 1000,
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def die_with_parent() -> None:
    """In the server's process: SIGTERM when this benchmark ends, however it ends (Linux)."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_egide(pki: Pki, port: int, processes: int) -> subprocess.Popen[bytes]:
    """`egide smtp serve` on `port` with `processes` listener processes, once it answers."""
    env = dict(os.environ)
    env.update(
        EGIDE_SMTP_CERT_FILE=pki.server.cert,
        EGIDE_SMTP_KEY_FILE=pki.server.key,
        EGIDE_SMTP_TRUST_ANCHORS_FILE=pki.root,
        EGIDE_SMTP_CRL_FILES=pki.crl,
        EGIDE_TASKS_IMMEDIATE="0",
    )
    egide = str(Path(sys.executable).with_name("egide"))
    command = [egide, "smtp", "serve", "--port", str(port), "--submission-port", "0"]
    server = subprocess.Popen(
        [*command, "--processes", str(processes)],
        preexec_fn=die_with_parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(WORK / f"egide-{port}.log").open("wb"),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            smtplib.SMTP("127.0.0.1", port, timeout=2).quit()
            time.sleep(1)  # the other processes bind right after the first one
            return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    sys.exit((WORK / f"egide-{port}.log").read_text(errors="replace")[-2000:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument(
        "--processes", type=int, nargs="+", default=[1], help="Égide listener processes"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("interrupted"))  # still stop Postfix
    why_not = postfix_peer.usable()
    if why_not:
        sys.exit(f"Postfix cannot run here: {why_not}")

    from egide.cli.bootstrap import migrate, start_django

    start_django()
    migrate()
    from django.conf import settings

    from egide.console.accounts.models import Role
    from egide.console.accounts.services import create_member, create_practice
    from egide.console.inbox import inbound, services
    from egide.console.inbox.models import MailboxKind, Message
    from egide.messaging.trust import TrustListStore

    pki = make_pki(Path(tempfile.mkdtemp(prefix="pki-", dir=WORK)))
    TrustListStore(Path(settings.EGIDE_TRUST_LIST_FILE)).accept(TRUST_LIST.read_bytes())
    practice = create_practice("Cabinet Bench", "bench", "Lyon")
    owner = create_member(
        practice,
        username="dr.bench",
        password=os.urandom(16).hex(),
        role=Role.PRACTITIONER,
        first_name="Alice",
        last_name="Banc",
    )
    services.create_mailbox(
        practice, address=EGIDE_RCPT, kind=MailboxKind.PERSONAL, display_name="Bench", owner=owner
    )
    postfix_root = Path(tempfile.mkdtemp(prefix="egide-bench-postfix-"))
    peer = postfix_peer.start(
        postfix_root,
        port=free_port(),
        egide_port=free_port(),  # Postfix does not relay to Égide in this benchmark
        ca_file=pki.root,
        cert_file=pki.peer.cert,
        key_file=pki.peer.key,
        mailboxes=[POSTFIX_RCPT],
    )
    master = next(postfix_root.rglob("master.pid"))
    postfix_pid = int(master.read_text().split()[0])
    print(f"{args.messages} messages of ≈ 137 KB (100 KB attachment, base64), STARTTLS\n")
    print(
        "| Égide processes | connections | Égide msg/s | p50 ms | p99 ms | CPU ms/msg "
        "| Postfix msg/s | p50 ms | p99 ms | CPU ms/msg | ratio | p99 ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    server = None
    try:
        for processes in args.processes:
            port = free_port()
            server = start_egide(pki, port, processes)
            server_pid = server.pid
            for connections in args.connections:
                egide = measure(
                    pool,
                    port,
                    pki,
                    EGIDE_RCPT,
                    args.messages,
                    connections,
                    lambda: tree_cpu_seconds(server_pid),  # noqa: B023 - used at once
                )
                postfix = measure(
                    pool,
                    peer.port,
                    pki,
                    POSTFIX_RCPT,
                    args.messages,
                    connections,
                    lambda: tree_cpu_seconds(postfix_pid),
                )
                print(
                    "| {} | {} | {:.0f} | {:.1f} | {:.1f} | {:.2f} | {:.0f} | {:.1f} | {:.1f} "
                    "| {:.2f} | {:.2f} | {:.2f} |".format(
                        processes,
                        connections,
                        *egide,
                        *postfix,
                        egide[0] / postfix[0],
                        egide[2] / postfix[2],
                    )
                )
            server.terminate()
            server.wait(timeout=60)
            server = None
        stored = Message.objects.filter(mailbox__address=EGIDE_RCPT).count()
        expected = args.messages * len(args.connections) * len(args.processes)
        print(f"\nÉgide stored {stored} messages (expected {expected}).")
        before, started_at = own_cpu_seconds(), time.perf_counter()
        summarised = inbound.summarise_pending()
        wall, cpu = time.perf_counter() - started_at, own_cpu_seconds() - before
        print(
            f"Background summaries afterwards (the worker's job, not before `250`): {summarised}"
            f" messages in {wall:.1f} s ({summarised / wall:.0f} msg/s,"
            f" CPU {cpu / max(summarised, 1) * 1000:.1f} ms/msg)."
        )
    finally:
        if server is not None:
            server.kill()
        pool.shutdown()
        peer.stop()
        shutil.rmtree(postfix_root, ignore_errors=True)
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
