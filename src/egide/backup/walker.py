"""Walking the source tree in a stable order and describing each entry as a tree node."""

from __future__ import annotations

import base64
import fnmatch
import grp
import os
import pwd
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from .tree import Node, order_key

_TYPES = (
    (stat.S_ISREG, "file"),
    (stat.S_ISDIR, "dir"),
    (stat.S_ISLNK, "symlink"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISCHR, "char"),
    (stat.S_ISBLK, "block"),
    (stat.S_ISSOCK, "socket"),
)


@dataclass(frozen=True)
class Entry:
    """A walked path: absolute path, its lstat, or the error met reading it."""

    path: str
    stat: os.stat_result | None
    error: str = ""


@lru_cache(maxsize=4096)
def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


@lru_cache(maxsize=4096)
def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return ""


def node_for(path: str, info: os.stat_result) -> Node:
    """A node describing `path` from its lstat (no content, no chunks)."""
    kind = next((name for test, name in _TYPES if test(info.st_mode)), "other")
    node = Node(
        path=path.lstrip("/"),
        type=kind,
        mode=stat.S_IMODE(info.st_mode),
        uid=info.st_uid,
        gid=info.st_gid,
        user=_user(info.st_uid),
        group=_group(info.st_gid),
        mtime_ns=info.st_mtime_ns,
        atime_ns=info.st_atime_ns,
        ctime_ns=info.st_ctime_ns,
        size=info.st_size if kind == "file" else 0,
        inode=info.st_ino,
        dev=info.st_dev,
    )
    if kind == "symlink":
        node.target = os.readlink(path)  # noqa: PTH115 (str in, str out; keeps surrogates)
    node.xattrs = _xattrs(path)
    return node


def _xattrs(path: str) -> dict[str, str]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    found = {}
    for name in names:
        try:
            found[name] = base64.b64encode(os.getxattr(path, name, follow_symlinks=False)).decode()
        except OSError:
            continue
    return found


def _excluded(path: str, patterns: tuple[str, ...]) -> bool:
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(path, p) for p in patterns)


def walk(
    roots: list[str],
    excludes: tuple[str, ...] = (),
    one_file_system: bool = False,
    on_error: Callable[[str, str], None] | None = None,
) -> Iterator[Entry]:
    """Every path under `roots`, depth first with sorted children (the tree's order)."""
    absolute = sorted(
        {os.path.abspath(r) for r in roots},  # noqa: PTH100 (no symlink resolution)
        key=lambda p: order_key(p.lstrip("/")),
    )
    kept: list[str] = []
    for root in absolute:
        if not any(root.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(root)
    for root in kept:
        try:
            info = os.lstat(root)
        except OSError as error:
            yield Entry(root, None, error.strerror or str(error))
            continue
        yield from _walk(root, info, info.st_dev, excludes, one_file_system)


def _walk(
    path: str, info: os.stat_result, device: int, excludes: tuple[str, ...], one_fs: bool
) -> Iterator[Entry]:
    if not stat.S_ISDIR(info.st_mode):
        yield Entry(path, info)
        return
    try:
        with os.scandir(path) as listing:
            children = sorted(listing, key=lambda e: e.name)
    except OSError as error:
        yield Entry(path, info, f"lecture du dossier impossible : {error.strerror}")
        return
    yield Entry(path, info)
    if one_fs and info.st_dev != device:
        return
    for child in children:
        if _excluded(child.path, excludes):
            continue
        try:
            child_info = child.stat(follow_symlinks=False)
        except OSError as error:
            yield Entry(child.path, None, error.strerror or str(error))
            continue
        if one_fs and stat.S_ISDIR(child_info.st_mode) and child_info.st_dev != device:
            yield Entry(child.path, child_info)  # the mount point itself, not its content
            continue
        yield from _walk(child.path, child_info, device, excludes, one_fs)
