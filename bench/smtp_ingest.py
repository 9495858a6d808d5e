"""SMTP ingest: Égide's relay listener vs Postfix → Maildir, same load, same machine.

    .venv/bin/python -m bench.smtp_ingest --messages 400 --connections 1 4 16

Each message carries a 100 KB attachment and is sent over STARTTLS on persistent connections
(one thread per connection, smtplib, TCP_NODELAY). Latency is measured from MAIL FROM to the
final reply after DATA, i.e. until the server acknowledged durable storage (`250`). Égide runs
with its embedded default (SQLite WAL, synchronous=FULL, blobs fsynced, encrypted at rest,
audit entry); Postfix is a private instance in a temporary directory (needs root and the Debian
package). Prints a Markdown table; record medians and ratios, never absolute promises.
"""

from __future__ import annotations

import argparse
import os
import shutil
import smtplib
import socket
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path

WORK = Path(tempfile.mkdtemp(prefix="egide-bench-smtp-"))
os.environ.update(
    EGIDE_DATA_DIR=str(WORK / "data"), EGIDE_KEY_DIR=str(WORK / "keys"), EGIDE_HTTPS="0"
)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.console.inbox import postfix_peer  # noqa: E402
from tests.console.inbox.smtp_fixtures import TRUST_LIST, Pki, free_port, make_pki  # noqa: E402

SENDER = "dr.durand@medecin.mssante.test"
EGIDE_RCPT = "bench@tilleuls.egide.test"
POSTFIX_RCPT = "bench@medecin.mssante.test"


def message(to: str, index: int) -> bytes:
    from egide.messaging import mime

    attachment = mime.Attachment("resultats.pdf", "application/pdf", os.urandom(100 * 1024))
    draft = mime.Draft(
        sender=SENDER,
        recipients=(to,),
        subject=f"Résultats {index}",
        body="Bonjour, veuillez trouver les résultats ci-joints.",
        attachments=(attachment,),
    )
    return mime.compose_message(draft, domain="medecin.mssante.test")


def run_load(
    port: int, pki: Pki, to: str, total: int, connections: int
) -> tuple[float, list[float]]:
    context = ssl.create_default_context(cafile=pki.root)
    context.check_hostname = False
    context.load_cert_chain(pki.peer.cert, pki.peer.key)
    bodies = [message(to, i) for i in range(min(total, 50))]
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def worker() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            assert client.sock is not None
            client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            client.starttls(context=context)
            client.ehlo("bench.operateur-alpha.test")
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                start = time.perf_counter()
                refused = client.sendmail(SENDER, [to], bodies[index % len(bodies)])
                elapsed = time.perf_counter() - start
                assert refused == {}
                with lock:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    why_not = postfix_peer.usable()
    if why_not:
        sys.exit(f"Postfix cannot run here: {why_not}")

    from egide.cli.bootstrap import migrate, start_django

    start_django()
    migrate()
    from django.conf import settings

    from egide.console.accounts.models import Role
    from egide.console.accounts.services import create_member, create_practice
    from egide.console.inbox import listener, services
    from egide.console.inbox.models import MailboxKind, Message
    from egide.messaging.trust import TrustListStore

    pki = make_pki(Path(tempfile.mkdtemp(prefix="pki-", dir=WORK)))
    for name, value in {
        "EGIDE_SMTP_CERT_FILE": pki.server.cert,
        "EGIDE_SMTP_KEY_FILE": pki.server.key,
        "EGIDE_SMTP_TRUST_ANCHORS_FILE": pki.root,
        "EGIDE_SMTP_CRL_FILES": [pki.crl],
    }.items():
        setattr(settings, name, value)
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
    started = listener.start(port=free_port(), submission_port=0)
    egide_port = started[0].port
    postfix_root = Path(tempfile.mkdtemp(prefix="egide-bench-postfix-"))
    peer = postfix_peer.start(
        postfix_root,
        port=free_port(),
        egide_port=egide_port,
        ca_file=pki.root,
        cert_file=pki.peer.cert,
        key_file=pki.peer.key,
        mailboxes=[POSTFIX_RCPT],
    )
    print(f"{args.messages} messages of ≈ 137 KB (100 KB attachment, base64), STARTTLS\n")
    print(
        "| connections | Égide msg/s | p50 ms | p99 ms | Postfix msg/s | p50 ms | p99 ms | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    try:
        for connections in args.connections:
            results = []
            for port, to in ((egide_port, EGIDE_RCPT), (peer.port, POSTFIX_RCPT)):
                elapsed, latencies = run_load(port, pki, to, args.messages, connections)
                results.append(
                    (
                        len(latencies) / elapsed,
                        percentile(latencies, 50) * 1000,
                        percentile(latencies, 99) * 1000,
                    )
                )
            (e_rate, e50, e99), (p_rate, p50, p99) = results
            print(
                f"| {connections} | {e_rate:.0f} | {e50:.0f} | {e99:.0f} "
                f"| {p_rate:.0f} | {p50:.0f} | {p99:.0f} | {e_rate / p_rate:.2f} |"
            )
        stored = Message.objects.filter(mailbox__address=EGIDE_RCPT).count()
        print(
            f"\nÉgide stored {stored} messages (expected {args.messages * len(args.connections)})."
        )
    finally:
        for item in started:
            item.stop()
        peer.stop()
        shutil.rmtree(postfix_root, ignore_errors=True)
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
