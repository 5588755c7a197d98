"""Follow a store live: new WAL frames as polars DataFrames, each frame delivered once.

Keeps a byte offset and a frame count per WAL segment. When a segment is compacted away before
it was read to the end, the rest of its frames are taken from the Parquet file that replaced it
(WAL-made files keep rows in source order and record a row count per source segment).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import polars as pl
import pyarrow as pa
from smythtop.store.catalog import KIND_WAL, list_parquet, rel, superseded
from smythtop.store.columns import read_table, tables_to_polars
from smythtop.store.compaction import read_sources
from smythtop.store.framing import gc_paused
from smythtop.store.layout import open_store
from smythtop.store.locks import read_lock
from smythtop.store.paths import PARQUET_DIR, WAL_DIR, resolve_root
from smythtop.store.pqfiles import DAMAGE_ERRORS, NOT_DAMAGE, quarantine_parquet, read_or_quarantine
from smythtop.store.reader import TimeBound, account_rows, committed_frames, to_ns
from smythtop.store.wal import list_segments

FORGET_AFTER_POLLS = 50  # a vanished segment with no Parquet successor (all quarantined) is dropped


class Tailer:
    """Pull-based tail: call `poll()` whenever something may have changed.

    from_start=False starts at the current end of every segment (only new frames);
    from_start=True also delivers the frames already in the WAL (not those already in Parquet).
    """

    def __init__(
        self, root: str | os.PathLike[str] | None = None, *, from_start: bool = False, shared: bool = False
    ) -> None:
        self.root = resolve_root(root)
        open_store(self.root, write=False, shared=shared)
        self.offsets: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        self._vanished: dict[str, int] = {}
        self._replaced: set[str] = set()
        self._accounts: list[pl.DataFrame] = []
        self.delivered = 0
        if not from_start:
            self._read_wal(deliver=False)
        # Listed after the WAL: a segment compacted in between is then known with its full count.
        self._seen_parquet = {f.name for f in list_parquet(self.root)}

    @classmethod
    def with_history(
        cls,
        root: str | os.PathLike[str] | None = None,
        since: TimeBound = None,
        until: TimeBound = None,
        *,
        shared: bool = False,
    ) -> tuple[pl.LazyFrame, Tailer]:
        """Every committed frame in [since, until) now, and a Tailer that delivers exactly the
        frames committed after it: no frame in both, none in neither. Both views are taken under
        the shared publish lock, so no compaction can move frames between them."""
        tailer = cls(root, from_start=True, shared=shared)  # nothing read yet: the locked read below starts it
        with read_lock(tailer.root), gc_paused():
            tables = tailer._read_wal(deliver=True)
            files = list_parquet(tailer.root)
            skip = superseded(tailer.root)
            kept = [f.path for f in files if rel(tailer.root, f.path) not in skip]
            history = committed_frames(tailer.root, kept, tables_to_polars(tables), to_ns(since), to_ns(until))
        tailer._seen_parquet = {f.name for f in files}
        return history, tailer

    def _read_wal(self, *, deliver: bool) -> list[pa.Table]:
        tables: list[pa.Table] = []
        live = set()
        skip = superseded(self.root)  # a crashed compactor's sources, already in Parquet
        for seg in list_segments(self.root):
            live.add(seg.key)
            if seg.key in self._replaced or rel(self.root, seg.path) in skip:
                continue
            offset = self.offsets.get(seg.key, 0)
            try:
                with os.fdopen(os.open(seg.path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as fh:
                    fh.seek(offset)
                    data = fh.read()
            except FileNotFoundError:
                continue
            read = read_table(data, sealed=seg.sealed, has_header=offset == 0)
            self.offsets[seg.key] = offset + read.end
            self.counts[seg.key] = self.counts.get(seg.key, 0) + read.table.num_rows
            if deliver and read.table.num_rows:
                tables.append(read.table)
        for key in set(self.offsets) - live:
            self._vanished.setdefault(key, 0)
        self._replaced &= live
        return tables

    def _read_successors(self) -> pl.DataFrame | None:
        """Rows of vanished segments that we had not delivered, from their new Parquet files."""
        parts = []
        for f in list_parquet(self.root):
            if f.name in self._seen_parquet:
                continue
            self._seen_parquet.add(f.name)
            if f.kind != KIND_WAL:
                continue
            try:
                _, sources = read_sources(f.path)
            except NOT_DAMAGE:
                raise
            except DAMAGE_ERRORS:
                quarantine_parquet(self.root, f.path)
                continue
            start = 0
            ranges = []
            for src in sources:
                key, n = src["segment"], int(src["rows"])
                done = self.counts.get(key, 0) if key in self.offsets else 0
                if done < n:
                    ranges.append((start + done, n - done))
                for table in (self.offsets, self.counts, self._vanished):
                    table.pop(key, None)
                self._replaced.add(key)  # its file may outlive the rename by a moment: never reread it
                start += n
            if ranges:
                table = read_or_quarantine(self.root, f.path)
                if table is None:
                    continue  # damaged: its rows are lost to this tailer; `check` counts the quarantined file
                parts.extend(pl.from_arrow(table.slice(s, n)) for s, n in ranges)
        for key in list(self._vanished):
            self._vanished[key] += 1
            if self._vanished[key] > FORGET_AFTER_POLLS:
                for table in (self.offsets, self.counts, self._vanished):
                    table.pop(key, None)
        return pl.concat(parts) if parts else None  # type: ignore[return-value]

    def poll(self) -> pl.DataFrame | None:
        """New frames (executions) since the last poll, or None. Account frames that arrive meanwhile are kept
        for `take_accounts`: they are not executions."""
        with gc_paused():
            tables = self._read_wal(deliver=True)
            frames = [tables_to_polars(tables)] if tables else []
        successors = self._read_successors()  # after the WAL listing: rename happens before unlink
        if successors is not None:
            frames.append(successors)
        if not frames:
            return None
        out = pl.concat(frames) if len(frames) > 1 else frames[0]
        is_account = pl.col("unrecorded").is_not_null()
        if out.select(is_account.any()).item():
            self._accounts.append(account_rows(out.filter(is_account)).collect())
            out = out.filter(~is_account)
            if out.height == 0:
                return None
        self.delivered += out.height
        return out

    def take_accounts(self) -> pl.DataFrame | None:
        """The account frames (`store.unrecorded`'s columns) polled since the last call, or None."""
        if not self._accounts:
            return None
        out, self._accounts = pl.concat(self._accounts), []
        return out


def tail(
    root: str | os.PathLike[str] | None = None,
    *,
    stop_event: threading.Event | None = None,
    from_start: bool = False,
    rescan_s: float = 15.0,
    shared: bool = False,
) -> Iterator[pl.DataFrame]:
    """Yield DataFrames of new frames shortly after they are flushed, until stop_event is set.

    watchfiles (inotify) wakes us within about 10 ms with step=5, debounce=50 (measured here);
    a full poll every `rescan_s` seconds catches any missed notification, as Prometheus does.
    """
    import watchfiles

    tailer = Tailer(root, from_start=from_start, shared=shared)
    first = tailer.poll()
    if first is not None:
        yield first
    # A reader creates nothing: without both subdirectories yet, watch the whole root.
    watched = [tailer.root / sub for sub in (WAL_DIR, PARQUET_DIR)]
    for _changes in watchfiles.watch(
        *(watched if all(p.is_dir() for p in watched) else [tailer.root]),
        step=5,
        debounce=50,
        rust_timeout=int(rescan_s * 1000),
        yield_on_timeout=True,
        stop_event=stop_event,
        recursive=True,
    ):
        frame = tailer.poll()
        if frame is not None:
            yield frame
