"""IMAP4rev1 for mail clients and practice software, as a thin adapter over pymap.

pymap parses and answers the protocol; `imap_mailbox` maps its backend API onto a `MailStore`
(the console's database and encrypted blobs). What is decided here, because it is protocol
and not business:
- TLS only: the implicit-TLS port (993-style) starts with the handshake; the STARTTLS port
  announces LOGINDISABLED and offers no SASL mechanism until STARTTLS (pymap would otherwise
  allow a clear-text LOGIN from localhost); TLS ≥ 1.2 from `smtp_server.server_tls_context`;
- authentication is SASL PLAIN or LOGIN (or the LOGIN command) with the application token, or
  XOAUTH2 with an OIDC access token, checked by the store, which applies the same checks,
  lock-out and audit as SMTP submission;
- no IDLE, no APPEND, no folder creation: the folders are the store's.

The server runs its own event loop in a daemon thread, beside the console in `egide serve`
or alone in `egide imap serve`; store calls run in a thread pool.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from argparse import Namespace
from collections.abc import AsyncIterator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager, closing
from datetime import datetime
from typing import Any

from proxyprotocol.sock import SocketInfo
from pymap.backend.session import BaseSession
from pymap.config import BackendCapability, IMAPConfig
from pymap.context import connection_exit, socket_info
from pymap.exceptions import AuthorizationFailure, InvalidAuth, NotSupportedError
from pymap.imap import IMAPConnection
from pymap.imap.state import ConnectionState
from pymap.interfaces.login import IdentityInterface, LoginInterface
from pymap.parsing.response import CommandResponse, ResponseOk
from pymap.selected import SelectedMailbox
from pymap.token import AllTokens
from pymap.user import UserMetadata
from pysasl import SASLAuth
from pysasl.creds.external import ExternalCredentials, ExternalVerificationRequired
from pysasl.creds.server import ServerCredentials

from .imap_mailbox import Backend, MailStore, StoredFolders, StoredMessage

__all__ = ["ImapServer", "MailStore"]

log = logging.getLogger(__name__)
GREETING = b"Egide IMAP4rev1 ready"
AUTOLOGOUT = 30 * 60  # seconds without a command before the server hangs up (RFC 3501 5.4)


class _Config(IMAPConfig):
    """pymap's settings for our server: TLS context given, PLAIN/LOGIN only, no IDLE."""

    def __init__(self, tls_context: ssl.SSLContext) -> None:
        super().__init__(
            Namespace(passlib_cfg=None, proxy_protocol=None),
            host=None,
            port=0,
            ssl_context=tls_context,
            tls_enabled=True,
            reject_dnsbl=False,
            disable_idle=True,
            max_append_len=None,
        )

    @property
    def backend_capability(self) -> BackendCapability:
        return BackendCapability(idle=False, object_id=False, multi_append=False)

    @property
    def tls_auth(self) -> SASLAuth:
        # CRAM-MD5 and the like need the clear secret on the server: PLAIN and LOGIN for the
        # application token, XOAUTH2 for an OIDC access token (as submission).
        return SASLAuth.named([b"PLAIN", b"LOGIN", b"XOAUTH2"])

    @property
    def greeting(self) -> bytes:
        return GREETING


class _Secret:
    """A pysasl identity whose secret check is the store's `authenticate` (run in the pool)."""

    def __init__(self, store: MailStore, ip: str, login: str) -> None:
        self.store = store
        self.ip = ip
        self.login = login
        self.account: Any = None

    @property
    def authcid(self) -> str:
        return self.login

    def compare_authcid(self, authcid: str) -> bool:
        return authcid == self.login

    def compare_secret(self, secret: str) -> bool:
        self.account = self.store.authenticate(self.ip, self.login, secret)
        return self.account is not None

    def get_clear_secret(self) -> str | None:
        return None


class _Session(BaseSession[StoredMessage]):
    def __init__(self, owner: str, config: IMAPConfig, folders: StoredFolders) -> None:
        super().__init__(owner)
        self._config = config
        self._folders = folders

    @property
    def config(self) -> IMAPConfig:
        return self._config

    @property
    def mailbox_set(self) -> StoredFolders:
        return self._folders

    async def list_mailboxes(
        self,
        ref_name: str,
        filter_: str,
        subscribed: bool = False,
        selected: SelectedMailbox | None = None,
    ) -> tuple[Iterable[tuple[str, str | None, Sequence[bytes]]], SelectedMailbox | None]:
        """pymap's LIST, plus the RFC 6154 attributes (\\Sent, \\Trash) in every answer.

        Mail clients find «Envoyés» and «Corbeille» by these attributes; without them
        Thunderbird would try to create its own «Trash», which the store refuses.
        """
        listed, updates = await super().list_mailboxes(ref_name, filter_, subscribed, selected)
        uses = await self._folders.special_uses()
        return [
            (name, delimiter, [*attributes, *([uses[name].encode()] if uses.get(name) else [])])
            for name, delimiter, attributes in listed
        ], updates


