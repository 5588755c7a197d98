"""Where things live in a store, and the small file-system primitives every module shares."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Publish a small file by tmp + fsync + rename + fsync(dir), so readers see all or nothing."""
    tmp = path.with_name(f"{TMP_PREFIX}{path.name}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def unlink_quiet(path: Path) -> bool:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        return True
    return False
