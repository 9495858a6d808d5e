"""A real Postfix playing «another operator» of the trust space, in a temporary directory.

Its own config_directory, queue and Maildir under the test's tmp dir, listening on a high port
on 127.0.0.1: TLS required in both directions (IGC-Santé-like test CA), its own client
certificate when it delivers to Égide, virtual mailboxes for `medecin.mssante.test` delivered
to a Maildir, and a transport map sending `tilleuls.egide.test` to Égide's listener.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
PEER_DOMAIN = "medecin.mssante.test"


@dataclass
class PostfixPeer:
    root: Path
    port: int

    @property
    def config(self) -> Path:
        return self.root / "etc"

    @property
    def maildir(self) -> Path:
        return self.root / "mail"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [POSTFIX, "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def delivered(self, mailbox: str) -> list[bytes]:
        new = self.maildir / mailbox / "new"
        return [path.read_bytes() for path in sorted(new.glob("*"))] if new.exists() else []

    def flush(self) -> None:
        self.run("flush")

    def log(self) -> str:
        path = self.root / "postfix.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        self.run("stop")


def usable() -> str | None:
    """None when a Postfix instance can run here, else why not."""
    if not Path(POSTFIX).exists():
        return "postfix is not installed (Debian package postfix)"
    if os.geteuid() != 0:
        return "postfix's master must start as root"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "no postfix system user"
    return None


def start(
    root: Path,
    *,
    port: int,
    egide_port: int,
    ca_file: str,
    cert_file: str,
    key_file: str,
    mailboxes: list[str],
) -> PostfixPeer:
    peer = PostfixPeer(root, port)
    etc, queue, data, mail = peer.config, root / "queue", root / "data", peer.maildir
    for directory in (etc, queue, data, mail):
        directory.mkdir(parents=True, exist_ok=True)
    nobody, postfix = pwd.getpwnam("nobody"), pwd.getpwnam("postfix")
    os.chown(mail, nobody.pw_uid, nobody.pw_gid)
    os.chown(data, postfix.pw_uid, postfix.pw_gid)
    # Postfix's daemons (user postfix) and the virtual agent (nobody) walk these paths.
    for directory in (root, *root.parents):
        if directory == Path("/"):
            break
        directory.chmod(directory.stat().st_mode | 0o055)
    (etc / "vmailbox").write_text(
        "".join(f"{address} {address.split('@')[0]}/\n" for address in mailboxes)
    )
    (etc / "transport").write_text(f"tilleuls.egide.test smtp:[localhost]:{egide_port}\n")
    main = {
        "compatibility_level": "3.6",
        "queue_directory": str(queue),
        "data_directory": str(data),
        "mail_owner": "postfix",
        "myhostname": "smtp-1.operateur-alpha.test",
        "mydomain": "operateur-alpha.test",
        "myorigin": PEER_DOMAIN,
        "mydestination": "",
        "inet_interfaces": "127.0.0.1",
        "inet_protocols": "ipv4",
        "mynetworks": "127.0.0.0/8",
        "maillog_file": str(root / "postfix.log"),
        "maillog_file_prefixes": str(root),
        "smtp_host_lookup": "native",
        "smtp_dns_support_level": "disabled",
        "alias_maps": "",
        "alias_database": "",
        "local_recipient_maps": "",
        "biff": "no",
        "virtual_mailbox_domains": PEER_DOMAIN,
        "virtual_mailbox_base": str(mail),
        "virtual_mailbox_maps": f"texthash:{etc / 'vmailbox'}",
        "virtual_uid_maps": f"static:{nobody.pw_uid}",
        "virtual_gid_maps": f"static:{nobody.pw_gid}",
        "virtual_minimum_uid": "1",
        "transport_maps": f"texthash:{etc / 'transport'}",
        "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
        "smtpd_tls_security_level": "encrypt",
        "smtpd_tls_cert_file": cert_file,
        "smtpd_tls_key_file": key_file,
        "smtpd_tls_CAfile": ca_file,
        "smtpd_tls_ask_ccert": "yes",
        "smtpd_tls_mandatory_protocols": ">=TLSv1.2",
        "smtpd_tls_protocols": ">=TLSv1.2",
        "smtp_tls_security_level": "secure",
        "smtp_tls_secure_cert_match": "nexthop",
        "smtp_tls_CAfile": ca_file,
        "smtp_tls_cert_file": cert_file,
        "smtp_tls_key_file": key_file,
        "smtp_tls_mandatory_protocols": ">=TLSv1.2",
        "smtp_tls_loglevel": "1",
        "smtpd_tls_loglevel": "1",
        "minimal_backoff_time": "1s",
        "maximal_backoff_time": "2s",
        "queue_run_delay": "1s",
        "in_flow_delay": "0",
        "message_size_limit": str(30 * 1024 * 1024),
    }
    (etc / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in main.items()))
    lines = []
    for line in Path("/etc/postfix/master.cf").read_text().splitlines():
        fields = line.split()
        if line[:1] in ("#", " ", "\t") or len(fields) < 8:
            lines.append(line)
            continue
        if fields[:2] == ["smtp", "inet"]:
            continue
        # Nothing chrooted: the queue lives in a tmp dir, not under /var/spool/postfix.
        fields[4] = "n"
        lines.append(" ".join(fields))
    lines.append(f"127.0.0.1:{port} inet n - n - - smtpd")
    (etc / "master.cf").write_text("\n".join(lines) + "\n")
    result = peer.run("check")
    if result.returncode != 0:
        raise RuntimeError(f"postfix check failed: {result.stderr}")
    result = peer.run("start")
    if result.returncode != 0:
        raise RuntimeError(f"postfix start failed: {result.stderr}")
    time.sleep(0.5)
    return peer
