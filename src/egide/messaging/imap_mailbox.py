"""The pymap backend of our IMAP server: folders and messages read from a `MailStore`.

pymap (`pymap.backend.session.BaseSession`) implements the IMAP4rev1 semantics — sequence
numbers, FETCH items, ENVELOPE and BODYSTRUCTURE from the MIME parse, SEARCH, STORE, COPY, MOVE,
EXPUNGE, untagged updates. What is left to a backend is where the folders and messages live;
here that is a `MailStore`, plain synchronous functions that the console implements over its
database and its encrypted blobs. They run in a thread pool, never on the event loop (Django's
ORM must not). Every command ends with one read of the selected folder (pymap's refresh before
it answers), which reports what changed in the web inbox meanwhile; the flag changes of a
command are written in one commit just before that read.

Flags: only `\\Seen`, `\\Flagged` and `\\Deleted` are permanent (the store keeps them); `\\Recent`
is not tracked.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Protocol, TypeVar

from pymap.backend.mailbox import MailboxDataInterface, MailboxSetInterface
from pymap.concurrent import Event
from pymap.context import current_command
from pymap.exceptions import MailboxNotFound, NotAllowedError
from pymap.flags import FlagOp
from pymap.interfaces.message import CachedMessage
from pymap.listtree import ListTree
from pymap.mailbox import MailboxSnapshot
from pymap.message import BaseLoadedMessage, BaseMessage
from pymap.mime import MessageContent
from pymap.parsing.command.select import FetchCommand
from pymap.parsing.message import AppendMessage
from pymap.parsing.specials import FetchRequirement, ObjectId
from pymap.parsing.specials.flag import Deleted, Flag, Flagged, Seen
from pymap.selected import SelectedMailbox, SelectedSet

__all__ = ["DELIMITER", "PERMANENT_FLAGS", "Entry", "FolderView", "MailStore"]

DELIMITER = "/"
PERMANENT_FLAGS = frozenset({Seen, Flagged, Deleted})
# Decrypted messages kept per connection: a client fetches BODYSTRUCTURE then the parts of the
# same message, which must not decrypt it each time; a few are enough, and memory stays bounded.
CONTENT_CACHE = 8
_T = TypeVar("_T")
UNREADABLE = (
    b"Subject: Message illisible par IMAP\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    + "Ce message est trop imbriqué pour être affiché ici : "
    "ouvrez-le dans la console Égide.\r\n".encode()
)
_TEXT_ITEMS = (b"BODY", b"BODY.PEEK", b"BINARY", b"BINARY.PEEK")
_HEADER_SECTIONS = (b"HEADER", b"HEADER.FIELDS", b"HEADER.FIELDS.NOT", b"MIME")


def sends_text() -> bool:
    """Whether the command being answered returns message text: that is a read, audited.

    Sizes, structure and headers (a client's message list, like the web inbox's list) are
    not; SEARCH reads the text on the server but returns none of it.
    """
    command = current_command.get(None)
    if not isinstance(command, FetchCommand):
        return False
    for attribute in command.attributes:
        if attribute.value in (b"RFC822", b"RFC822.TEXT"):
            return True
        section = attribute.section
        if (
            attribute.value in _TEXT_ITEMS
            and section is not None
            and section.specifier not in _HEADER_SECTIONS
        ):
            return True
    return False


@dataclass(frozen=True)
class Entry:
    """One message of a folder as IMAP sees it: its UID, flags and arrival date."""

    uid: int
    flags: frozenset[str]  # among "\\Seen", "\\Flagged", "\\Deleted"
    received_at: datetime


@dataclass(frozen=True)
class FolderView:
    uid_validity: int
    uid_next: int
    entries: tuple[Entry, ...]  # ordered by UID


class MailStore(Protocol):
    """The business side of the IMAP server (the console implements it over the database).

    `account` is what `authenticate` returned; every other call checks the folder against it.
    An unknown or forbidden folder raises `KeyError` (one answer for both: nothing to probe).
    """

    def authenticate(self, ip: str, login: str, password: str) -> Any: ...

    def authenticate_bearer(self, ip: str, login: str, token: str) -> Any:
        """SASL XOAUTH2: an OIDC access token instead of a password."""
        ...

    def folders(self, account: Any) -> dict[str, str]:
        """Folder names and their RFC 6154 special use ("Sent", "Trash" or "")."""
        ...

    def view(self, account: Any, folder: str) -> FolderView: ...

    def content(self, account: Any, folder: str, uid: int, *, reading: bool) -> bytes | None: ...

    def set_flags(
        self, account: Any, folder: str, changes: Mapping[int, frozenset[str]]
    ) -> dict[int, frozenset[str] | None]:
        """Give messages these flags, all in one commit; None for a message no longer there."""
        ...

    def transfer(
        self, account: Any, folder: str, uid: int, destination: str, *, move: bool
    ) -> int | None: ...

    def expunge(self, account: Any, folder: str, uids: list[int]) -> None: ...


class Backend:
    """The store, the account of one connection and the thread pool its calls run in."""

    def __init__(self, store: MailStore, account: Any, pool: ThreadPoolExecutor) -> None:
        self.store = store
        self.account = account
        self.pool = pool
        self.contents: OrderedDict[tuple[str, int], tuple[bytes | None, bool]] = OrderedDict()

    async def call(self, function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Run a store call in the pool; a folder gone meanwhile (a delegation withdrawn while
        it is selected) is a NO [NONEXISTENT] answer, not the end of the connection."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.pool, lambda: function(*args, **kwargs))
        except KeyError as error:
            raise MailboxNotFound(str(error.args[0]) if error.args else "") from None

    async def content(self, folder: str, uid: int, *, reading: bool) -> bytes | None:
        """Decrypted bytes, from the per-connection cache when possible; a read is audited once."""
        key = (folder, uid)
        cached = self.contents.get(key)
        if cached is not None and (cached[1] or not reading):
            self.contents.move_to_end(key)
            return cached[0]
        raw = await self.call(self.store.content, self.account, folder, uid, reading=reading)
        self.contents[key] = (raw, reading or (cached is not None and cached[1]))
        while len(self.contents) > CONTENT_CACHE:
            self.contents.popitem(last=False)
        return raw


class StoredMessage(BaseMessage):
    """A message of a folder; its content is fetched (decrypted) only when a command needs it."""

    __slots__ = ["_backend", "_folder"]

    def __init__(
        self,
        uid: int,
        internal_date: datetime,
        permanent_flags: Iterable[Flag],
        *,
        backend: Backend,
        folder: str,
        expunged: bool = False,
    ) -> None:
        super().__init__(uid, internal_date, permanent_flags, expunged=expunged)
        self._backend = backend
        self._folder = folder

    def gone(self) -> StoredMessage:
        return StoredMessage(
            self.uid,
            self.internal_date,
            self.permanent_flags,
            backend=self._backend,
            folder=self._folder,
            expunged=True,
        )

    async def load_content(self, requirement: FetchRequirement) -> BaseLoadedMessage:
        if self.expunged or requirement.has_none(FetchRequirement.CONTENT):
            return BaseLoadedMessage(self, requirement, None)
        raw = await self._backend.content(self._folder, self.uid, reading=sends_text())
        if raw is None:
            return BaseLoadedMessage(self, requirement, None)
        try:
            content = MessageContent.parse(raw)
        except (RecursionError, ValueError, LookupError):
            # A MIME bomb (thousands of nested parts) must not end the client's connection at
            # every synchronisation: it gets a short notice instead, the original stays stored.
            content = MessageContent.parse(UNREADABLE)
        return BaseLoadedMessage(self, requirement, content)


@cache
def _flags(names: frozenset[str]) -> frozenset[Flag]:
    return frozenset(Flag(name.encode("ascii")) for name in names) & PERMANENT_FLAGS


def _names(flags: Iterable[Flag]) -> frozenset[str]:
    return frozenset(bytes(flag).decode("ascii") for flag in flags if flag in PERMANENT_FLAGS)


class StoredFolder(MailboxDataInterface[StoredMessage]):
    """One folder of the store; every state read goes back to the store."""

    def __init__(self, backend: Backend, name: str, view: FolderView) -> None:
        self._backend = backend
        self._name = name
        self._view = view
        self._messages: dict[int, StoredMessage] = {}
        # Flag changes of the command being answered: a STORE over hundreds of messages is
        # written in one commit when the command ends (pymap refreshes the folder then, before
        # answering), not one commit and one thread hop per message.
        self._pending: dict[int, frozenset[str]] = {}
        self._mailbox_id = ObjectId.random_mailbox_id()
        self._selected_set = SelectedSet()
        self._remember(view)

    def _remember(self, view: FolderView) -> None:
        # Keep the message objects whose flags did not change: a refresh runs after every
        # command, and rebuilding hundreds of them each time made reading a folder quadratic.
        known = self._messages
        self._view = view
        messages = {}
        for entry in view.entries:
            flags = _flags(entry.flags)
            message = known.get(entry.uid)
            if message is None or message.permanent_flags != flags:
                message = StoredMessage(
                    entry.uid, entry.received_at, flags, backend=self._backend, folder=self._name
                )
            messages[entry.uid] = message
        self._messages = messages

    async def refresh(self) -> None:
        self._remember(await self._backend.call(self._write_then_view))

    def _write_then_view(self) -> FolderView:
        """In the pool: the pending flag changes, then the folder as it now is (one hop)."""
        self._write_pending()
        backend = self._backend
        return backend.store.view(backend.account, self._name)

    def _write_pending(self) -> None:
        pending, self._pending = self._pending, {}
        if pending:
            backend = self._backend
            backend.store.set_flags(backend.account, self._name, pending)

    async def flush(self) -> None:
        """Write the pending flag changes now (before a command that reads them back)."""
        if self._pending:
            await self._backend.call(self._write_pending)

    @property
    def mailbox_id(self) -> ObjectId:
        return self._mailbox_id

    @property
    def readonly(self) -> bool:
        return False

    @property
    def uid_validity(self) -> int:
        return self._view.uid_validity

    @property
    def permanent_flags(self) -> frozenset[Flag]:
        return PERMANENT_FLAGS

    @property
    def selected_set(self) -> SelectedSet:
        return self._selected_set

    async def update_selected(
        self, selected: SelectedMailbox, *, wait_on: Event | None = None
    ) -> SelectedMailbox:
        await self.refresh()
        selected.set_messages(list(self._messages.values()))
        return selected

    async def append(self, append_msg: AppendMessage, *, recent: bool = False) -> StoredMessage:
        # The «Envoyés» copy is kept by the submission itself: an APPEND would duplicate it.
        raise NotAllowedError(
            "APPEND refused: Egide keeps the Sent copy itself; disable 'place a copy in Sent'."
        )

    async def copy(
        self, uid: int, destination: StoredFolder, *, recent: bool = False
    ) -> int | None:
        return await self._transfer(uid, destination, move=False)

    async def move(
        self, uid: int, destination: StoredFolder, *, recent: bool = False
    ) -> int | None:
        return await self._transfer(uid, destination, move=True)

    async def _transfer(self, uid: int, destination: StoredFolder, *, move: bool) -> int | None:
        await self.flush()
        backend = self._backend
        new_uid = await backend.call(
            backend.store.transfer, backend.account, self._name, uid, destination._name, move=move
        )
        await destination.refresh()
        return new_uid

    async def get(self, uid: int, cached_msg: CachedMessage) -> StoredMessage:
        message = self._messages.get(uid)
        if message is not None:
            return message
        if not isinstance(cached_msg, StoredMessage):
            raise TypeError(cached_msg)
        return cached_msg.gone()

    async def update(
        self, uid: int, cached_msg: CachedMessage, flag_set: frozenset[Flag], mode: FlagOp
    ) -> StoredMessage:
        message = await self.get(uid, cached_msg)
        if message.expunged:
            return message
        wanted = mode.apply(message.permanent_flags, flag_set) & PERMANENT_FLAGS
        if wanted != message.permanent_flags:
            # Written at the command's end (`refresh`); a message deleted meanwhile elsewhere
            # is then reported expunged by that same refresh.
            self._pending[uid] = _names(wanted)
            message.permanent_flags = frozenset(wanted)
        return message

    async def delete(self, uids: Iterable[int]) -> None:
        await self.flush()
        backend = self._backend
        await backend.call(backend.store.expunge, backend.account, self._name, list(uids))

    async def claim_recent(self, selected: SelectedMailbox) -> None:
        return None

    async def cleanup(self) -> None:
        return None

    async def snapshot(self) -> MailboxSnapshot:
        await self.refresh()
        unseen = [
            position
            for position, entry in enumerate(self._view.entries, start=1)
            if "\\Seen" not in entry.flags
        ]
        return MailboxSnapshot(
            self._mailbox_id,
            self.readonly,
            self._view.uid_validity,
            self.permanent_flags,
            self.session_flags,
            len(self._view.entries),
            0,
            len(unseen),
            unseen[0] if unseen else None,
            self._view.uid_next,
        )

    async def messages(self) -> AsyncIterator[StoredMessage]:
        for message in list(self._messages.values()):
            yield message


class StoredFolders(MailboxSetInterface[StoredFolder]):
    """The folder tree of one connection; folders are the store's, never created by a client."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._open: dict[str, StoredFolder] = {}

    @property
    def delimiter(self) -> str:
        return DELIMITER

    async def _names(self) -> Sequence[str]:
        return list(await self.special_uses())

    async def special_uses(self) -> dict[str, str]:
        backend = self._backend
        return await backend.call(backend.store.folders, backend.account)

    async def set_subscribed(self, name: str, subscribed: bool) -> None:
        return None

    async def list_subscribed(self) -> ListTree:
        return await self.list_mailboxes()

    async def list_mailboxes(self) -> ListTree:
        return ListTree(DELIMITER).update("INBOX", *await self._names())

    async def get_mailbox(self, name: str) -> StoredFolder:
        if name.upper() == "INBOX":
            name = "INBOX"
        folder = self._open.get(name)
        if folder is not None:
            # pymap asks for the selected folder at the start of every command, then refreshes
            # it before answering (`update_selected`, `snapshot`): that refresh re-reads the
            # folder and the user's rights, so reading it here too would only double the cost.
            return folder
        backend = self._backend
        view = await backend.call(backend.store.view, backend.account, name)  # KeyError if none
        folder = self._open[name] = StoredFolder(backend, name, view)
        return folder

    async def add_mailbox(self, name: str) -> ObjectId:
        raise NotAllowedError("Folders are fixed: Inbox, Sent, Trash and To review.")

    async def delete_mailbox(self, name: str) -> None:
        raise NotAllowedError("Folders are fixed: Inbox, Sent, Trash and To review.")

    async def rename_mailbox(self, before: str, after: str) -> None:
        raise NotAllowedError("Folders are fixed: Inbox, Sent, Trash and To review.")