class _Identity(IdentityInterface):
    def __init__(self, name: str, backend: Backend, config: IMAPConfig) -> None:
        self._name = name
        self._backend = backend
        self._config = config

    @property
    def name(self) -> str:
        return self._name

    @property
    def roles(self) -> frozenset[str]:
        return frozenset()

    @asynccontextmanager
    async def new_session(self) -> AsyncIterator[_Session]:
        yield _Session(self._name, self._config, StoredFolders(self._backend))

    async def new_token(self, *, expiration: datetime | None = None) -> str | None:
        return None

    async def get(self) -> UserMetadata:
        raise NotSupportedError("User metadata is managed in the Egide console.")

    async def set(self, metadata: UserMetadata) -> int | None:
        raise NotSupportedError("User metadata is managed in the Egide console.")

    async def delete(self) -> None:
        raise NotSupportedError("User metadata is managed in the Egide console.")


class _Login(LoginInterface):
    def __init__(self, store: MailStore, config: IMAPConfig, pool: ThreadPoolExecutor) -> None:
        self._store = store
        self._config = config
        self._pool = pool
        self._tokens = AllTokens(config)

    @property
    def tokens(self) -> AllTokens:
        return self._tokens

    async def authenticate(self, credentials: ServerCredentials) -> _Identity:
        ip = str(socket_info.get().peername_ip or "")
        loop = asyncio.get_running_loop()
        if isinstance(credentials, ExternalCredentials):  # XOAUTH2: user= and a bearer token
            try:
                credentials.verify(None)
            except ExternalVerificationRequired as required:
                token = required.token or ""
            login = credentials.authzid
            account = await loop.run_in_executor(
                self._pool, self._store.authenticate_bearer, ip, login, token
            )
        else:
            login = credentials.authcid
            secret = _Secret(self._store, ip, login)
            verified = await loop.run_in_executor(self._pool, credentials.verify, secret)
            account = secret.account if verified else None
        if account is None:
            raise InvalidAuth()
        return _Identity(login, Backend(self._store, account, self._pool), self._config)

    async def authorize(self, authenticated: IdentityInterface, authzid: str) -> IdentityInterface:
        if authzid != authenticated.name:  # no proxy authorisation: delegation is in the folders
            raise AuthorizationFailure()
        return authenticated


class _TlsFirstState(ConnectionState):
    """pymap's connection state, without its clear-text LOGIN from localhost."""

    def __init__(self, login: LoginInterface, config: IMAPConfig, *, tls: bool) -> None:
        super().__init__(login, config)
        if tls:  # implicit TLS: already encrypted, so no STARTTLS and the mechanisms at once
            self.auth = config.tls_auth
            self._capability.remove(b"STARTTLS")

    async def do_greeting(self) -> CommandResponse:
        return ResponseOk(b"*", self.config.greeting, self.capability)


class _Connection(IMAPConnection):
    """pymap's connection with the RFC 3501 autologout: a silent client is let go."""

    def __init__(self, *args: Any, idle_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.idle_timeout = idle_timeout

    async def readline(self) -> memoryview:
        try:
            return await asyncio.wait_for(super().readline(), self.idle_timeout)
        except TimeoutError:
            raise EOFError("autologout") from None


class ImapServer:
    """Both IMAP listeners (implicit TLS and STARTTLS) on one event loop in a daemon thread."""

    def __init__(
        self,
        store: MailStore,
        tls_context: ssl.SSLContext,
        *,
        workers: int = 4,
        idle_timeout: float = AUTOLOGOUT,
    ) -> None:
        self.store = store
        self.idle_timeout = idle_timeout
        self.tls_context = tls_context
        self.config = _Config(tls_context)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imap-store")
        self.login = _Login(store, self.config, self.pool)
        self.ports: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.AbstractServer] = []

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, tls: bool
    ) -> None:
        self.config.apply_context()
        info = SocketInfo.get(writer, None)
        connection = _Connection(
            self.config.commands, self.config, reader, writer, info, idle_timeout=self.idle_timeout
        )
        state = _TlsFirstState(self.login, self.config, tls=tls)
        try:
            async with AsyncExitStack() as stack:
                connection_exit.set(stack)
                stack.enter_context(closing(connection))
                await connection.run(state)
        except Exception:  # one broken connection must not take the listener down
            log.exception("IMAP connection from %s ended on an error", info.peername_str)

    async def _listen(self, host: str, tls_port: int, starttls_port: int) -> None:
        self.config.apply_context()
        if tls_port:
            server = await asyncio.start_server(
                lambda r, w: self._serve(r, w, tls=True), host, tls_port, ssl=self.tls_context
            )
            self._servers.append(server)
            self.ports["tls"] = server.sockets[0].getsockname()[1]
        if starttls_port:
            server = await asyncio.start_server(
                lambda r, w: self._serve(r, w, tls=False), host, starttls_port
            )
            self._servers.append(server)
            self.ports["starttls"] = server.sockets[0].getsockname()[1]

    def start(self, host: str, *, tls_port: int, starttls_port: int = 0) -> dict[str, int]:
        """Listen (port 0 = that listener off); return the ports bound; raise OSError if busy."""
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._listen(host, tls_port, starttls_port))
        except BaseException:
            for server in self._servers:
                server.close()
            loop.close()
            raise
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="imap", daemon=True)
        self._thread.start()
        return dict(self.ports)

    def stop(self) -> None:
        """Close the listeners and the connections, then let the pool's threads end."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def close() -> None:
            for server in self._servers:
                server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self.pool.shutdown(wait=True)
        self._loop = self._thread = None
