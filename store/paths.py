"""Where things live in a store, and the small file-system primitives every module shares."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from smythtop.store.errors import UnsafeStore

WAL_DIR = "wal"
PARQUET_DIR = "parquet"
ROLLUP_DIR = "rollups"  # per-minute aggregates written at compaction (store/rollups.py)
QUARANTINE_DIR = "quarantine"
JOURNAL_DIR = "journal"
COMPACTOR_LOCK = "compactor.lock"
PUBLISH_LOCK = "publish.lock"
WRITER_LOCK = "LOCK"
WAL_SUFFIX = ".wal"
PARQUET_SUFFIX = ".parquet"
TMP_PREFIX = ".tmp-"
MARKER = "smythtop-store.json"  # the store's marker: {"format": STORE_FORMAT}; docs/FORMAT.md section 2

DIR_MODE = 0o700
FILE_MODE = 0o600


def default_root() -> Path:
    """$SMYTHTOP_STORE, else $SRE_PERFORMANCE_DIR (the seed system's name), else the XDG data dir."""
    for var in ("SMYTHTOP_STORE", "SRE_PERFORMANCE_DIR"):
        value = os.environ.get(var)
        if value:
            return Path(value).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "smythtop" / "store"


def resolve_root(root: str | os.PathLike[str] | None) -> Path:
    return default_root() if root is None else Path(root).expanduser()


def ensure_dir(path: Path) -> Path:
    """Create `path` if missing and check with `lstat` that it is a real directory: a symlink planted in a
    store (`quarantine -> /victim`) would otherwise redirect what we write there."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if not stat.S_ISDIR(os.lstat(path).st_mode):
        raise UnsafeStore(f"refusing store path {path}: it is a symlink or not a directory")
    return path


def read_nofollow(path: Path) -> bytes:
    """The bytes of a regular file named by store contents, opened with O_NOFOLLOW (ELOOP on a symlink)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def unlink_in_store(root: Path, relpath: str) -> bool:
    """Unlink `root/relpath` walking every directory with O_NOFOLLOW (openat), then fsync its directory.

    A path from store contents (a journal's source) whose directories are symlinks or leave the store is
    not ours: it is left alone (False). The final component is never followed (unlink does not)."""
    parts = relpath.split("/")
    if not parts or any(p in ("", ".", "..") for p in parts) or relpath.startswith("/"):
        return False
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY)]
    try:
        for part in parts[:-1]:
            fds.append(os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fds[-1]))
        os.unlink(parts[-1], dir_fd=fds[-1])
        os.fsync(fds[-1])
        return True
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return False
        raise
    finally:
        for fd in fds:
            os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path: Path, *, text: bool = False, encoding: str = "utf-8", newline: str = "") -> Iterator[IO[Any]]:
    """Write `path` whole or not at all; yields the open file (bytes, or text with `encoding` and `newline`).

    After Prometheus' and VictoriaMetrics' temp + sync + rename: a fresh temp file beside the target
    (`mkstemp`: O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, so it is never anyone else's file nor readable by
    others), flushed and fsynced, renamed over the target, then the directory fsynced. Readers see the old
    file or the new one, whole. On any exception the temp file is removed and the target is untouched.
    """
    mode, enc, nl = ("w", encoding, newline) if text else ("wb", None, None)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX)
    tmp = Path(name)
    try:
        with os.fdopen(fd, mode, encoding=enc, newline=nl) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        unlink_quiet(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Publish a small file (a journal, a quarantined region, a baseline) with `atomic_write`."""
    with atomic_write(path) as fh:
        fh.write(data)


def unlink_quiet(path: Path) -> bool:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        return True
    return False
