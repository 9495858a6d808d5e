"""IMAP: a mail client's synchronisation of one mailbox, Égide vs Dovecot, same messages.

    .venv/bin/python -m bench.imap_sync --messages 200 --rounds 3

The client (imaplib, in its own process, one implicit-TLS connection) does what Thunderbird
does on a new account: LOGIN and SELECT; the message list (`UID FETCH 1:* (UID RFC822.SIZE
FLAGS BODY.PEEK[HEADER.FIELDS (…)])`); then opens every message (`UID FETCH n BODY.PEEK[]`, one
command each); then flags them all and unflags them (`UID STORE 1:* ±FLAGS (\\Flagged)`).
Égide runs its embedded default (SQLite WAL, messages encrypted at rest, reads audited);
Dovecot 2.3 (Debian package, needs root) is a private instance on a Maildir in a temporary
directory. Server CPU: Égide's is this process's CPU time while the client runs (the server is
threads in this process); Dovecot's is its process tree's, read when it exits. Prints a
Markdown table of medians over the rounds; record ratios, never absolute promises.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADERS = "BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID CONTENT-TYPE)]"
ROOT = Path(__file__).resolve().parent.parent


def client(port: int, user: str, password: str) -> dict[str, float]:
    """The client's side, run in a child process; wall times per phase and its own CPU time."""
    import imaplib

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    times: dict[str, float] = {}
    start = time.perf_counter()
    imap = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context, timeout=300)
    imap.login(user, password)
    typ, data = imap.select("INBOX")
    assert typ == "OK", data
    times["login"] = time.perf_counter() - start
    start = time.perf_counter()
    typ, data = imap.uid("FETCH", "1:*", f"(UID RFC822.SIZE FLAGS {HEADERS})")
    assert typ == "OK", data
    uids = [int(found[1]) for found in re.finditer(rb"UID (\d+)", repr(data).encode())]
    times["list"] = time.perf_counter() - start
    start = time.perf_counter()
    for uid in uids:
        typ, data = imap.uid("FETCH", str(uid), "(BODY.PEEK[])")
        assert typ == "OK" and isinstance(data[0], tuple) and len(data[0][1]) > 1000, data
    times["read"] = time.perf_counter() - start
    start = time.perf_counter()
    for op in ("+FLAGS", "-FLAGS"):
        typ, data = imap.uid("STORE", "1:*", op, "(\\Flagged)")
        assert typ == "OK", data
    times["flag"] = time.perf_counter() - start
    imap.logout()
    times["messages"] = len(uids)
    times["cpu"] = time.process_time()
    return times


