"""Scheduled store maintenance: compaction, small-file merges and retention, for any long-lived front-end.

Agents only append to the WAL (the recorder never loads pyarrow), so some long-lived process must turn sealed
segments into Parquet, merge the small files that many short compactions leave, and drop frames past retention;
otherwise a real agent's store stays in the WAL for ever. `smythtop serve` runs this; the app can too.

Method: one daemon thread wakes every `every_s` and calls `store.compact` (WAL to Parquet, then merges of small
files) and, when compaction ran, `store.apply_retention`. Both take the store's single-compactor flock
(`compactor.lock`), so `serve`, the app, the demo and `smythtop store compact` never work on the store at once:
a pass that finds the lock taken is skipped (counted as `busy`) and retried at the next tick. A failed pass is
logged and retried; it never stops the owner.

With a pusher (`serve --push URL`, store/remote.py) each pass compacts the WAL, pushes the new Parquet files, and
only when every published file is in the bucket lets the compactor merge small files (then pushes the merged
ones): a merged file's marker names the files it replaces, so they must all be in the bucket already.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smythtop.store.remote import Pusher

log = logging.getLogger("smythtop.maintenance")


@dataclass(slots=True)
class MaintenanceStats:
    """What the passes so far did (read by the owner for its summary; updated by the maintenance thread)."""

    passes: int = 0
    busy: int = 0  # passes skipped because another compactor held the store's lock
    failed: int = 0
    segments_compacted: int = 0
    frames_compacted: int = 0
    files_merged: int = 0
    files_removed: int = 0  # by retention
    frames_expired: int = 0  # rows retention cut out of files that straddled the cut-off
    files_pushed: int = 0  # Parquet files uploaded by `serve --push`
    push_failed: int = 0  # passes whose push failed (retried at the next pass)


class Maintenance:
    """Compacts, merges and applies retention to `root` every `every_s` seconds, in a thread of its own.

    `run_once()` does one pass now (the thread's body; also the final pass of a stopping owner). Use as a
    context manager, or `start()` and `stop()`."""

    def __init__(
        self,
        root: Path,
        *,
        every_s: float,
        retention_days: float | None,
        retention_max_bytes: int | None = None,
        rollup_retention_days: float | None = None,
        pusher: Pusher | None = None,
    ) -> None:
        if not every_s > 0:
            raise ValueError("every_s must be positive")
        self.root = root
        self.every_s = every_s
        self.retention_days = retention_days
        self.retention_max_bytes = retention_max_bytes
        self.rollup_retention_days = rollup_retention_days  # None: rollups are kept
        self.pusher = pusher
        self.stats = MaintenanceStats()
        self._stop = threading.Event()
        self._pass_lock = threading.Lock()  # the thread's pass and an owner's final pass never overlap
        self._thread: threading.Thread | None = None
        self._last_error: str | None = None

    def run_once(self) -> bool:
        """One pass: compact (and merge), then retention. False if another compactor was busy or it failed."""
        from smythtop import store  # pyarrow and polars: only in the process that maintains

        with self._pass_lock:
            stats = self.stats
            stats.passes += 1
            try:
                result = store.compact(self.root, merge=self.pusher is None)
                if result.busy:
                    stats.busy += 1
                    return False
                stats.segments_compacted += result.segments_compacted
                stats.frames_compacted += result.frames_written
                stats.files_merged += result.files_merged
                if self.pusher is not None and self._push() == 0:
                    # Every file is in the bucket: merging may go ahead. The files this second call makes from
                    # newer WAL segments are younger than the merge's minimum age, so none is merged unpushed.
                    merged = store.compact(self.root)
                    stats.segments_compacted += merged.segments_compacted
                    stats.frames_compacted += merged.frames_written
                    stats.files_merged += merged.files_merged
                    self._push()
                if self.retention_days is not None:
                    expired = store.apply_retention(
                        self.root,
                        days=self.retention_days,
                        max_bytes=self.retention_max_bytes,
                        rollup_days=self.rollup_retention_days,
                    )
                    stats.files_removed += len(expired.removed)
                    stats.frames_expired += expired.trimmed_frames
            except Exception as exc:  # a full disk or a damaged file must not stop the owner; retried next tick
                stats.failed += 1
                if str(exc) != self._last_error:  # once per distinct failure, not once a tick
                    self._last_error = str(exc)
                    log.warning("smythtop: store maintenance of %s failed (retried every %g s): %s", self.root,
                                self.every_s, exc)  # fmt: skip
                return False
            self._last_error = None
            return True

    @property
    def last_error(self) -> str | None:
        """Why the last pass failed, None once one succeeds (the app shows it in its status line)."""
        return self._last_error

    def _push(self) -> int:
        """Push what is new; the number of published files still not in the bucket (-1: the push failed)."""
        from smythtop.store.remote import redacted

        assert self.pusher is not None
        try:
            pushed = self.pusher.push()
        except Exception as exc:  # a bucket out of reach must not stop compaction; retried next pass
            self.stats.push_failed += 1
            if str(exc) != self._last_error:
                self._last_error = str(exc)
                log.warning("smythtop: push of %s to %s failed (retried every %g s): %s", self.root,
                            redacted(self.pusher.url), self.every_s, exc)  # fmt: skip
            return -1
        self.stats.files_pushed += len(pushed.uploaded)
        return pushed.pending

    def start(self) -> Maintenance:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="smythtop-maintenance", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.run_once()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread (a pass under way finishes first: it never leaves a half-published file anyway)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> Maintenance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
