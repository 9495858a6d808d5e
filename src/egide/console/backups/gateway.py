"""The append-only storage gateway: agents store their repository through the console.

In the spirit of restic's rest-server `--append-only`: the agent authenticates with its own token
and never holds bucket credentials; the gateway alone writes to the bucket, every object under an
S3 Object Lock retention (`egide.backup.objectlock`), and refuses every delete and overwrite
(leases under `locks/` excepted). A fully compromised practice PC can therefore add data, read its
own practice's (encrypted) repository, and nothing else. Each practice has its own key prefix.

    GET    /gateway/?prefix=snapshots/      list: one JSON line {"name", "size", "modified"} each
    GET    /gateway/?prefix=…&retention=1   the same, plus "mode" and "locked_until" (ISO or null)
    GET    /gateway/<name>                  read (an HTTP Range "bytes=a-b" reads part)
    PUT    /gateway/<name>                  write (locked); 409 if it exists with other bytes
    DELETE /gateway/<name>                  403, except leases under locks/
    POST   /gateway/  {"keep": [names…]}    extend the locks of these objects when they end soon

Configured by `EGIDE_BACKUP_GATEWAY_FILE` (a JSON file: bucket, endpoint_url, region,
access_key_id, secret_access_key, mode "COMPLIANCE" or "GOVERNANCE", days); without it, 503.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from egide.backup.errors import DeletionRefused, ObjectMissing, StorageError
from egide.backup.objectlock import AppendOnlyStorage, LockMode, ObjectLockStorage
from egide.backup.s3store import S3Location
from egide.backup.storage import ObjectInfo
from egide.console.audit import services as audit

from . import keepalive, services
from .api import problem
from .models import Agent

_NAME = re.compile(r"^(config|(keys|data|index|snapshots|locks)/[A-Za-z0-9._/-]{1,200})$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
MAX_OBJECT = 128 << 20


@lru_cache(maxsize=256)
def _storage(prefix: str, config: str) -> AppendOnlyStorage:
    options: dict[str, Any] = json.loads(config)
    location = S3Location(
        bucket=options["bucket"],
        prefix=prefix,
        endpoint_url=options.get("endpoint_url"),
        region=options.get("region"),
        access_key_id=options.get("access_key_id"),
        secret_access_key=options.get("secret_access_key"),
    )
    mode = LockMode(options.get("mode", "COMPLIANCE"))
    return AppendOnlyStorage(
        ObjectLockStorage(location, mode, timedelta(days=float(options.get("days", 30))))
    )


def storage_for(practice_slug: str) -> AppendOnlyStorage | None:
    """The practice's append-only, locked storage, or None when no gateway is configured."""
    options = getattr(settings, "EGIDE_BACKUP_GATEWAY", None)
    if not options:
        return None
    return _storage(f"{practice_slug}/repository", json.dumps(options, sort_keys=True))


@csrf_exempt  # machine clients authenticate with a bearer token, not a cookie
def objects(request: HttpRequest, name: str = "") -> HttpResponseBase:
    """The gateway's one view: list, read, write or (refused) delete an object."""
    agent = services.authenticate_agent(request)
    if agent is None:
        response = problem(401, "Jeton refusé", "Jeton d'agent inconnu, révoqué ou invalide.")
        response["WWW-Authenticate"] = 'Bearer realm="egide-agent"'
        return response
    storage = storage_for(agent.practice.slug)
    if storage is None:
        return problem(503, "Passerelle absente", "Aucun stockage n'est configuré.")
    if name and (not _NAME.match(name) or ".." in name):
        return problem(400, "Nom refusé", "Nom d'objet invalide.")
    try:
        if request.method == "GET" and not name:
            prefix = request.GET.get("prefix", "")
            with_retention = request.GET.get("retention") == "1"
            lines = (
                json.dumps(_listed(storage, i, with_retention)) + "\n" for i in storage.list(prefix)
            )
            return StreamingHttpResponse(lines, content_type="application/x-ndjson")
        if request.method == "GET":
            return _read(request, storage, name)
        if request.method == "POST" and not name:
            return _keep(request, agent, storage)
        if request.method == "PUT":
            data = request.read(MAX_OBJECT + 1)
            if len(data) > MAX_OBJECT:
                return problem(413, "Objet trop grand", f"Au plus {MAX_OBJECT} octets.")
            storage.put(name, data)
            locked = storage.inner
            if isinstance(locked, ObjectLockStorage) and not name.startswith("locks/"):
                keepalive.remember(agent.practice, name, timezone.now() + locked.period)
            return HttpResponse(status=201)
        if request.method == "DELETE":
            storage.delete(name)
            return HttpResponse(status=204)
    except ObjectMissing:
        return problem(404, "Objet absent", name)
    except DeletionRefused as error:
        audit.record(
            "backup.gateway_refused",
            practice_id=agent.practice_id,
            actor=f"agent:{agent.pk}",
            object_type="agent",
            object_id=agent.pk,
            ip=audit.client_ip(request),
            details={"method": request.method, "name": name[:120]},
        )
        status = 409 if request.method == "PUT" else 403
        return problem(status, "Dépôt en ajout seul", str(error))
    except StorageError as error:
        return problem(502, "Stockage indisponible", str(error)[:200])
    return problem(405, "Méthode refusée", str(request.method))


def _keep(request: HttpRequest, agent: Agent, storage: AppendOnlyStorage) -> HttpResponse:
    locked = storage.inner
    if not isinstance(locked, ObjectLockStorage):
        return JsonResponse({"extended": 0, "missing": []})
    try:
        names = json.loads(request.read(64 << 20))["keep"]
    except (ValueError, KeyError, TypeError):
        return problem(400, "Requête invalide", 'Un objet JSON {"keep": [noms…]} est attendu.')
    if not isinstance(names, list) or len(names) > keepalive.MAX_NAMES:
        return problem(400, "Requête invalide", "« keep » : une liste de noms d'objets.")
    wanted = [n for n in names if isinstance(n, str) and _NAME.match(n) and ".." not in n]
    wanted = [n for n in dict.fromkeys(wanted) if not n.startswith("locks/")]
    if len(wanted) != len(names):
        return problem(400, "Nom refusé", "Nom d'objet invalide dans « keep ».")
    extended, missing = keepalive.keep(agent.practice, locked, wanted)
    audit.record(
        "backup.gateway_locks_extended",
        practice_id=agent.practice_id,
        actor=f"agent:{agent.pk}",
        object_type="agent",
        object_id=agent.pk,
        details={"asked": len(wanted), "extended": extended, "missing": len(missing)},
    )
    return JsonResponse({"extended": extended, "missing": missing[:100]})


def _listed(storage: AppendOnlyStorage, info: ObjectInfo, with_retention: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"name": info.name, "size": info.size, "modified": info.modified}
    if with_retention and isinstance(storage.inner, ObjectLockStorage):
        # One HEAD per object: agents ask it for snapshots/ only, which are few.
        retention = storage.inner.retention(info.name)
        item["mode"] = retention.mode.value if retention.mode else None
        item["locked_until"] = retention.until.isoformat() if retention.until else None
    return item


def _read(request: HttpRequest, storage: AppendOnlyStorage, name: str) -> HttpResponse:
    wanted = _RANGE.match(request.headers.get("Range", ""))
    if wanted:
        start, end = int(wanted[1]), wanted[2]
        length = None if end == "" else int(end) - start + 1
        return HttpResponse(
            storage.get(name, start, length), status=206, content_type="application/octet-stream"
        )
    return HttpResponse(storage.get(name), content_type="application/octet-stream")
