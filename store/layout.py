"""What makes a directory a store, and whether we may use it (docs/FORMAT.md section 2, docs/SECURITY.md).

Every entry point (`Writer`, `compact`, `apply_retention`, `scan`, `check`, `Tailer`) calls `open_store`
first. Readers never create anything; writers create the root, the publish lock and the marker.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from smythtop.store.errors import NotAStore, UnsafeStore
from smythtop.store.paths import (
    COMPACTOR_LOCK,
    FILE_MODE,
    JOURNAL_DIR,
    MARKER,
    PARQUET_DIR,
    PUBLISH_LOCK,
    QUARANTINE_DIR,
    ROLLUP_DIR,
    TMP_PREFIX,
    WAL_DIR,
    atomic_write_bytes,
    ensure_dir,
)

STORE_FORMAT = 1  # the on-disk layout this code reads and writes; a newer marker is refused, not guessed at
STORE_DIRS = (WAL_DIR, PARQUET_DIR, JOURNAL_DIR, QUARANTINE_DIR, ROLLUP_DIR)
STORE_FILES = (MARKER, PUBLISH_LOCK, COMPACTOR_LOCK)
# Written into a store by smythtop's front-ends (smythtop/baselines.py); the store only tolerates the name.
FRONT_END_DIRS = ("baselines",)
KNOWN_NAMES = frozenset((*STORE_DIRS, *STORE_FILES, *FRONT_END_DIRS))
_GROUP_WRITE, _WORLD_WRITE = stat.S_IWGRP, stat.S_IWOTH


def open_store(root: Path, *, write: bool, shared: bool = False) -> None:
    """Check `root` before use (a missing root is fine for a reader: there is nothing to read).

    Like ssh's StrictModes: the root (and `wal/`, `parquet/`, `journal/`, `quarantine/`) must be owned by
    the user (or root) and not group/world-writable;
    `shared=True` allows a group-writable root of one of our groups, never a world-writable one. Every
    name of ours in it must be a real file or directory (`lstat`), never a symlink. A directory without
    the marker is a store only if every entry has a store name (a store of the previous version, or an
    empty directory); `write=True` then adopts it: creates the root if missing, the publish lock, the
    marker. Raises UnsafeStore or NotAStore with one line naming the path.
    """
    try:
        st = os.stat(root)  # the root the user named may be a symlink; what is inside it may not
    except FileNotFoundError:
        if not write:
            return
        ensure_dir(root)
        st = os.stat(root)
    if not stat.S_ISDIR(st.st_mode):
        raise NotAStore(f"{root} is not a smythtop store: not a directory")
    _check_owner(root, st, shared)
    names = os.listdir(root)
    for name in KNOWN_NAMES.intersection(names):
        lst = os.lstat(root / name)
        wanted = stat.S_ISREG(lst.st_mode) if name in STORE_FILES else stat.S_ISDIR(lst.st_mode)
        if not wanted:
            raise UnsafeStore(f"refusing store {root}: {name} is a symlink or not a regular file or directory")
        if name in STORE_DIRS:
            _check_owner(root / name, lst, shared)  # a world-writable wal/ is as open as a world-writable root
    if MARKER in names:
        _check_marker(root)
    elif any(n not in KNOWN_NAMES and not n.startswith(TMP_PREFIX) for n in names):
        raise NotAStore(
            f"{root} is not a smythtop store: it holds other files and no {MARKER} (pass a new or empty directory)"
        )
    if write and MARKER not in names:
        ensure_publish_lock(root)  # before the marker: a marked store always has its publish lock
        atomic_write_bytes(root / MARKER, json.dumps({"format": STORE_FORMAT}).encode())


def _check_owner(path: Path, st: os.stat_result, shared: bool) -> None:
    if st.st_mode & _WORLD_WRITE:
        raise UnsafeStore(f"refusing store {path}: it is world-writable (chmod o-w {path})")
    ours = st.st_uid in (os.geteuid(), 0)
    if shared:
        if not ours and st.st_gid not in (os.getegid(), *os.getgroups()):
            raise UnsafeStore(f"refusing shared store {path}: owned by uid {st.st_uid}, group not one of ours")
        return
    if not ours:
        raise UnsafeStore(f"refusing store {path}: owned by uid {st.st_uid}, not by you (uid {os.geteuid()})")
    if st.st_mode & _GROUP_WRITE:
        raise UnsafeStore(f"refusing store {path}: it is group-writable (chmod g-w, or allow a shared store)")


def _check_marker(root: Path) -> None:
    try:
        fd = os.open(root / MARKER, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fh:
            version = json.loads(fh.read())["format"]
    except (ValueError, KeyError, TypeError) as exc:
        raise NotAStore(f"{root} is not a smythtop store: unreadable {MARKER} ({exc})") from exc
    if not isinstance(version, int) or version > STORE_FORMAT:
        raise NotAStore(f"{root} has store format {version!r}; this smythtop reads format {STORE_FORMAT}")


@contextlib.contextmanager
def root_lock(root: Path, mode: int) -> Iterator[None]:
    """A flock on the root directory itself: orders creating the publish lock against readers that
    found none (they read under this lock shared, so no compactor can create it and publish meanwhile)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)


def ensure_publish_lock(root: Path) -> None:
    """Create the publish lock file if missing, under the root lock held exclusively."""
    with root_lock(root, fcntl.LOCK_EX):
        os.close(os.open(root / PUBLISH_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE))
