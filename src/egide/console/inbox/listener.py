"""Start the SMTP listeners (relay and, optionally, submission) from the settings.

Each listener is an aiosmtpd `Controller`: its own event loop in a daemon thread, so it runs
beside the console and the worker in `egide serve`, or alone in `egide smtp serve`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from egide.messaging.smtp_server import SmtpController, SmtpHandler, new_event_loop
from egide.messaging.smtp_tls import TlsMaterial

from . import ingest, ingest_process, revocation, storage
from .inbound import RelaySink, SubmissionSink

log = logging.getLogger(__name__)


class SmtpNotConfigured(Exception):
    """TLS material is missing: SMTP never runs in clear, so it does not run at all."""


@dataclass(frozen=True)
class Listener:
    name: str
    host: str
    port: int
    controller: SmtpController
    ingest_child: ingest_process.Child | None = None

    def stop(self) -> None:
        handler = self.controller.handler
        if isinstance(handler, SmtpHandler) and self.controller.loop.is_running():
            handler.drain(self.controller.loop)  # no `250` cut by the stop
        self.controller.stop()
        if isinstance(handler, SmtpHandler):
            handler.close()
        if self.ingest_child is not None:  # after the deliveries in flight: it stores them
            self.ingest_child.close()
        storage.close_segment()


def _missing() -> list[str]:
    needed = {
        "EGIDE_SMTP_CERT_FILE": settings.EGIDE_SMTP_CERT_FILE,
        "EGIDE_SMTP_KEY_FILE": settings.EGIDE_SMTP_KEY_FILE,
        "EGIDE_SMTP_TRUST_ANCHORS_FILE": settings.EGIDE_SMTP_TRUST_ANCHORS_FILE,
    }
    return [name for name, value in needed.items() if not value or not Path(value).is_file()]


def start(
    *,
    host: str | None = None,
    port: int | None = None,
    submission_port: int | None = None,
    reuse_port: bool = False,
    ingest_in_child: bool = False,
    on_ingest_gone: Callable[[str], None] | None = None,
) -> list[Listener]:
    """Start the relay listener (and submission when its port is not 0); raise if not configured.

    `reuse_port`: other processes listen on the same ports (`egide smtp serve --processes`).
    `ingest_in_child`: the relay's messages are stored by a child process, forked here before
    any listener thread starts (`egide smtp serve`, ADR 0038); `on_ingest_gone` is called if
    that process dies (the relay then answers `451` until stopped).
    """
    # aiosmtpd logs every command at INFO, addresses included: keep only its warnings, our
    # refusals are logged and audited by the sinks.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    missing = _missing()
    if missing:
        raise SmtpNotConfigured(
            "écoute SMTP non démarrée : TLS obligatoire, fichiers manquants ou illisibles : "
            + ", ".join(missing)
        )
    try:
        # Before listening: rows whose commit a crash lost are rebuilt from the segments.
        ingest.recover()
    except Exception:  # the records stay; the next start tries again
        log.exception("recovery pass over the mail segments failed")
    child = ingest_process.start(on_ingest_gone) if ingest_in_child else None
    host = host or settings.EGIDE_SMTP_HOST
    relay_port = settings.EGIDE_SMTP_PORT if port is None else port
    submission = settings.EGIDE_SMTP_SUBMISSION_PORT if submission_port is None else submission_port
    listeners = []
    limit = settings.EGIDE_MAX_MESSAGE_BYTES
    # Re-read at each new connection when a file changed: renewed CRLs apply at once.
    relay_tls = TlsMaterial(
        settings.EGIDE_SMTP_CERT_FILE,
        settings.EGIDE_SMTP_KEY_FILE,
        client_ca_file=settings.EGIDE_SMTP_TRUST_ANCHORS_FILE,
        crl_files=revocation.crl_files(),
    )
    relay = SmtpController(
        SmtpHandler(RelaySink(background=True, ingest_child=child), relay=True),
        hostname=host,
        port=relay_port,
        server_hostname=settings.EGIDE_SMTP_HOSTNAME,
        tls_context=relay_tls.context(),
        reuse_port=reuse_port,
        loop=new_event_loop(uvloop_loop=settings.EGIDE_SMTP_UVLOOP),
        require_starttls=True,
        data_size_limit=limit,
        enable_SMTPUTF8=True,
        auth_exclude_mechanism=["LOGIN", "PLAIN", "XOAUTH2"],
    )
    relay.tls_source = relay_tls.context
    try:
        relay.start()
    except BaseException:
        if child is not None:
            child.close()
        raise
    listeners.append(Listener("relay", host, relay.port, relay, child))
    if submission:
        handler = SmtpHandler(SubmissionSink(), relay=False)
        submission_tls = TlsMaterial(settings.EGIDE_SMTP_CERT_FILE, settings.EGIDE_SMTP_KEY_FILE)
        sub = SmtpController(
            handler,
            hostname=host,
            port=submission,
            server_hostname=settings.EGIDE_SMTP_HOSTNAME,
            tls_context=submission_tls.context(),
            reuse_port=reuse_port,
            loop=new_event_loop(uvloop_loop=settings.EGIDE_SMTP_UVLOOP),
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=handler.authenticate,
            auth_exclude_mechanism=["LOGIN"],
            data_size_limit=limit,
            enable_SMTPUTF8=True,
        )
        sub.tls_source = submission_tls.context
        sub.start()
        listeners.append(Listener("submission", host, sub.port, sub))
    for listener in listeners:
        log.info("SMTP %s listening on %s:%s", listener.name, listener.host, listener.port)
    return listeners
