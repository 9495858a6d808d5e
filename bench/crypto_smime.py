"""Side by side: Égide's S/MIME sign-then-encrypt vs `openssl cms`, and envelope encryption at rest.

    .venv/bin/python -m bench.crypto_smime [--sizes 10240,1048576,26214400] [--repeat 3]

OpenSSL runs as two piped `openssl cms` processes (sign, then encrypt; decrypt, then verify), as an
operator's script would; its process start-up is included, which dominates small messages. A
throwaway PKI is generated in a temporary directory. Medians over --repeat runs; compare ratios,
not absolute times (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from egide.crypto import cms, envelope, x509


def _median(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _openssl(directory: Path, script: str) -> None:
    subprocess.run(["bash", "-c", script], cwd=directory, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10240,1048576,26214400")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    ca = x509.create_ca("Bench CA")
    mailbox_key = envelope.generate_mailbox_key()
    print("| operation | key | size | Égide (ms) | openssl cms (ms) | ratio |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        (directory / "ca.pem").write_bytes(x509.certificate_pem(ca.certificate))
        for key_type in ("rsa2048", "p256"):
            identity = x509.issue_mailbox_certificate(
                ca, f"{key_type}@bench.test", key_type=key_type
            )
            (directory / "me.pem").write_bytes(x509.certificate_pem(identity.certificate))
            (directory / "me.key").write_bytes(x509.private_key_pem(identity.private_key))
            oaep = (
                "-keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256"
                if key_type.startswith("rsa")
                else ""
            )
            for size in sizes:
                entity = b"Content-Type: application/octet-stream\r\n\r\n" + os.urandom(size)
                (directory / "in.eml").write_bytes(entity)
                anchors = [ca.certificate]
                ours_out = _median(
                    partial(
                        cms.sign_and_encrypt,
                        entity,
                        identity,
                        [identity.certificate],
                        anchors=anchors,
                    ),
                    args.repeat,
                )
                theirs_out = _median(
                    partial(
                        _openssl,
                        directory,
                        "openssl cms -sign -nodetach -binary -in in.eml -signer me.pem "
                        "-inkey me.key | openssl cms -encrypt -aes-256-gcm -recip me.pem "
                        f"{oaep} -out out.eml",
                    ),
                    args.repeat,
                )
                part = cms.sign_and_encrypt(
                    entity, identity, [identity.certificate], anchors=anchors
                )
                ours_in = _median(
                    partial(cms.open_smime, part, identity, anchors=anchors), args.repeat
                )
                theirs_in = _median(
                    partial(
                        _openssl,
                        directory,
                        "openssl cms -decrypt -in out.eml -inkey me.key -recip me.pem | "
                        "openssl cms -verify -CAfile ca.pem -out /dev/null",
                    ),
                    args.repeat,
                )
                for name, ours, theirs in (
                    ("sign+encrypt", ours_out, theirs_out),
                    ("decrypt+verify", ours_in, theirs_in),
                ):
                    print(
                        f"| {name} | {key_type} | {size:,} B | {ours * 1e3:.1f} | "
                        f"{theirs * 1e3:.1f} | {ours / theirs:.2f} |"
                    )
        for size in sizes:
            data = os.urandom(size)
            blob = envelope.seal_message(mailbox_key, data, mailbox_id="m", message_id="1")
            seal = _median(
                partial(envelope.seal_message, mailbox_key, data, mailbox_id="m", message_id="1"),
                args.repeat,
            )
            opened = _median(
                partial(envelope.open_message, mailbox_key, blob, mailbox_id="m", message_id="1"),
                args.repeat,
            )
            print(f"| at-rest seal | AES-256-GCM | {size:,} B | {seal * 1e3:.1f} | | |")
            print(f"| at-rest open | AES-256-GCM | {size:,} B | {opened * 1e3:.1f} | | |")


if __name__ == "__main__":
    main()
