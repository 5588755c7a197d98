"""Store-wide flocks: one compactor at a time, and a short publish lock that lets readers see
either the WAL segments or the Parquet file that replaced them, never both or neither."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from smythtop.store.errors import UnsafeStore
from smythtop.store.layout import ensure_publish_lock, root_lock
from smythtop.store.paths import COMPACTOR_LOCK, FILE_MODE, PUBLISH_LOCK


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[bool]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
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
    ensure_publish_lock(root)  # never created behind the back of a reader that found none (`read_lock`)
    return _flock(root / PUBLISH_LOCK, fcntl.LOCK_EX)


@contextlib.contextmanager
def read_lock(root: Path) -> Iterator[None]:
    """Shared publish lock for readers, who never create files in a store.

    A reader that finds no lock file (an empty directory, a store of the previous version) reads under
    a shared flock of the root directory instead: the lock file is only ever created under that flock
    held exclusively (`ensure_publish_lock`), before any publish, so no compactor can publish while
    this read runs. A store we cannot lock at all (read-only media) is read as is."""
    path = root / PUBLISH_LOCK
    with contextlib.ExitStack() as stack:
        for attempt in range(2):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            except FileNotFoundError:
                if attempt == 0 and root.is_dir():
                    stack.enter_context(root_lock(root, fcntl.LOCK_SH))
                    continue  # it may have been created just before we took the root lock
                break
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise UnsafeStore(f"refusing store {root}: {PUBLISH_LOCK} is a symlink") from exc
                break  # unreadable lock file (foreign permissions): read as is, as on read-only media
            stack.callback(os.close, fd)
            fcntl.flock(fd, fcntl.LOCK_SH)
            break
        yield
