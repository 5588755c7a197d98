"""`check`: what the store holds and what is damaged, without changing anything."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from smythtop.store.catalog import (
    ParquetFile,
    list_journals,
    list_parquet,
    orphaned,
    parse_parquet_name,
    rel,
    superseded,
)
from smythtop.store.columns import read_table
from smythtop.store.layout import KNOWN_NAMES, open_store
from smythtop.store.paths import (
    JOURNAL_DIR,
    PARQUET_DIR,
    PARQUET_SUFFIX,
    QUARANTINE_DIR,
    ROLLUP_DIR,
    TMP_PREFIX,
    WAL_DIR,
    WRITER_LOCK,
    read_nofollow,
    resolve_root,
)
from smythtop.store.pqfiles import DAMAGE_ERRORS, NOT_DAMAGE, verify
from smythtop.store.wal import is_segment_name, list_segments, writer_dirs


@dataclass
class CheckReport:
    root: str
    writers_alive: int = 0
    writers_dead: int = 0
    wal_segments: int = 0
    wal_frames: int = 0
    wal_bytes: int = 0
    parquet_files: int = 0
    parquet_frames: int = 0
    parquet_bytes: int = 0
    rollup_files: int = 0  # per-minute aggregates (store/rollups.py); damaged ones are listed in unreadable_parquet
    rollup_bytes: int = 0
    damaged_regions: int = 0  # in WAL segments, not yet quarantined (the next compaction will)
    damaged_bytes: int = 0
    unreadable_parquet: list[str] = field(default_factory=list)  # truncated, or a page fails its checksum
    quarantined_files: int = 0
    quarantined_parquet: int = 0  # of the quarantined files, whole damaged Parquet files
    quarantined_bytes: int = 0
    pending_journals: int = 0  # an interrupted compaction; the next `compact` finishes it
    unknown_files: list[str] = field(default_factory=list)  # not written by smythtop: never read, never deleted
    oldest_ts: int | None = None
    newest_ts: int | None = None

    @property
    def frames(self) -> int:
        return self.wal_frames + self.parquet_frames

    @property
    def ok(self) -> bool:
        return not (self.damaged_bytes or self.unreadable_parquet or self.unknown_files)

    def to_dict(self) -> dict:
        return {**asdict(self), "frames": self.frames, "ok": self.ok}


# A published file never changes in place (a rewrite gets a new name), so this process verifies each
# file's pages once, keyed by its identity: the app's health check every 30 s would otherwise decode
# the whole store each time. A new process (`smythtop store check`) verifies everything again.
_verified: dict[Path, tuple[tuple[int, int, int], int]] = {}


def _verified_rows(path: Path, st: os.stat_result) -> int:
    """The file's row count, every page checked against its checksum (once per file per process)."""
    identity = (st.st_ino, st.st_size, st.st_mtime_ns)
    cached = _verified.get(path)
    if cached is not None and cached[0] == identity:
        return cached[1]
    rows = verify(path)  # a bit flip is damage, not a value
    _verified[path] = (identity, rows)
    return rows


@dataclass(frozen=True)
class _Segment:
    """What `check` counts of one WAL segment."""

    bytes: int
    frames: int
    damaged_regions: int
    damaged_bytes: int
    oldest_ts: int = 0
    newest_ts: int = 0


# A sealed segment never changes (its writer moved on; compaction only deletes it), so the app's periodic check
# reads it once per process, as it verifies a Parquet file once: re-reading every segment each time cost the live
# app ~2 s of decoding every 30 s at 10K frames/s (a stall of the ticks that shared the process with it)
_segments: dict[Path, tuple[tuple[int, int, int], _Segment]] = {}


def _segment(path: Path, sealed: bool) -> _Segment:
    """The segment's frames, damage and time range (a sealed one's remembered by its identity)."""
    if sealed:
        st = path.stat()
        identity = (st.st_ino, st.st_size, st.st_mtime_ns)
        cached = _segments.get(path)
        if cached is not None and cached[0] == identity:
            return cached[1]
    data = read_nofollow(path)
    read = read_table(data, sealed=sealed)  # the same frames and damage as `read_records`, decoded by column
    lo = hi = 0
    if read.table.num_rows:
        lo, hi = (v.as_py() for v in pc.min_max(read.table.column("ts").cast(pa.int64())).values())
    seen = _Segment(len(data), read.table.num_rows, len(read.damage), sum(d.length for d in read.damage), lo, hi)
    if sealed:
        _segments[path] = (identity, seen)
    return seen


def _extend_range(report: CheckReport, lo: int, hi: int) -> None:
    report.oldest_ts = lo if report.oldest_ts is None else min(report.oldest_ts, lo)
    report.newest_ts = hi if report.newest_ts is None else max(report.newest_ts, hi)


