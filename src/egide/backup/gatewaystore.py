"""A repository behind Égide's append-only gateway (`/gateway/` of the console), over HTTPS.

The agent's side of `console/backups/gateway.py`: the `Storage` protocol as HTTP requests with
the agent's bearer token. The agent holds no bucket credentials; deletes and overwrites are
refused by the gateway (DeletionRefused), whatever this client does. Plain HTTP is accepted only
to a loopback address (tests, a console on the same machine).
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote, urlsplit

from .errors import DeletionRefused, ObjectMissing, StorageError, TransientStorageError
from .storage import ObjectInfo


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class GatewayStorage:
    """The `Storage` protocol over the gateway's HTTP API."""

    def __init__(
        self, url: str, token: str, ca_file: Path | None = None, timeout: float = 120.0
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"https", "http"} or not parts.hostname:
            raise StorageError(f"adresse de passerelle invalide : {url}")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise StorageError("la passerelle doit être jointe en HTTPS")
        self.url = url.rstrip("/") + "/"
        self._token = token
        self._timeout = timeout
        self._context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)

    def _call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> bytes:
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.url + path,
            data=body,
            method=method,
            headers={"Authorization": f"Bearer {self._token}", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=self._timeout, context=self._context
            ) as answer:
                return bytes(answer.read())
        except urllib.error.HTTPError as error:
            detail = error.read(300).decode("utf-8", "replace")
            if error.code == 404:
                raise ObjectMissing(f"{path} absent") from None
            if error.code in {403, 409}:
                raise DeletionRefused(f"{path} : refusé par la passerelle (ajout seul)") from None
            if error.code >= 500 or error.code == 429:
                raise TransientStorageError(f"{path} : HTTP {error.code}") from None
            raise StorageError(f"{path} : HTTP {error.code} {detail[:200]}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise TransientStorageError(f"passerelle injoignable : {error}") from None

    def put(self, name: str, data: bytes | bytearray | memoryview) -> None:
        """See `Storage.put`."""
        self._call("PUT", quote(name), bytes(data), {"Content-Type": "application/octet-stream"})

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """See `Storage.get`."""
        if length == 0:
            return b""
        headers = {}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            headers["Range"] = f"bytes={offset}-{end}"
        return self._call("GET", quote(name), headers=headers)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """See `Storage.list`."""
        answer = self._call("GET", f"?prefix={quote(prefix)}")
        for line in answer.splitlines():
            try:
                item = json.loads(line)
                yield ObjectInfo(str(item["name"]), int(item["size"]), float(item["modified"]))
            except (ValueError, KeyError, TypeError):
                raise StorageError("liste de la passerelle illisible") from None

    def retention(self, prefix: str) -> dict[str, str | None]:
        """Name → end of its Object Lock retention (ISO time, None if unlocked), per the gateway."""
        answer = self._call("GET", f"?prefix={quote(prefix)}&retention=1")
        found: dict[str, str | None] = {}
        for line in answer.splitlines():
            try:
                item = json.loads(line)
                found[str(item["name"])] = item.get("locked_until")
            except (ValueError, KeyError, TypeError):
                raise StorageError("liste de la passerelle illisible") from None
        return found

    def keep(self, names: Sequence[str]) -> int:
        """Ask the gateway to extend the lock of `names` whose retention ends soon; the count."""
        body = json.dumps({"keep": list(names)}).encode()
        answer = self._call("POST", "", body, {"Content-Type": "application/json"})
        try:
            return int(json.loads(answer)["extended"])
        except (ValueError, KeyError, TypeError):
            raise StorageError("réponse de la passerelle illisible") from None

    def delete(self, name: str) -> None:
        """See `Storage.delete` (the gateway refuses all but leases)."""
        try:
            self._call("DELETE", quote(name))
        except ObjectMissing:
            return

    def describe(self) -> str:
        """See `Storage.describe`."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}{parts.path} (passerelle, ajout seul)"
