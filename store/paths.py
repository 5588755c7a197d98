"""Where things live in a store, and the small file-system primitives every module shares."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

WAL_DIR = "wal"
PARQUET_DIR = "parquet"
QUARANTINE_DIR = "quarantine"
JOURNAL_DIR = "journal"
COMPACTOR_LOCK = "compactor.lock"
PUBLISH_LOCK = "publish.lock"
WRITER_LOCK = "LOCK"
WAL_SUFFIX = ".wal"
PARQUET_SUFFIX = ".parquet"
TMP_PREFIX = ".tmp-"

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
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    return path


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
