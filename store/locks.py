"""Store-wide flocks: one compactor at a time, and a short publish lock that lets readers see
either the WAL segments or the Parquet file that replaced them, never both or neither."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from smythtop.store.paths import COMPACTOR_LOCK, FILE_MODE, PUBLISH_LOCK, ensure_dir


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[bool]:
    ensure_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing the fd releases the flock


def compactor_lock(root: Path, *, wait: bool = False) -> contextlib.AbstractContextManager[bool]:
    """Yields True if this process is now the only compactor."""
    return _flock(root / COMPACTOR_LOCK, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))


def publish_lock(root: Path) -> contextlib.AbstractContextManager[bool]:
    return _flock(root / PUBLISH_LOCK, fcntl.LOCK_EX)


@contextlib.contextmanager
def read_lock(root: Path) -> Iterator[None]:
    """Shared publish lock for readers; a store we cannot lock (read-only media) is read as is.

    The lock file is created if missing: a reader that found none and skipped locking could race
    the very first publish of a compactor that creates it a moment later."""
    path = root / PUBLISH_LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    except OSError:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            yield  # no store yet, or read-only media without the file: nobody can publish there
            return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)
