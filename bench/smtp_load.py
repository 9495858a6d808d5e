"""The SMTP load generator of `bench.smtp_ingest`, run in its own process.

Kept apart (no side effect at import) so that the client's TLS and smtplib work does not share
the measured server's interpreter and GIL.
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
import threading
import time

SENDER = "dr.durand@medecin.mssante.test"


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
    port: int, ca_file: str, cert_file: str, key_file: str, to: str, total: int, connections: int
) -> tuple[float, list[float]]:
    """Send `total` messages over `connections` persistent STARTTLS connections.

    Returns the wall time and each message's latency (MAIL FROM to the reply after DATA).
    """
    context = ssl.create_default_context(cafile=ca_file)
    context.check_hostname = False
    context.load_cert_chain(cert_file, key_file)
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
