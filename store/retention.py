"""Retention: drop whole Parquet files, by age of their newest frame and optionally by total size."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from smythtop.store.catalog import list_parquet, rel
from smythtop.store.compaction import publish
from smythtop.store.errors import StoreUnavailable
from smythtop.store.layout import open_store
from smythtop.store.locks import compactor_lock
from smythtop.store.paths import resolve_root

NS_PER_DAY = 86_400 * 1_000_000_000


@dataclass
class RetentionResult:
    removed: list[str] = field(default_factory=list)
    removed_bytes: int = 0
    kept_files: int = 0
    kept_bytes: int = 0


def apply_retention(
    root: str | os.PathLike[str] | None = None,
    *,
    days: float,
    max_bytes: int | None = None,
    now_ns: int | None = None,
    shared: bool = False,
) -> RetentionResult:
    """Remove files whose newest frame is older than `days`, then the oldest files until the
    Parquet total is at most `max_bytes`. WAL frames are never removed here: compact first."""
    path = resolve_root(root)
    result = RetentionResult()
    if not path.exists():
        return result
    cutoff = (now_ns if now_ns is not None else time.time_ns()) - int(days * NS_PER_DAY)
    try:
        open_store(path, write=True, shared=shared)
        doomed, kept = _select_and_delete(path, cutoff, max_bytes)
    except StoreUnavailable:
        raise  # a refused store (`open_store`) already says what and where
    except OSError as exc:
        raise StoreUnavailable(f"cannot apply retention to store {path}: {exc.strerror or exc}") from exc
    result.removed = [f.name for f, _ in doomed]
    result.removed_bytes = sum(size for _, size in doomed)
    result.kept_files = len(kept)
    result.kept_bytes = sum(size for _, size in kept)
    return result


def _select_and_delete(path: Path, cutoff: int, max_bytes: int | None) -> tuple[list, list]:
    with compactor_lock(path, wait=True):  # never race a merge that reads these files
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
