"""WAL segments to zstd Parquet, and small Parquet files merged, with at most one compactor.

Each output follows the same publish protocol (after Prometheus' and VictoriaMetrics' temp + sync
+ rename): write `.tmp-*`, fsync, write a journal naming target and sources, then under the publish
lock rename into place, fsync the directory, delete the sources, drop the journal. A crash at any
point leaves either the sources or the target visible to readers, never both (see `catalog`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from smythtop.store import rollups
from smythtop.store.catalog import (
    KIND_MERGE,
    KIND_WAL,
    SOURCES_KEY,
    Journal,
    ParquetFile,
    list_journals,
    list_parquet,
    parquet_name,
    rel,
    write_journal,
)
from smythtop.store.columns import ARROW_SCHEMA, read_table
from smythtop.store.errors import StoreUnavailable
from smythtop.store.framefile import ROLLED_UP_KEY, WRITE_OPTIONS, rolled_up, to_v2
from smythtop.store.framing import Damage
from smythtop.store.layout import open_store
from smythtop.store.locks import compactor_lock, publish_lock
from smythtop.store.paths import (
    FILE_MODE,
    JOURNAL_DIR,
    PARQUET_DIR,
    QUARANTINE_DIR,
    ROLLUP_DIR,
    TMP_PREFIX,
    WAL_DIR,
    WRITER_LOCK,
    atomic_write_bytes,
    ensure_dir,
    fsync_dir,
    read_nofollow,
    resolve_root,
    unlink_in_store,
    unlink_quiet,
)
from smythtop.store.pqfiles import DAMAGE_ERRORS, NOT_DAMAGE, quarantine_parquet, read_or_quarantine
from smythtop.store.wal import Segment, list_segments, writer_alive, writer_dirs

MAX_ROWS_PER_FILE = 1_000_000
ROW_GROUP_ROWS = 128 * 1024
MERGE_MIN_FILES = 4
MERGE_SMALL_BYTES = 8 << 20
MERGE_MIN_AGE_S = 60.0
ZSTD_LEVEL = 3  # measured: level 9 saves 1.5 B/frame for twice the write time; 3 ~ 6 in size
STALE_WRITER_SETUP_S = 60.0


@dataclass
class CompactionResult:
    busy: bool = False  # another compactor held the lock; nothing was done
    segments_compacted: int = 0
    frames_written: int = 0
    files_written: list[str] = field(default_factory=list)
    files_merged: int = 0
    quarantined_regions: int = 0
    quarantined_bytes: int = 0
    journals_recovered: int = 0
    temp_files_removed: int = 0
    parquet_quarantined: list[str] = field(default_factory=list)  # damaged files the merge moved aside
    rollups_merged: int = 0  # small rollup files re-aggregated into fewer


def write_parquet(
    table: pa.Table, path: Path, *, sources: list[dict] | list[str], kind: str, rolled_up: bool = False
) -> None:
    """Write as frame file v2 (`framefile`) and fsync; provenance goes into the file's key-value metadata, and
    `rolled_up` marks a file whose every row is in the rollups."""
    table = to_v2(table)
    meta = dict(table.schema.metadata or {})
    meta[SOURCES_KEY] = json.dumps({"kind": kind, "sources": sources}).encode()
    if rolled_up:
        meta[ROLLED_UP_KEY] = b"1"
    table = table.replace_schema_metadata(meta)
    # Opened by us with O_EXCL and 0600, so the file is never visible with looser permissions.
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb") as fh:
        pq.write_table(
            table,
            fh,
            compression="zstd",
            compression_level=ZSTD_LEVEL,
            row_group_size=ROW_GROUP_ROWS,
            **WRITE_OPTIONS,  # frame file v2: measured per column (`framefile`)
            write_page_checksum=True,  # a CRC32 per page: readers verify it (`pqfiles`)
        )
        fh.flush()
        os.fsync(fh.fileno())


def read_sources(path: Path) -> tuple[str, list]:
    """(kind, sources) recorded in a Parquet file by the compactor."""
    meta = pq.read_schema(path).metadata or {}
    data = json.loads(meta.get(SOURCES_KEY, b'{"kind": "", "sources": []}'))
    return data["kind"], data["sources"]


def _delete_sources(root: Path, sources: list[str]) -> None:
    """Unlink each source inside the store only (`unlink_in_store`: no symlinked directory, no `..`)."""
    for source in sources:
        unlink_in_store(root, source)


def publish(
    root: Path, tmp: Path | None, journal: Journal | None, sources: list[str], also: tuple[Path, ...] = ()
) -> None:
    """Rename `tmp` into place as the journal's target (if any), then delete `sources`. The `also` temp files
    (the journal's `also`, in order) are renamed first, so a target in place means they are too."""
    with publish_lock(root):
        if journal is not None:
            for done, (path, target) in enumerate(zip(also, journal.also, strict=True)):
                os.rename(path, root / target)
                if done == len(also) - 1:
                    fsync_dir((root / target).parent)
        if tmp is not None and journal is not None:
            os.rename(tmp, root / journal.target)
            fsync_dir(tmp.parent)
        _delete_sources(root, sources)
        if journal is not None:
            journal.path.unlink()
            fsync_dir(journal.path.parent)


def _quarantine(root: Path, seg: Segment, data: bytes, damage: list[Damage], result: CompactionResult) -> None:
    """Copy damaged byte ranges aside; deterministic names make a retried compaction idempotent."""
    directory = ensure_dir(root / QUARANTINE_DIR)
    for d in damage:
        slug = "".join(c if c.isalnum() else "_" for c in d.reason.split(":")[0])[:32]
        atomic_write_bytes(
            directory / f"{seg.writer}-{seg.seq:06d}-{d.offset:012d}-{slug}.bin", data[d.offset : d.offset + d.length]
        )
        result.quarantined_regions += 1
        result.quarantined_bytes += d.length


def _recover(root: Path, result: CompactionResult) -> None:
    """Finish or roll back what a crashed compactor left: journals first, then temp files."""
    for journal in list_journals(root):
        if (root / journal.target).exists():
            publish(root, None, None, list(journal.sources))
        else:  # rolled back: the sources are still in place and will be compacted again
            publish(root, None, None, list(journal.also))
        journal.path.unlink()
        result.journals_recovered += 1
    for sub in (PARQUET_DIR, JOURNAL_DIR, QUARANTINE_DIR, ROLLUP_DIR):
        for tmp in (root / sub).glob(f"{TMP_PREFIX}*"):
            if unlink_quiet(tmp):
                result.temp_files_removed += 1
    now = time.time()
    for directory in (root / WAL_DIR).glob(f"{TMP_PREFIX}*"):
        # A writer sets its dir up in microseconds, but between mkdir and flock it looks dead:
        # only a dir that stayed unlocked for a while is a crashed writer's.
        try:
            st = directory.lstat()  # a symlink here is not a writer's: never followed
        except FileNotFoundError:
            continue
        stale = now - st.st_mtime >= STALE_WRITER_SETUP_S
        if stale and stat.S_ISDIR(st.st_mode) and not writer_alive(directory):
            shutil.rmtree(directory, ignore_errors=True)
            result.temp_files_removed += 1


def _flush_group(
    root: Path, tables: list[pa.Table], sources: list[dict], paths: list[str], result: CompactionResult
) -> None:
    frames = sum(t.num_rows for t in tables)
    if not frames:
        publish(root, None, None, paths)  # every byte was quarantined: nothing to replace them
        return
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    ts = table.column("ts").cast(pa.int64())
    name = parquet_name(pa.compute.min(ts).as_py(), pa.compute.max(ts).as_py(), KIND_WAL)
    tmp = root / PARQUET_DIR / f"{TMP_PREFIX}{name}"
    write_parquet(table, tmp, sources=sources, kind=KIND_WAL, rolled_up=True)
    # the frames' rollup is published with them (one journal), so every frame leaving the WAL is rolled up once
    # and so are its hour rows (`rollups` tiers): each tier holds every rolled-up frame once
    minutes = rollups.aggregate(pl.from_arrow(table))  # type: ignore[arg-type]
    also, temps = [], []
    for tier, kind in ((minutes, rollups.KIND_MINUTE), (rollups.hourly(minutes), rollups.KIND_HOUR)):
        rollup_name = rollups.name_of(tier, kind)
        temps.append(root / ROLLUP_DIR / f"{TMP_PREFIX}{rollup_name}")
        rollups.write(tier, temps[-1], sources=paths)
        also.append(f"{ROLLUP_DIR}/{rollup_name}")
    journal = write_journal(root, f"{PARQUET_DIR}/{name}", paths, also=also)
    publish(root, tmp, journal, paths, also=tuple(temps))
    result.frames_written += frames
    result.files_written.append(name)


def _compact_wal(root: Path, max_rows: int, result: CompactionResult) -> None:
    tables: list[pa.Table] = []
    rows = 0
    sources: list[dict] = []
    paths: list[str] = []
    for seg in (s for s in list_segments(root) if s.sealed):
        try:
            data = read_nofollow(seg.path)
        except FileNotFoundError:
            continue
        read = read_table(data, sealed=True)  # the frames and damage of `read_records`, decoded by column
        _quarantine(root, seg, data, read.damage, result)
        tables.append(read.table)
        rows += read.table.num_rows
        sources.append({"segment": seg.key, "rows": read.table.num_rows})
        paths.append(rel(root, seg.path))
        result.segments_compacted += 1
        if rows >= max_rows:
            _flush_group(root, tables, sources, paths, result)
            tables, rows, sources, paths = [], 0, [], []
    if paths:
        _flush_group(root, tables, sources, paths, result)
    for directory in writer_dirs(root):  # a writer being set up is not listed; `_recover` removes it once stale
        if not any(directory.glob("*.wal")) and not writer_alive(directory):
            unlink_quiet(directory / WRITER_LOCK)
            with contextlib.suppress(OSError):  # a file we do not own is there: leave it for a human
                directory.rmdir()


def _merge_small(root: Path, max_rows: int, min_age_s: float, result: CompactionResult) -> None:
    """Many small files make queries 1.6-3.2x slower (measured here): merge runs of them."""
    now = time.time()
    small: list[ParquetFile] = []
    for f in list_parquet(root):
        try:
            st = f.path.stat()
        except FileNotFoundError:
            continue
        if st.st_size < MERGE_SMALL_BYTES and now - st.st_mtime >= min_age_s:
            small.append(f)
    if len(small) < MERGE_MIN_FILES:
        return
    groups: list[list[tuple[ParquetFile, int]]] = [[]]
    count = 0
    for f in small:
        try:
            n = pq.read_metadata(f.path).num_rows
        except NOT_DAMAGE:
            raise
        except DAMAGE_ERRORS:
            quarantine_parquet(root, f.path)
            result.parquet_quarantined.append(f.name)
            continue
        if groups[-1] and count + n > max_rows:
            groups.append([])
            count = 0
        groups[-1].append((f, n))
        count += n
    for group in groups:
        tables = _read_group(root, [f for f, _ in group], result)
        if len(tables) < 2:
            continue
        table = pa.concat_tables(table for _, table in tables)
        covered = all(rolled_up(f.path) for f, _ in tables)
        name = publish_sorted(root, table, [rel(root, f.path) for f, _ in tables], rolled_up=covered)
        result.files_written.append(name)
        result.files_merged += len(tables)


def _merge_rollups(root: Path, min_age_s: float, result: CompactionResult) -> None:
    """Each compaction writes small rollup files: re-aggregate runs of them into one per tier (a key's rows add
    up), so a long window reads a few files of distinct keys. Same thresholds and publish protocol as frames
    files. Minute files stay kind `n` (held by the hour tier too) only if every source was."""
    now = time.time()
    small: dict[bool, list[ParquetFile]] = {True: [], False: []}
    for f in rollups.list_rollups(root):
        with contextlib.suppress(FileNotFoundError):
            st = f.path.stat()
            if st.st_size < MERGE_SMALL_BYTES and now - st.st_mtime >= min_age_s:
                small[f.kind == rollups.KIND_HOUR].append(f)
    for hours, files in small.items():
        if len(files) < MERGE_MIN_FILES:
            continue
        parts, sources, kinds = [], [], set()
        for f in files:
            rows = rollups.read(root, f.path)
            if rows is None:
                result.parquet_quarantined.append(f"{ROLLUP_DIR}/{f.name}")
                continue
            parts.append(rows)
            sources.append(rel(root, f.path))
            kinds.add(f.kind)
        if len(parts) < 2:
            continue
        merged = rollups.merge(pl.concat(parts))
        kind = rollups.KIND_HOUR if hours else rollups.KIND_MINUTE if kinds == {rollups.KIND_MINUTE} else KIND_MERGE
        name = rollups.name_of(merged, kind)
        tmp = root / ROLLUP_DIR / f"{TMP_PREFIX}{name}"
        rollups.write(merged, tmp, sources=sources)
        publish(root, tmp, write_journal(root, f"{ROLLUP_DIR}/{name}", sources), sources)
        result.rollups_merged += len(parts)


def publish_sorted(root: Path, table: pa.Table, sources: list[str], *, rolled_up: bool) -> str:
    """Publish `table`'s rows sorted by ts as a kind-m file replacing `sources`; returns its name.

    The name's time range comes from the rows themselves, never from the sources' names, so a range
    that an outlier once stretched shrinks back once the outlier is gone."""
    table = table.sort_by("ts")
    ts = table.column("ts").cast(pa.int64())
    name = parquet_name(pa.compute.min(ts).as_py(), pa.compute.max(ts).as_py(), KIND_MERGE)
    tmp = root / PARQUET_DIR / f"{TMP_PREFIX}{name}"
    write_parquet(
        table.replace_schema_metadata(ARROW_SCHEMA.metadata), tmp, sources=sources, kind=KIND_MERGE, rolled_up=rolled_up
    )
    journal = write_journal(root, f"{PARQUET_DIR}/{name}", sources)
    publish(root, tmp, journal, sources)
    return name


def _read_group(root: Path, files: list[ParquetFile], result: CompactionResult) -> list[tuple[ParquetFile, pa.Table]]:
    """Each file's rows, checksums verified; a damaged file is quarantined and left out of the merge."""
    out = []
    for f in files:
        table = read_or_quarantine(root, f.path)
        if table is None:
            result.parquet_quarantined.append(f.name)
        else:
            out.append((f, table))
    return out


def compact(
    root: str | os.PathLike[str] | None = None,
    *,
    max_rows_per_file: int = MAX_ROWS_PER_FILE,
    merge: bool = True,
    merge_min_age_s: float = MERGE_MIN_AGE_S,
    shared: bool = False,
) -> CompactionResult:
    """Compact sealed and dead-writer segments, then merge small files. Safe to call anytime.

    Refuses (NotAStore, UnsafeStore) a directory that is not a store or is not safe (`open_store`)."""
    path = resolve_root(root)
    result = CompactionResult()
    if not path.exists():
        return result
    try:
        open_store(path, write=True, shared=shared)
        for sub in (PARQUET_DIR, JOURNAL_DIR, QUARANTINE_DIR, WAL_DIR, ROLLUP_DIR):
            ensure_dir(path / sub)
        with compactor_lock(path) as ours:
            if not ours:
                result.busy = True
                return result
            _recover(path, result)
            _compact_wal(path, max_rows_per_file, result)
            if merge:
                _merge_small(path, max_rows_per_file, merge_min_age_s, result)
                _merge_rollups(path, merge_min_age_s, result)
    except StoreUnavailable:
        raise  # a refused store (`open_store`) already says what and where
    except OSError as exc:
        raise StoreUnavailable(f"cannot compact store {path}: {exc.strerror or exc}") from exc
    return result
