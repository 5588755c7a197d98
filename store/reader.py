"""Read every committed frame: the Parquet files plus the WAL frames not yet compacted."""

from __future__ import annotations

import errno
import os
import threading
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
from polars.io.plugins import register_io_source
from smythtop.store.catalog import list_parquet, parse_parquet_name, rel, superseded
from smythtop.store.columns import polars_schema, read_table, tables_to_polars
from smythtop.store.framing import gc_paused
from smythtop.store.layout import open_store
from smythtop.store.locks import read_lock
from smythtop.store.paths import read_nofollow, resolve_root
from smythtop.store.pqfiles import read_or_quarantine
from smythtop.store.schema import ACCOUNT_REASON_TAG
from smythtop.store.wal import list_segments

TimeBound = datetime | int | None
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ns(value: TimeBound) -> int | None:
    """A datetime (naive means UTC) or an int of ns since the epoch, as ns."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return (value - _EPOCH) // timedelta(microseconds=1) * 1000  # exact: no float rounding
    raise TypeError(f"since/until must be a datetime or an int of ns, not {type(value).__name__}")


# Sealed segments never change, so their decoded frames are kept per process until compacted
# away: a repeated scan then decodes only the live segments (bench_store: a 100K-frame WAL cost
# 2.3 s per scan when decoded every time).
_sealed_cache: dict[Path, tuple[int, pl.DataFrame]] = {}


def _read_wal_frames(root: Path, skip: set[str]) -> pl.DataFrame:
    frames: list[pl.DataFrame] = []
    live: list[pa.Table] = []
    listed = set()
    with gc_paused():
        for seg in list_segments(root):
            if rel(root, seg.path) in skip:
                continue
            listed.add(seg.path)
            cached = _sealed_cache.get(seg.path) if seg.sealed else None
            try:
                if cached is not None and cached[0] == seg.path.stat().st_size:
                    frames.append(cached[1])
                    continue
                data = read_nofollow(seg.path)
            except FileNotFoundError:
                continue  # compacted since listing; the publish lock makes its Parquet visible instead
            table = read_table(data, sealed=seg.sealed).table
            if seg.sealed:
                frame = tables_to_polars([table])
                _sealed_cache[seg.path] = (len(data), frame)
                frames.append(frame)
            else:
                live.append(table)
        frames.append(tables_to_polars(live))
    for path in [p for p in _sealed_cache if p not in listed and p.is_relative_to(root)]:
        _sealed_cache.pop(path, None)
    return pl.concat(frames) if len(frames) > 1 else frames[0]


def read_wal(root: str | os.PathLike[str] | None = None, *, shared: bool = False) -> pl.DataFrame:
    """The frames still in WAL segments (damaged bytes skipped; `check` counts them)."""
    path = resolve_root(root)
    open_store(path, write=False, shared=shared)
    with read_lock(path):
        return _read_wal_frames(path, superseded(path))


def scan(
    root: str | os.PathLike[str] | None = None,
    since: TimeBound = None,
    until: TimeBound = None,
    *,
    shared: bool = False,
) -> pl.LazyFrame:
    """A LazyFrame of every committed frame with `since <= ts < until`, as of this call. Creates no file in
    the store.

    Parquet files are pruned by the time range in their names, then by row-group statistics. They are
    opened here, under the read lock, so a retention or merge that deletes them before the frame is
    collected changes nothing: the open files keep their bytes until the LazyFrame is dropped.
    """
    return _committed(root, since, until, shared=shared, accounts=False)


def unrecorded(
    root: str | os.PathLike[str] | None = None,
    since: TimeBound = None,
    until: TimeBound = None,
    *,
    shared: bool = False,
) -> pl.LazyFrame:
    """The account frames with `since <= ts < until`: executions the recorder could not record (docs/FORMAT.md,
    "Account frames"), as ts, agent_id, component, unrecorded (executions, weighted) and reason."""
    return account_rows(_committed(root, since, until, shared=shared, accounts=True))


def account_rows(frames: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """Account frames reduced to what they say: ts, agent_id, component, unrecorded, reason."""
    return frames.lazy().select(
        "ts", "agent_id", "component", "unrecorded", reason=pl.col("tags").map.get(ACCOUNT_REASON_TAG)
    )


def _committed(root: str | os.PathLike[str] | None, since: TimeBound, until: TimeBound, *, shared: bool,
               accounts: bool) -> pl.LazyFrame:  # fmt: skip
    path = resolve_root(root)
    open_store(path, write=False, shared=shared)
    lo, hi = to_ns(since), to_ns(until)
    with read_lock(path):
        skip = superseded(path)
        files = [f.path for f in list_parquet(path) if rel(path, f.path) not in skip]
        wal = _read_wal_frames(path, skip)
        return committed_frames(path, files, wal, lo, hi, accounts=accounts)


def committed_frames(
    root: Path, files: list[Path], wal: pl.DataFrame, lo: int | None, hi: int | None, *, accounts: bool = False
) -> pl.LazyFrame:
    """Parquet files (pruned by the time range in their names) plus WAL frames, within [lo, hi): the executions,
    or with `accounts` the account frames (`unrecorded` set), which are never executions.

    Call it under the read lock: it opens the files it keeps (see `OpenFiles`)."""
    kept = []
    for path in files:
        f = parse_parquet_name(path)
        if f is not None and (lo is None or f.max_ts >= lo) and (hi is None or f.min_ts < hi):
            kept.append(path)
    parts = [OpenFiles(root, kept, accounts=accounts).lazy(lo, hi)] if kept else []
    parts.append(wal.lazy())
    frame = pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]
    if lo is not None:
        frame = frame.filter(pl.col("ts") >= pl.lit(lo).cast(pl.Datetime("ns", "UTC")))
    if hi is not None:
        frame = frame.filter(pl.col("ts") < pl.lit(hi).cast(pl.Datetime("ns", "UTC")))
    return frame.filter(pl.col("unrecorded").is_not_null() if accounts else pl.col("unrecorded").is_null())


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


class OpenFiles:
    """Published Parquet files opened at scan time and read, checksums verified, when collected.

    An open file outlives the unlink by retention or a merge, so a LazyFrame collected late still reads
    exactly what was committed at scan time (issue 13: 12 of 209 scans racing retention failed with
    FileNotFoundError). The descriptors close when the last LazyFrame using them is dropped. A damaged
    file (bad page checksum, truncated) is skipped and moved to `quarantine/`; the rest is returned.
    With `accounts` only account frames are read, row groups without one skipped by their statistics.
    """

    def __init__(self, root: Path, paths: list[Path], *, accounts: bool = False) -> None:
        self.root = root
        self.accounts = accounts
        self.files: list[tuple[Path, int]] = []
        for path in paths:
            try:
                self.files.append((path, os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)))
            except FileNotFoundError:
                continue  # quarantined by another reader since it was listed
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                continue  # a symlink is never a published file: not followed out of the store
        self._lock = threading.Lock()  # the descriptors share one file offset: one reader at a time
        weakref.finalize(self, _close_all, [fd for _, fd in self.files])

    def lazy(self, lo: int | None, hi: int | None) -> pl.LazyFrame:
        schema = polars_schema()

        def source(
            with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, _batch_size: int | None
        ) -> Iterator[pl.DataFrame]:
            left = n_rows
            for path, fd in self.files:
                if left is not None and left <= 0:
                    return
                frame = self._read(path, fd, with_columns or list(schema), lo, hi)
                if frame is None:
                    continue
                if predicate is not None:
                    frame = frame.filter(predicate)
                if left is not None:
                    frame = frame.head(left)
                    left -= frame.height
                yield frame

        return register_io_source(source, schema=schema, explain_name="smythtop.store")

    def _read(self, path: Path, fd: int, columns: list[str], lo: int | None, hi: int | None) -> pl.DataFrame | None:
        with self._lock, os.fdopen(os.dup(fd), "rb") as fh:
            table = read_or_quarantine(self.root, path, fh, columns, lo, hi, accounts=self.accounts)
        return None if table is None else pl.from_arrow(table)  # type: ignore[return-value]
