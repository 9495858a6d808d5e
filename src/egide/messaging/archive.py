"""Reading received ZIP archives without trusting them.

A received IHE_XDM.ZIP is attacker-controlled. Before anything is expanded we check the central
directory (member count, declared sizes, names); while expanding we count the bytes really
produced, because declared sizes can lie; nothing is written to disk. Refused: names that are
absolute or climb out with `..`, encrypted members, archives inside the archive (a classic way
to hide a bomb or smuggle content past checks), and any member or total over the limits.
Backslash separators (seen in real packages) are normalised and reported.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
import zlib
from dataclasses import dataclass, field

from .errors import InvalidArchive, UnsafeArchive

__all__ = ["ArchiveLimits", "ArchiveMember", "read_archive"]

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds applied to one received archive (defaults fit MSSanté's 25 MB message limit)."""

    max_members: int = 500
    max_member_bytes: int = 64 * 1024 * 1024
    max_total_bytes: int = 128 * 1024 * 1024
    # Real CDA/XML compresses about 10–20×; a ratio past 200 is a bomb, not a document.
    max_ratio: int = 200


@dataclass(frozen=True)
class ArchiveMember:
    """One expanded file: its normalised path and content."""

    path: str
    content: bytes


@dataclass
class _Expansion:
    members: list[ArchiveMember] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    total: int = 0


def _normalise(raw: str, expansion: _Expansion) -> str | None:
    name = raw
    if "\\" in name:
        name = name.replace("\\", "/")
        if not any("séparateurs « \\ »" in w for w in expansion.warnings):
            expansion.warnings.append(
                "Archive : chemins écrits avec des séparateurs « \\ » (Windows), normalisés."
            )
    if name.endswith("/"):
        return None  # a directory entry
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"Archive refusée : chemin absolu « {raw[:120]} ».")
    parts = name.split("/")
    if ".." in parts:
        raise UnsafeArchive(f"Archive refusée : chemin qui sort de l'archive « {raw[:120]} ».")
    clean = posixpath.normpath(name)
    if clean in {".", ""}:
        return None
    return clean


def _expand(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ArchiveLimits) -> bytes:
    out = bytearray()
    cap = min(limits.max_member_bytes, max(info.compress_size, 1) * limits.max_ratio)
    with archive.open(info) as stream:
        while chunk := stream.read(_CHUNK):
            out += chunk
            if len(out) > cap:
                raise UnsafeArchive(
                    f"Archive refusée : « {info.filename[:120]} » se décompresse au-delà de "
                    f"{cap} octets (bombe de décompression probable)."
                )
    return bytes(out)


def read_archive(
    data: bytes, limits: ArchiveLimits | None = None
) -> tuple[list[ArchiveMember], list[str]]:
    """Expand a ZIP in memory; return its members and the defects tolerated (French).

    Raises InvalidArchive for a damaged or truncated file, UnsafeArchive for anything that
    looks like an attack.
    """
    limits = limits or ArchiveLimits()
    expansion = _Expansion()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as error:
        raise InvalidArchive(f"Archive ZIP illisible ou tronquée ({error}).") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            raise UnsafeArchive(
                f"Archive refusée : {len(infos)} fichiers (au plus {limits.max_members})."
            )
        declared = sum(i.file_size for i in infos)
        if declared > limits.max_total_bytes:
            raise UnsafeArchive(
                f"Archive refusée : {declared} octets une fois décompressée "
                f"(au plus {limits.max_total_bytes})."
            )
        seen: set[str] = set()
        for info in infos:
            path = _normalise(info.filename, expansion)
            if path is None:
                continue
            if info.flag_bits & 0x1:
                raise InvalidArchive(f"Archive : « {path} » est chiffré ; il ne peut être lu.")
            if path.lower() in seen:
                raise UnsafeArchive(f"Archive refusée : « {path} » figure deux fois.")
            seen.add(path.lower())
            try:
                content = _expand(archive, info, limits)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as error:
                raise InvalidArchive(
                    f"Archive : « {path} » est endommagé ou tronqué ({error})."
                ) from None
            except NotImplementedError:
                raise InvalidArchive(
                    f"Archive : « {path} » utilise une compression non prise en charge."
                ) from None
            if content.startswith(_ZIP_MAGIC) or path.lower().endswith((".zip", ".jar")):
                raise UnsafeArchive(f"Archive refusée : « {path} » est une archive imbriquée.")
            expansion.total += len(content)
            if expansion.total > limits.max_total_bytes:
                raise UnsafeArchive(
                    "Archive refusée : le contenu décompressé dépasse "
                    f"{limits.max_total_bytes} octets."
                )
            expansion.members.append(ArchiveMember(path, content))
    return expansion.members, expansion.warnings