def run_client(port: int, user: str, password: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.imap_sync", "--client", str(port), user, password],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def messages(count: int) -> list[bytes]:
    from egide.messaging import mime

    made = []
    for index in range(count):
        attachment = mime.Attachment("cr.pdf", "application/pdf", os.urandom(20 * 1024))
        draft = mime.Draft(
            sender="dr.durand@medecin.mssante.test",
            recipients=("bench@tilleuls.egide.test",),
            subject=f"Compte rendu {index}",
            body="Bonjour, veuillez trouver le compte rendu ci-joint.\n" * 20,
            attachments=(attachment,),
        )
        made.append(mime.compose_message(draft, domain="medecin.mssante.test"))
    return made


DOVECOT_CONF = """base_dir = {work}/run
state_dir = {work}/run
log_path = {work}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = static
  args = password=sesame
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={work}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""


def start_dovecot(
    work: Path, port: int, cert: str, key: str, raws: list[bytes]
) -> subprocess.Popen[bytes]:
    work.chmod(0o755)
    maildir = work / "home" / "bench" / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for index, raw in enumerate(raws):
        (maildir / "cur" / f"{1700000000 + index}.M{index}P1.bench:2,").write_bytes(raw)
    shutil.chown(work / "home", "nobody")
    for path in (work / "home").rglob("*"):
        shutil.chown(path, "nobody")
    (work / "run").mkdir()
    conf = work / "dovecot.conf"
    conf.write_text(DOVECOT_CONF.format(work=work, port=port, cert=cert, key=key))
    process = subprocess.Popen(["dovecot", "-c", str(conf), "-F"])
    for _ in range(100):
        if (work / "run" / "login").exists() and _listening(port):
            return process
        time.sleep(0.1)
    process.terminate()
    raise SystemExit(f"Dovecot did not start: {(work / 'dovecot.log').read_text()}")


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--client", nargs=3, metavar=("PORT", "USER", "PASSWORD"))
    args = parser.parse_args()
    if args.client:
        port, user, password = args.client
        print(json.dumps(client(int(port), user, password)))
        return
    if shutil.which("dovecot") is None or os.geteuid() != 0:
        sys.exit("Dovecot cannot run here: needs root and the dovecot-imapd Debian package")
    work = Path(tempfile.mkdtemp(prefix="egide-bench-imap-"))
    os.environ.update(
        EGIDE_DATA_DIR=str(work / "data"), EGIDE_KEY_DIR=str(work / "keys"), EGIDE_HTTPS="0"
    )
    sys.path.insert(0, str(ROOT))
    from egide.cli.bootstrap import migrate, start_django

    start_django()
    migrate()
    from django.conf import settings
    from tests.console.inbox.smtp_fixtures import free_port, make_pki

    from egide.console.accounts.models import Role
    from egide.console.accounts.services import create_api_token, create_member, create_practice
    from egide.console.inbox import imap_backend, services
    from egide.console.inbox.models import MailboxKind

    pki = make_pki(Path(tempfile.mkdtemp(prefix="pki-", dir=work)))
    settings.EGIDE_IMAP_CERT_FILE, settings.EGIDE_IMAP_KEY_FILE = pki.server.cert, pki.server.key
    practice = create_practice("Cabinet Bench", "bench", "Lyon")
    owner = create_member(
        practice, username="dr.bench", password=os.urandom(16).hex(), role=Role.PRACTITIONER
    )
    box = services.create_mailbox(
        practice,
        address="bench@tilleuls.egide.test",
        kind=MailboxKind.PERSONAL,
        display_name="Bench",
        owner=owner,
    )
    raws = messages(args.messages)
    for raw in raws:
        services.store(box, raw)
    token = create_api_token(owner, "bench")[1]
    server = imap_backend.start(host="127.0.0.1", port=free_port(), starttls_port=0)
    dovecot_port = free_port()
    # Its own directory, readable by the mail user: the Égide data (and keys) stay private.
    dovecot_dir = Path(tempfile.mkdtemp(prefix="egide-bench-dovecot-"))
    dovecot = start_dovecot(dovecot_dir, dovecot_port, pki.server.cert, pki.server.key, raws)
    egide_runs, dovecot_runs = [], []
    egide_cpu = 0.0
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = 0.0
    try:
        for _ in range(args.rounds):  # side by side, alternating
            before = time.process_time()
            egide_runs.append(run_client(server.ports["tls"], "dr.bench", token))
            egide_cpu += time.process_time() - before
            client_cpu += egide_runs[-1]["cpu"]
            dovecot_runs.append(run_client(dovecot_port, "bench", "sesame"))
            client_cpu += dovecot_runs[-1]["cpu"]
    finally:
        server.stop()
        dovecot.send_signal(signal.SIGTERM)
        dovecot.wait(timeout=30)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(dovecot_dir, ignore_errors=True)
    dovecot_cpu = (
        children.ru_utime + children.ru_stime - children_before.ru_utime - children_before.ru_stime
    ) - client_cpu
    size = sum(len(raw) for raw in raws) / len(raws) / 1024
    print(f"{args.messages} messages of ≈ {size:.0f} KB, implicit TLS, {args.rounds} rounds\n")
    print("| phase | Égide s | Dovecot s | ratio (Égide / Dovecot) |")
    print("|---|---|---|---|")
    for phase in ("login", "list", "read", "flag"):
        e = statistics.median(run[phase] for run in egide_runs)
        d = statistics.median(run[phase] for run in dovecot_runs)
        print(f"| {phase} | {e:.3f} | {d:.3f} | {e / d:.1f} |")
    print(
        f"\nServer CPU per round: Égide {egide_cpu / args.rounds:.2f} s, "
        f"Dovecot {dovecot_cpu / args.rounds:.2f} s "
        f"(messages seen: Égide {egide_runs[0]['messages']:.0f}, "
        f"Dovecot {dovecot_runs[0]['messages']:.0f})."
    )


if __name__ == "__main__":
    main()
