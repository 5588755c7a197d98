"""Retention: drop expired frames by age (whole files, and the expired rows of a file that straddles the
cut), then optionally whole files, oldest first, by total size. Rollups (`rollups`) have their own age, longer
by default (config `advanced.retention_days` 7, `advanced.rollup_retention_days` 90): long windows keep
answering from rollups after the raw frames behind them are gone."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from smythtop.store import rollups
from smythtop.store.catalog import list_parquet, rel, write_journal
from smythtop.store.compaction import publish, publish_sorted
from smythtop.store.errors import StoreUnavailable
from smythtop.store.framefile import rolled_up
from smythtop.store.layout import open_store
from smythtop.store.locks import compactor_lock
from smythtop.store.paths import ROLLUP_DIR, TMP_PREFIX, resolve_root
from smythtop.store.pqfiles import read_or_quarantine

NS_PER_DAY = 86_400 * 1_000_000_000


@dataclass
class RetentionResult:
    removed: list[str] = field(default_factory=list)
    removed_bytes: int = 0
    kept_files: int = 0
    kept_bytes: int = 0
    trimmed: list[str] = field(default_factory=list)  # files that straddled the cut, rewritten without it
    trimmed_frames: int = 0  # expired frames dropped from those files
    quarantined: list[str] = field(default_factory=list)  # damaged files met while trimming, moved aside
    rollups_removed: list[str] = field(default_factory=list)  # rollup files older than `rollup_days`
    rollups_trimmed: list[str] = field(default_factory=list)  # rollup files rewritten without their old minutes


def apply_retention(
    root: str | os.PathLike[str] | None = None,
    *,
    days: float,
    max_bytes: int | None = None,
    rollup_days: float | None = None,
    now_ns: int | None = None,
    shared: bool = False,
) -> RetentionResult:
    """Remove frames older than `days`: whole files whose newest frame is, and the older rows of a file
    that straddles the cut (rewritten with the rest). Then remove the oldest files until the Parquet
    total is at most `max_bytes`. WAL frames are never removed here: compact first. With `rollup_days`,
    remove the rollup minutes older than that the same way (rollups are not counted in `max_bytes`)."""
    path = resolve_root(root)
    result = RetentionResult()
    if not path.exists():
        return result
    now = now_ns if now_ns is not None else time.time_ns()
    cutoff = now - int(days * NS_PER_DAY)
    try:
        open_store(path, write=True, shared=shared)
        doomed, kept = _select_and_delete(path, cutoff, max_bytes, result)
        if rollup_days is not None:
            _expire_rollups(path, now - int(rollup_days * NS_PER_DAY), result)
    except StoreUnavailable:
        raise  # a refused store (`open_store`) already says what and where
    except OSError as exc:
        raise StoreUnavailable(f"cannot apply retention to store {path}: {exc.strerror or exc}") from exc
    result.removed = [f.name for f, _ in doomed]
    result.removed_bytes = sum(size for _, size in doomed)
    result.kept_files = len(kept)
    result.kept_bytes = sum(size for _, size in kept)
    return result


def _trim(path: Path, cutoff: int, result: RetentionResult) -> None:
    """Rewrite each file with frames on both sides of the cut keeping only those at or after it.

    A file's name range spans all its rows, so one frame dated far ahead (issue 13: one from 2262)
    kept a file of old frames forever when retention looked at names only. The new file's range comes
    from the rows kept. Costs one rewrite of the few files at the cut per run."""
    for f in list_parquet(path):
        if not f.min_ts < cutoff <= f.max_ts:
            continue
        table = read_or_quarantine(path, f.path)
        if table is None:
            result.quarantined.append(f.name)
            continue
        keep = table.filter(pc.greater_equal(table.column("ts").cast(pa.int64()), cutoff))
        if keep.num_rows == table.num_rows:
            continue  # its name said otherwise (a foreign writer's file): nothing expired
        sources = [rel(path, f.path)]
        if keep.num_rows:
            publish_sorted(path, keep, sources, rolled_up=rolled_up(f.path))
        else:
            publish(path, None, None, sources)
        result.trimmed.append(f.name)
        result.trimmed_frames += table.num_rows - keep.num_rows


def _expire_rollups(path: Path, cutoff: int, result: RetentionResult) -> None:
    """Delete rollup files whose last minute starts before the cut; rewrite one that straddles it without
    the minutes that start before it (a minute is kept or dropped whole). The cut moves back to its hour, so
    the minute and hour tiers (`rollups`) keep the same frames."""
    cutoff = cutoff // rollups.HOUR_NS * rollups.HOUR_NS
    with compactor_lock(path, wait=True):
        doomed = []
        for f in rollups.list_rollups(path):
            if f.max_ts < cutoff:
                doomed.append(f)
            elif f.min_ts < cutoff:
                rows = rollups.read(path, f.path, lo=cutoff)
                if rows is None:
                    result.quarantined.append(f.name)
                    continue
                source = [rel(path, f.path)]
                name = rollups.name_of(rows, f.kind)  # keeps its tier (`rollups`: the kind letter)
                tmp = path / ROLLUP_DIR / f"{TMP_PREFIX}{name}"
                rollups.write(rows, tmp, sources=source)
                publish(path, tmp, write_journal(path, f"{ROLLUP_DIR}/{name}", source), source)
                result.rollups_trimmed.append(f.name)
        if doomed:
            publish(path, None, None, [rel(path, f.path) for f in doomed])
        result.rollups_removed = [f.name for f in doomed]


def _select_and_delete(path: Path, cutoff: int, max_bytes: int | None, result: RetentionResult) -> tuple[list, list]:
    with compactor_lock(path, wait=True):  # never race a merge that reads these files
        _trim(path, cutoff, result)
        files = [(f, f.path.stat().st_size) for f in list_parquet(path)]
        doomed = [(f, size) for f, size in files if f.max_ts < cutoff]
        kept = [(f, size) for f, size in files if f.max_ts >= cutoff]
        if max_bytes is not None:
            kept.sort(key=lambda fs: fs[0].max_ts)
            total = sum(size for _, size in kept)
            while kept and total > max_bytes:
                f, size = kept.pop(0)
                doomed.append((f, size))
                total -= size
        if doomed:
            publish(path, None, None, [rel(path, f.path) for f, _ in doomed])
    return doomed, kept
