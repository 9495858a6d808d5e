"""The IMAP adapter alone (no Django): a small in-memory `MailStore`, real sockets, imaplib.

The dialogue follows what Thunderbird sends: a header-only listing with sizes, a body fetch,
UID STORE, UID COPY, UID EXPUNGE and NOOP to learn about changes made elsewhere.
"""

from __future__ import annotations

import functools
import imaplib
import socket
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from egide.crypto import x509
from egide.messaging.imap_mailbox import Entry, FolderView
from egide.messaging.imap_server import ImapServer
from egide.messaging.smtp_server import server_tls_context

RAW = (
    b"From: Dr Durand <dr.durand@medecin.mssante.test>\r\n"
    b"To: claire.martin@tilleuls.egide.test\r\n"
    b"Subject: Compte rendu\r\n"
    b"Message-ID: <cr-1@medecin.mssante.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Intervention sans complication.\r\n"
)


@dataclass
class Stored:
    uid: int
    flags: set[str] = field(default_factory=set)
    raw: bytes = RAW


@dataclass
class DictStore:
    """A MailStore over dictionaries: one account, «alice», password «sesame»."""

    folders_: dict[str, list[Stored]] = field(
        default_factory=lambda: {"INBOX": [Stored(1), Stored(2)], "Archives": []}
    )
    next_uid: dict[str, int] = field(default_factory=lambda: {"INBOX": 3, "Archives": 1})
    reads: list[tuple[str, int]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    flag_writes: list[dict[int, frozenset[str]]] = field(default_factory=list)

    def authenticate(self, ip: str, login: str, password: str) -> Any:
        self.logins.append((ip, login))
        return "alice" if (login, password) == ("alice", "sesame") else None

    def authenticate_bearer(self, ip: str, login: str, token: str) -> Any:
        self.logins.append((ip, login))
        return "alice" if (login, token) == ("alice", "jwt-of-alice") else None

    def folders(self, account: Any) -> dict[str, str]:
        return {name: "Trash" if name == "Archives" else "" for name in self.folders_}

    def view(self, account: Any, folder: str) -> FolderView:
        entries = tuple(
            Entry(m.uid, frozenset(m.flags), datetime(2026, 11, 2, tzinfo=UTC))
            for m in self.folders_[folder]
        )
        return FolderView(7, self.next_uid[folder], entries)

    def _find(self, folder: str, uid: int) -> Stored | None:
        return next((m for m in self.folders_[folder] if m.uid == uid), None)

    def content(self, account: Any, folder: str, uid: int, *, reading: bool) -> bytes | None:
        if reading:
            self.reads.append((folder, uid))
        found = self._find(folder, uid)
        return found.raw if found else None

    def set_flags(
        self, account: Any, folder: str, changes: Mapping[int, frozenset[str]]
    ) -> dict[int, frozenset[str] | None]:
        self.flag_writes.append(dict(changes))
        kept: dict[int, frozenset[str] | None] = {}
        for uid, flags in changes.items():
            found = self._find(folder, uid)
            if found is not None:
                found.flags = set(flags)
            kept[uid] = flags if found is not None else None
        return kept

    def transfer(
        self, account: Any, folder: str, uid: int, destination: str, *, move: bool
    ) -> int | None:
        found = self._find(folder, uid)
        if found is None:
            return None
        new_uid = self.next_uid[destination]
        self.next_uid[destination] += 1
        self.folders_[destination].append(Stored(new_uid, set(found.flags), found.raw))
        if move:
            self.folders_[folder].remove(found)
        return new_uid

    def expunge(self, account: Any, folder: str, uids: list[int]) -> None:
        self.folders_[folder] = [m for m in self.folders_[folder] if m.uid not in uids]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    directory = tmp_path_factory.mktemp("imap-pki")
    root = x509.create_ca("Test root", key_type="rsa2048")
    server = x509.issue_server_certificate(root, "localhost")
    (directory / "root.crt").write_bytes(x509.certificate_pem(root.certificate))
    (directory / "server.crt").write_bytes(x509.certificate_pem(server.certificate))
    (directory / "server.key").write_bytes(x509.private_key_pem(server.private_key))
    return directory / "root.crt", directory / "server.crt", directory / "server.key"


@pytest.fixture
def store() -> DictStore:
    return DictStore()


@pytest.fixture
def server(store: DictStore, tls_files: tuple[Path, Path, Path]) -> Iterator[ImapServer]:
    _, cert, key = tls_files
    imap = ImapServer(store, server_tls_context(str(cert), str(key)))
    imap.start("127.0.0.1", tls_port=_free(), starttls_port=_free())
    yield imap
    imap.stop()


def _constant(answer: bytes, challenge: bytes) -> bytes:
    return answer


def _free() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def client(server: ImapServer, tls_files: tuple[Path, Path, Path]) -> Iterator[imaplib.IMAP4_SSL]:
    context = ssl.create_default_context(cafile=str(tls_files[0]))
    imap = imaplib.IMAP4_SSL("localhost", server.ports["tls"], ssl_context=context, timeout=10)
    yield imap
    imap.shutdown()


def test_implicit_tls_offers_plain_and_login_but_no_starttls_idle_or_clear_secrets(
    client: imaplib.IMAP4_SSL,
) -> None:
    capabilities = set(client.capabilities)
    assert {"IMAP4REV1", "AUTH=PLAIN", "AUTH=LOGIN", "AUTH=XOAUTH2"} <= capabilities
    assert not capabilities & {"STARTTLS", "LOGINDISABLED", "IDLE", "AUTH=CRAM-MD5"}


def test_xoauth2_takes_an_access_token_and_refuses_a_wrong_one(
    server: ImapServer, tls_files: tuple[Path, Path, Path], store: DictStore
) -> None:
    context = ssl.create_default_context(cafile=str(tls_files[0]))
    for token, expected in (("forged", "NO"), ("jwt-of-alice", "OK")):
        imap = imaplib.IMAP4_SSL("localhost", server.ports["tls"], ssl_context=context, timeout=10)
        answer = f"user=alice\x01auth=Bearer {token}\x01\x01".encode()
        try:
            typ, _ = imap.authenticate("XOAUTH2", functools.partial(_constant, answer))
        except imaplib.IMAP4.error:
            typ = "NO"
        assert typ == expected
        imap.shutdown()
    assert store.logins == [("127.0.0.1", "alice")] * 2


def test_a_header_listing_is_not_a_read_and_a_body_fetch_is(
    client: imaplib.IMAP4_SSL, store: DictStore
) -> None:
    client.login("alice", "sesame")
    assert client.select("INBOX") == ("OK", [b"2"])
    typ, data = client.uid(
        "FETCH", "1:*", "(UID RFC822.SIZE FLAGS BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT)])"
    )
    assert typ == "OK"
    headers = [item[1] for item in data if isinstance(item, tuple)]
    assert headers == [b"Subject: Compte rendu\r\n\r\n"] * 2
    assert store.reads == []
    typ, data = client.uid("FETCH", "2", "(BODY.PEEK[TEXT])")
    assert b"Intervention sans complication." in data[0][1]
    assert store.reads == [("INBOX", 2)]
    assert store.folders_["INBOX"][1].flags == set(), "PEEK leaves \\Seen alone"
    client.uid("FETCH", "2", "(BODY[])")
    assert store.folders_["INBOX"][1].flags == {"\\Seen"}


def test_thunderbirds_chunked_body_fetch_is_served_and_counts_as_a_read(
    client: imaplib.IMAP4_SSL, store: DictStore
) -> None:
    client.login("alice", "sesame")
    client.select("INBOX")
    typ, data = client.uid("FETCH", "1", "(UID RFC822.SIZE BODY.PEEK[]<0.20>)")
    assert typ == "OK" and isinstance(data[0], tuple)
    assert data[0][1] == RAW[:20]
    assert store.reads == [("INBOX", 1)]


def test_uid_store_copy_and_expunge_as_thunderbird_sends_them(
    client: imaplib.IMAP4_SSL, store: DictStore
) -> None:
    client.login("alice", "sesame")
    client.select("INBOX")
    assert client.uid("STORE", "1", "+FLAGS", "(\\Flagged \\Answered)")[0] == "OK"
    assert store.folders_["INBOX"][0].flags == {"\\Flagged"}, "only permanent flags are kept"
    assert client.uid("COPY", "1", "Archives")[0] == "OK"
    client.uid("STORE", "1", "+FLAGS", "(\\Deleted)")
    assert client.uid("EXPUNGE", "1")[0] == "OK"
    assert [m.uid for m in store.folders_["INBOX"]] == [2]
    assert [m.uid for m in store.folders_["Archives"]] == [1]
    assert client.uid("MOVE", "2", "Archives")[0] == "OK"
    assert store.folders_["INBOX"] == []


def test_a_store_over_many_messages_is_written_once_and_answered_with_the_new_flags(
    client: imaplib.IMAP4_SSL, store: DictStore
) -> None:
    client.login("alice", "sesame")
    client.select("INBOX")
    typ, data = client.uid("STORE", "1:*", "+FLAGS", "(\\Seen)")
    assert typ == "OK"
    assert sorted(data) == [b"1 (FLAGS (\\Seen) UID 1)", b"2 (FLAGS (\\Seen) UID 2)"]
    assert store.flag_writes == [{1: frozenset({"\\Seen"}), 2: frozenset({"\\Seen"})}]
    client.uid("STORE", "1:*", "+FLAGS", "(\\Seen)")
    assert len(store.flag_writes) == 1, "flags that do not change are not written again"
    assert all(m.flags == {"\\Seen"} for m in store.folders_["INBOX"])


def test_a_store_on_a_message_deleted_elsewhere_reports_it_expunged(
    client: imaplib.IMAP4_SSL, store: DictStore
) -> None:
    client.login("alice", "sesame")
    client.select("INBOX")
    store.folders_["INBOX"].pop(0)  # deleted in the web inbox meanwhile
    assert client.uid("STORE", "1:*", "+FLAGS", "(\\Flagged)")[0] == "OK"
    assert client.response("EXPUNGE")[1] == [b"1"]
    assert store.folders_["INBOX"][0].flags == {"\\Flagged"}
    assert client.select("INBOX")[1] == [b"1"]


def test_changes_made_elsewhere_reach_the_client_at_noop(
    client: imaplib.IMAP4_SSL, store: DictStore
) -> None:
    client.login("alice", "sesame")
    client.select("INBOX")
    store.folders_["INBOX"].pop(0)  # deleted in the web inbox
    store.folders_["INBOX"][0].flags.add("\\Seen")  # read in the web inbox
    client.noop()
    assert client.response("EXPUNGE")[1] == [b"1"]
    assert client.response("FETCH")[1] == [b"1 (FLAGS (\\Seen))"]


def test_fetching_a_message_deleted_elsewhere_serves_nothing_and_reports_it_expunged(
    client: imaplib.IMAP4_SSL, store: DictStore
) -> None:
    client.login("alice", "sesame")
    client.select("INBOX")
    store.folders_["INBOX"].pop(0)  # deleted in the web inbox since the client's last command
    typ, data = client.uid("FETCH", "1", "(BODY.PEEK[])")
    assert typ == "OK"
    assert all(RAW not in (part[1] if isinstance(part, tuple) else part) for part in data)
    assert client.response("EXPUNGE")[1] == [b"1"]


def test_folders_are_listed_with_their_special_use(client: imaplib.IMAP4_SSL) -> None:
    client.login("alice", "sesame")
    typ, data = client.list()
    assert typ == "OK"
    assert [line for line in data if isinstance(line, bytes) and b"Archives" in line] == [
        b'(\\HasNoChildren \\Trash) "/" Archives'
    ]


def test_a_folder_that_disappears_while_selected_is_answered_no_and_the_session_goes_on(
    client: imaplib.IMAP4_SSL, store: DictStore
) -> None:
    client.login("alice", "sesame")
    assert client.select("Archives")[0] == "OK"
    del store.folders_["Archives"]  # e.g. the delegation was withdrawn
    typ, data = client.noop()
    assert typ == "NO" and b"NONEXISTENT" in data[0]
    assert client.select("INBOX") == ("OK", [b"2"])


def test_wrong_passwords_unknown_folders_and_append_are_refused(
    client: imaplib.IMAP4_SSL, store: DictStore
) -> None:
    with pytest.raises(imaplib.IMAP4.error, match=r"AUTHENTICATIONFAILED|nvalid"):
        client.login("alice", "wrong")
    assert store.logins == [("127.0.0.1", "alice")]
    client.login("alice", "sesame")
    assert client.select("Patients")[0] == "NO"
    assert client.create("Patients")[0] == "NO"
    assert client.append("INBOX", "", "", RAW)[0] == "NO"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00garbage",
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n",
        b"Subject: =?utf-8?b?###?=\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!",
        b"\xff\xfe: \xff\r\n\r\n\xff",
        b"Content-Type: message/rfc822\r\n\r\n" * 3000 + b"x",
        b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n" * 3000,
    ],
    ids=["empty", "nul", "no-boundary", "bad-encodings", "not-utf8", "nested-3000", "parts-3000"],
)
def test_malformed_messages_are_served_without_breaking_the_connection(
    client: imaplib.IMAP4_SSL, store: DictStore, raw: bytes
) -> None:
    store.folders_["INBOX"][0].raw = raw
    client.login("alice", "sesame")
    client.select("INBOX")
    typ, _ = client.fetch("1", "(ENVELOPE BODYSTRUCTURE RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK"
    _, data = client.fetch("2", "(BODY.PEEK[TEXT])")
    assert data[0] == (b"2 (BODY[TEXT] {33}", b"Intervention sans complication.\r\n")


def test_a_mime_bomb_is_replaced_by_a_notice_pointing_to_the_console(
    client: imaplib.IMAP4_SSL, store: DictStore
) -> None:
    store.folders_["INBOX"][0].raw = b"Content-Type: message/rfc822\r\n\r\n" * 3000 + b"x"
    client.login("alice", "sesame")
    client.select("INBOX")
    _, data = client.fetch("1", "(BODY.PEEK[])")
    assert isinstance(data[0], tuple)
    assert "ouvrez-le dans la console Égide" in data[0][1].decode()


def test_a_silent_client_is_logged_out(
    store: DictStore, tls_files: tuple[Path, Path, Path]
) -> None:
    _, cert, key = tls_files
    imap = ImapServer(store, server_tls_context(str(cert), str(key)), idle_timeout=0.2)
    imap.start("127.0.0.1", tls_port=0, starttls_port=_free())
    try:
        with socket.create_connection(("127.0.0.1", imap.ports["starttls"]), timeout=10) as sock:
            greeting = sock.recv(1000)
            assert greeting.startswith(b"* OK")
            assert sock.recv(1000) == b"", "the server closed the connection"
    finally:
        imap.stop()


def test_the_starttls_port_refuses_any_login_before_tls(
    server: ImapServer, tls_files: tuple[Path, Path, Path], store: DictStore
) -> None:
    imap = imaplib.IMAP4("127.0.0.1", server.ports["starttls"], timeout=10)
    try:
        assert "LOGINDISABLED" in imap.capabilities
        with pytest.raises(imaplib.IMAP4.error):
            imap.login("alice", "sesame")
        typ, _ = imap._simple_command("AUTHENTICATE", "PLAIN")
        assert typ == "NO"
        assert store.logins == [], "the secret never reached the store in clear"
    finally:
        imap.shutdown()
