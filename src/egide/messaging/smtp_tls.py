"""The listeners' TLS material, reloaded when its files change (renewed CRLs, anchors)."""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Sequence
from pathlib import Path

from .smtp_server import server_tls_context

__all__ = ["TlsMaterial"]

log = logging.getLogger(__name__)


class TlsMaterial:
    """A server TLS context rebuilt whenever one of its files changes (renewed CRLs or anchors).

    The listeners ask for the context at each new connection (`SmtpController.tls_source`); the
    files are only stat'ed then. IGC-Santé publishes CRLs, and the job that downloads them just
    replaces the files: the next handshake already uses the new list, without a restart. If the
    new files cannot be loaded (a half-written CRL), the previous context stays in use.
    """

    def __init__(
        self,
        cert_file: str,
        key_file: str,
        *,
        client_ca_file: str | None = None,
        crl_files: Sequence[str] = (),
    ) -> None:
        self.cert_file, self.key_file = cert_file, key_file
        self.client_ca_file, self.crl_files = client_ca_file, tuple(crl_files)
        self._lock = threading.Lock()
        self._stamp = self._stamps()
        self._context = self._build()

    def _files(self) -> list[str]:
        anchors = [self.client_ca_file] if self.client_ca_file else []
        return [self.cert_file, self.key_file, *anchors, *self.crl_files]

    def _stamps(self) -> tuple[tuple[int, int], ...]:
        stamps = []
        for name in self._files():
            try:
                status = Path(name).stat()
            except OSError:
                stamps.append((0, 0))
            else:
                stamps.append((status.st_mtime_ns, status.st_size))
        return tuple(stamps)

    def _build(self) -> ssl.SSLContext:
        return server_tls_context(
            self.cert_file,
            self.key_file,
            client_ca_file=self.client_ca_file,
            crl_files=self.crl_files,
        )

    def context(self) -> ssl.SSLContext:
        """The context for a new connection, rebuilt first if a file changed since last time."""
        stamp = self._stamps()
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._context = self._build()
                except (OSError, ssl.SSLError):
                    log.exception("renewed TLS material unusable, keeping the previous one")
                else:
                    log.info("TLS material reloaded (certificate, anchors or CRLs changed)")
                self._stamp = stamp
            return self._context