def check(root: str | os.PathLike[str] | None = None, *, shared: bool = False) -> CheckReport:
    """Read every WAL segment and every Parquet page (checksums verified, once per file per process) and report
    counts, damage, time range and the files smythtop did not write (a stray `junk.wal`, a symlink): `ok` is
    False while there are any."""
    path = resolve_root(root)
    open_store(path, write=False, shared=shared)
    report = CheckReport(root=str(path))
    skip = superseded(path)
    writers: dict[str, bool] = {}
    segments = list_segments(path)
    for seg in segments:
        if rel(path, seg.path) in skip:
            continue
        try:
            seen = _segment(seg.path, seg.sealed)
        except FileNotFoundError:
            continue
        writers[seg.writer] = writers.get(seg.writer, False) or not seg.sealed
        report.wal_segments += 1
        report.wal_bytes += seen.bytes
        report.wal_frames += seen.frames
        report.damaged_regions += seen.damaged_regions
        report.damaged_bytes += seen.damaged_bytes
        if seen.frames:
            _extend_range(report, seen.oldest_ts, seen.newest_ts)
    live = {seg.path for seg in segments}
    for gone in [p for p in _segments if p.is_relative_to(path) and p not in live]:
        _segments.pop(gone, None)
    report.writers_alive = sum(writers.values())
    report.writers_dead = len(writers) - report.writers_alive
    for f, size, rows in _readable(path, PARQUET_DIR, skip, report):
        report.parquet_files += 1
        report.parquet_frames += rows
        report.parquet_bytes += size
        if rows:
            _extend_range(report, f.min_ts, f.max_ts)
    for _, size, _ in _readable(path, ROLLUP_DIR, skip | orphaned(path), report):
        report.rollup_files += 1
        report.rollup_bytes += size
    listed = {f.path for f in (*list_parquet(path), *list_parquet(path, ROLLUP_DIR))}
    for gone in [p for p in _verified if p.is_relative_to(path) and p not in listed]:
        _verified.pop(gone, None)
    for q in _files(path / QUARANTINE_DIR):
        report.quarantined_files += 1
        report.quarantined_bytes += q.stat().st_size
        report.quarantined_parquet += q.name.endswith(PARQUET_SUFFIX)
    report.pending_journals = len(list_journals(path))
    report.unknown_files = unknown_files(path)
    return report


def _readable(
    root: Path, directory: str, skip: set[str], report: CheckReport
) -> Iterator[tuple[ParquetFile, int, int]]:
    """(file, bytes, rows) of each published file in `directory` whose pages pass their checksums; the others
    go to `report.unreadable_parquet` (rollup files named with their directory)."""
    prefix = "" if directory == PARQUET_DIR else f"{directory}/"
    for f in list_parquet(root, directory):
        if rel(root, f.path) in skip:
            continue
        try:
            st = f.path.stat()
            rows = _verified_rows(f.path, st)
        except FileNotFoundError:
            continue
        except NOT_DAMAGE:
            raise
        except DAMAGE_ERRORS as exc:
            report.unreadable_parquet.append(f"{prefix}{f.name}: {exc}")
            continue
        yield f, st.st_size, rows


def unknown_files(root: Path) -> list[str]:
    """Store-relative names of entries smythtop did not make: by name, and by type with `lstat` (a symlink
    is always unknown). Temp files (`.tmp-*`) are ours; `compact` removes stale ones."""
    journals = {j.path.name for j in list_journals(root)}
    expected: dict[str, Callable[[os.DirEntry], bool]] = {
        JOURNAL_DIR: lambda e: e.name in journals and _regular(e),
        PARQUET_DIR: lambda e: parse_parquet_name(Path(e.name)) is not None and _regular(e),
        ROLLUP_DIR: lambda e: parse_parquet_name(Path(e.name)) is not None and _regular(e),
        QUARANTINE_DIR: _regular,
        WAL_DIR: lambda e: e.is_dir(follow_symlinks=False),
    }
    out = [e.name for e in _entries(root) if e.name not in KNOWN_NAMES and not e.name.startswith(TMP_PREFIX)]
    for sub, ours in expected.items():
        out += [f"{sub}/{e.name}" for e in _entries(root / sub) if not e.name.startswith(TMP_PREFIX) and not ours(e)]
    for directory in writer_dirs(root):
        out += [
            rel(root, Path(e.path))
            for e in _entries(directory)
            if not (e.name == WRITER_LOCK or is_segment_name(e.name)) or not _regular(e)
        ]
    return sorted(out)


def _regular(entry: os.DirEntry) -> bool:
    return entry.is_file(follow_symlinks=False)


def _entries(directory: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(directory) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _files(directory: Path) -> list[Path]:
    try:
        return [p for p in directory.iterdir() if p.is_file()]
    except FileNotFoundError:
        return []
