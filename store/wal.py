"""The write-ahead log: one directory of numbered segments per writer process.

Layout: `wal/<host>-<pid>-<rand>/LOCK` (flock held for the writer's life) and `000001.wal`...
A frame reaches the kernel with one `os.write` per micro-batch, never through a Python buffered
file, so kill -9 loses at most what was appended after the last `flush()`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
import socket
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smythtop.store.errors import AppendInterrupted, FrameError, StoreUnavailable
from smythtop.store.framing import HEADER_SIZE, encode_frame, encode_frames, encode_header
from smythtop.store.layout import open_store
from smythtop.store.paths import (
    FILE_MODE,
    TMP_PREFIX,
    WAL_DIR,
    WAL_SUFFIX,
    WRITER_LOCK,
    ensure_dir,
    fsync_dir,
    resolve_root,
    unlink_quiet,
)
from smythtop.store.schema import TrustedRow, validate

DEFAULT_SEGMENT_BYTES = 8 << 20
DEFAULT_SEGMENT_AGE_S = 30.0
DEFAULT_BUFFER_BYTES = 64 << 10

_live_writers: weakref.WeakSet[Writer] = weakref.WeakSet()


def _host() -> str:
    return "".join(c if c.isalnum() or c in "._" else "_" for c in socket.gethostname())[:64] or "host"


def _writer_name() -> str:
    return f"{_host()}-{os.getpid()}-{secrets.token_hex(4)}"


def is_segment_name(name: str) -> bool:
    """`000001.wal`...: digits and the suffix; anything else in a writer dir is not ours."""
    stem = name.removesuffix(WAL_SUFFIX)
    return stem != name and stem.isascii() and stem.isdigit()


def segment_name(seq: int) -> str:
    return f"{seq:06d}{WAL_SUFFIX}"


class Writer:
    """Appends frames to this process's own WAL segments. Thread-safe.

    When `flush()` returns, every frame appended before it survives a kill -9 of the process.
    With `fsync=True`, segments are also fsynced at rotation and close (power-loss safety).
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        segment_age_s: float = DEFAULT_SEGMENT_AGE_S,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        fsync: bool = False,
        shared: bool = False,
    ) -> None:
        self.root = resolve_root(root)
        self.shared = shared
        self.segment_bytes = segment_bytes
        self.segment_age_s = segment_age_s
        self.buffer_bytes = buffer_bytes
        self.fsync = fsync
        self.appended = 0
        self.rejected = 0
        self.flushed = 0
        self.reopened = 0  # times the lock or the segment was lost (deleted) and a fresh writer dir opened
        self._pending = 0
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._closed = False
        self._fd = -1
        self._lock_fd = -1
        self._open_dir()
        _live_writers.add(self)

    # -- set-up ------------------------------------------------------------------------------
    def _open_dir(self) -> None:
        """Build the writer dir under a temp name and rename it once locked, so no reader
        ever sees an unlocked writer dir and mistakes it for a dead one."""
        tmp: Path | None = None
        try:
            open_store(self.root, write=True, shared=self.shared)  # a new root is 0700, not just what is inside
            wal = ensure_dir(self.root / WAL_DIR)
            name = _writer_name()
            tmp = wal / f"{TMP_PREFIX}{name}"
            tmp.mkdir(mode=0o700)
            self._lock_fd = os.open(tmp / WRITER_LOCK, os.O_WRONLY | os.O_CREAT, FILE_MODE)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._fd = self._open_segment(tmp, 1)
            os.rename(tmp, wal / name)
            self.dir = wal / name
        except OSError as exc:
            self._release()
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)  # nothing was written there yet
            if isinstance(exc, StoreUnavailable):
                raise  # a refused store (`open_store`) already says what and where, in one line
            raise StoreUnavailable(f"cannot write to store {self.root}: {exc.strerror or exc}") from exc
        self._pid = os.getpid()

    def _open_segment(self, directory: Path, seq: int) -> int:
        path = directory / segment_name(seq)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, FILE_MODE)
        try:
            os.write(fd, encode_header())
        except OSError:
            os.close(fd)
            unlink_quiet(path)  # a headerless later segment would wrongly seal the current one
            raise
        self._seq = seq
        self._seg_size = HEADER_SIZE
        self._seg_born = time.monotonic()
        return fd

    def _release(self) -> None:
        for fd in (self._fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock_fd = -1

    def _after_fork(self) -> None:
        """In a forked child: drop the parent's unflushed frames (the parent owns them) and
        its fds, so the child's writes go to a directory of its own."""
        self._buf.clear()
        self._pending = 0
        self._release()
        if not self._closed:
            self._open_dir()

    # -- writing -----------------------------------------------------------------------------
    def append(self, frame: Mapping[str, Any]) -> None:
        """Validate and buffer one frame; raises FrameError naming the field if it is bad."""
        try:
            record = encode_frame(validate(frame))
        except FrameError:
            self.rejected += 1
            raise
        with self._lock:
            self._check_open()
            self._buf += record
            self._pending += 1
            self.appended += 1
            if len(self._buf) >= self.buffer_bytes:
                self._write_locked()

    def append_many(self, frames: Iterable[Mapping[str, Any] | TrustedRow]) -> list[FrameError]:
        """Buffer every good frame; return (do not raise) the errors of the bad ones.

        A mapping is validated; a `TrustedRow` is taken as valid and only encoded (`framing.encode_frames`).
        A write that fails part-way (disk full) raises AppendInterrupted carrying how many good frames,
        in order, were appended before it, so a caller counts exactly what the store holds."""
        records, errors = encode_frames(frames)
        self.rejected += len(errors)
        with self._lock:
            self._check_open()
            buf, limit = self._buf, self.buffer_bytes  # the same bytearray throughout: writes clear it
            counted = 0  # records already added to _pending and appended: counters are updated per write
            for done, record in enumerate(records, 1):
                buf += record
                if len(buf) >= limit:  # write per buffer-full: segments rotate on size
                    self._pending += done - counted
                    self.appended += done - counted
                    counted = done
                    try:
                        self._write_locked()
                    except StoreUnavailable as exc:
                        raise AppendInterrupted(str(exc), appended=done, errors=errors) from exc
            self._pending += len(records) - counted
            self.appended += len(records) - counted
        return errors

    def flush(self) -> None:
        """Hand every buffered frame to the kernel; rotate the segment if it is due by size or age."""
        with self._lock:
            self._check_open()
            self._write_locked()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                if os.getpid() == self._pid and self._fd >= 0:
                    self._write_locked(rotate=False)
                    if self.fsync:
                        os.fsync(self._fd)
            finally:
                self._closed = True
                self._release()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def buffered_bytes(self) -> int:
        return len(self._buf)

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("Writer is closed")
        if os.getpid() != self._pid:
            self._after_fork()

    def _lost_locked(self) -> bool:
        """Two fstats per write (a flush or a full buffer, never per frame): was our LOCK or our segment
        unlinked? Then a compactor may take (or has taken) the directory as a dead writer's."""
        try:
            return os.fstat(self._lock_fd).st_nlink == 0 or os.fstat(self._fd).st_nlink == 0
        except OSError:  # a reopen failed earlier: no fds
            return True

    def _reopen_locked(self) -> None:
        """Move to a fresh writer dir and leave an unlocked LOCK in the old one, if it still exists, so
        compaction takes what it holds as a dead writer's. Buffered frames go to the new segment."""
        old = self.dir
        self._release()
        self._open_dir()
        self.reopened += 1
        with contextlib.suppress(OSError):  # the whole dir was removed, or someone made a LOCK already
            os.close(os.open(old / WRITER_LOCK, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE))

    def _write_locked(self, rotate: bool = True) -> None:
        if not self._buf:
            return
        if self._lost_locked():
            self._reopen_locked()
        data = memoryview(self._buf)
        done = 0
        try:
            while done < len(data):
                done += os.write(self._fd, data[done:])
        except OSError as exc:
            # Cut the partial write back off, so the segment stays clean and the frames stay
            # buffered for the next try.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._seg_size)
            del data
            raise StoreUnavailable(f"cannot write to store {self.root}: {os.strerror(exc.errno or errno.EIO)}") from exc
        del data
        self._seg_size += done
        self.flushed += self._pending
        self._pending = 0
        self._buf.clear()
        if rotate and (self._seg_size >= self.segment_bytes or time.monotonic() - self._seg_born >= self.segment_age_s):
            self._rotate_locked()

    def _rotate_locked(self) -> None:
        """Open the next segment before closing this one: if that fails (disk full), the writer
        keeps appending to the current segment and can rotate later."""
        old_fd, old_size, old_born = self._fd, self._seg_size, self._seg_born
        try:
            if self.fsync:
                os.fsync(old_fd)
            self._fd = self._open_segment(self.dir, self._seq + 1)
        except OSError as exc:
            self._fd, self._seg_size, self._seg_born = old_fd, old_size, old_born
            raise StoreUnavailable(f"cannot rotate segment in {self.dir}: {exc.strerror or exc}") from exc
        os.close(old_fd)
        try:
            if self.fsync:
                fsync_dir(self.dir)
        except OSError as exc:
            raise StoreUnavailable(f"cannot rotate segment in {self.dir}: {exc.strerror or exc}") from exc


def _reset_after_fork() -> None:
    for writer in list(_live_writers):
        writer._lock = threading.Lock()  # the parent's may have been held by a thread mid-append
        writer._pid = -1  # reopened lazily on first use in the child


os.register_at_fork(after_in_child=_reset_after_fork)


# -- discovery, shared by compaction, scan, tail and check ------------------------------------
@dataclass(frozen=True, slots=True)
class Segment:
    path: Path
    writer: str
    seq: int
    sealed: bool  # will never grow again: a later segment exists, or its writer is dead

    @property
    def key(self) -> str:
        return f"{self.writer}/{self.path.name}"


def _named_process_alive(directory: Path) -> bool:
    """For a writer dir whose LOCK is gone: is the process its name (`<host>-<pid>-<rand>`) names running?

    Another host's writer cannot be asked, so it counts as alive: its frames stay readable in the WAL,
    where a false "dead" would let compaction take a segment that is still growing."""
    parts = directory.name.rsplit("-", 2)
    if len(parts) != 3 or not (parts[1].isascii() and parts[1].isdigit()) or int(parts[1]) <= 0:
        return False  # not a name a Writer makes
    if parts[0] != _host():
        return True
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    return True


def writer_alive(directory: Path) -> bool:
    """A writer is alive while it holds the flock on its LOCK file, or, with the LOCK deleted, while the
    process its directory is named after runs (a deleted LOCK once let compaction take a live segment)."""
    try:
        fd = os.open(directory / WRITER_LOCK, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return _named_process_alive(directory)
    except OSError:
        return True  # a LOCK that is a symlink is not ours: never compact or delete what is there
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def list_segments(root: Path) -> list[Segment]:
    """Every WAL segment in the store, oldest first within each writer."""
    out: list[Segment] = []
    for directory in writer_dirs(root):
        try:
            with os.scandir(directory) as entries:
                seqs = sorted(
                    int(e.name[: -len(WAL_SUFFIX)])
                    for e in entries
                    if is_segment_name(e.name) and e.is_file(follow_symlinks=False)
                )
        except FileNotFoundError:
            continue
        if not seqs:
            continue
        alive = writer_alive(directory)
        for seq in seqs:
            out.append(Segment(directory / segment_name(seq), directory.name, seq, not alive or seq != seqs[-1]))
    return out


def writer_dirs(root: Path) -> list[Path]:
    """The writer directories under `wal/`: real directories (`lstat`: a symlink is never followed), not
    a writer still being set up (`.tmp-*`). Anything else there is reported by `check`, never read."""
    try:
        with os.scandir(root / WAL_DIR) as entries:
            return sorted(
                Path(e.path) for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith(TMP_PREFIX)
            )
    except FileNotFoundError:
        return []
