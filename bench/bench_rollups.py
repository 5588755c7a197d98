"""Long windows from rollups (issue 11, section 2): a 24 h report from the store's per-minute rollups against the
same report from raw frames, on one store, quiet and with a CPU hog on one core.

The store holds N frames of the realistic mix over 24 h (`SMYTHTOP_BENCH_ROLLUP_FRAMES`, default 10M; the
issue's goal is stated at 100M), written as compaction writes them (frame file v2 plus a rollup file per 1M
frames, the rollups then merged as the compactor merges them), built once into $SMYTHTOP_BENCH_DATA (default
the temp dir) and reused. Each figure is the median of ROUNDS runs in this process, the two paths alternating
so that both see the same load; the raw path is skipped above RAW_MAX_FRAMES (it reads every frame).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
from smythtop.analysis import longwindow
from smythtop.analysis.report import build_live, live_from_cube
from smythtop.analysis.thresholds import Thresholds
from smythtop.store import rollups
from smythtop.store.catalog import KIND_WAL, parquet_name
from smythtop.store.compaction import write_parquet
from smythtop.store.paths import PARQUET_DIR, ROLLUP_DIR

from bench.bench_analysis import cpu_hog
from bench.frames import DEFAULT_START_NS, realistic_table
from bench.harness import Table
from smythtop import store

DAY_NS = 86_400 * 10**9
CHUNK = 1_000_000  # frames per compacted file, as the compactor's MAX_ROWS_PER_FILE
ROUNDS = 3
RAW_MAX_FRAMES = 20_000_000


def _frames() -> int:
    return int(os.environ.get("SMYTHTOP_BENCH_ROLLUP_FRAMES") or 10_000_000)


def rollup_store(n: int) -> Path:
    """n frames over 24 h, frames files and rollups as compaction writes them; built once and reused."""
    root = Path(os.environ.get("SMYTHTOP_BENCH_DATA") or tempfile.gettempdir()) / f"smythtop-bench-rollups-{n}"
    marker = root / "READY"
    if marker.exists():
        return root
    store.Writer(root).close()  # marks the store
    for sub in (PARQUET_DIR, ROLLUP_DIR):
        (root / sub).mkdir(exist_ok=True)
    chunks = -(-n // CHUNK)
    for i in range(chunks):
        per = min(CHUNK, n - i * CHUNK)
        span = DAY_NS // chunks
        table = realistic_table(per, seed=500 + i, start_ns=DEFAULT_START_NS + i * span, span_s=span / 1e9)
        ts = table.column("ts").cast("int64").to_numpy()
        write_parquet(table, root / PARQUET_DIR / parquet_name(int(ts.min()), int(ts.max()), KIND_WAL), sources=[],
                      kind=KIND_WAL, rolled_up=True)  # fmt: skip
        rows = rollups.aggregate(pl.from_arrow(table))  # type: ignore[arg-type]
        rollups.write(rows, root / ROLLUP_DIR / rollups.name_of(rows, KIND_WAL), sources=[])
        print(f"  built chunk {i + 1}/{chunks}", flush=True)
    store.compact(root, merge_min_age_s=0.0)  # merges the rollup files as the compactor would
    marker.write_text(json.dumps({"frames": n, "start_ns": DEFAULT_START_NS}))
    return root


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(table: Table) -> None:
    n = _frames()
    root = rollup_store(n)
    th = Thresholds()
    lo, hi = DEFAULT_START_NS, DEFAULT_START_NS + DAY_NS
    win = longwindow.window_for(lo, hi)

    def from_rollups() -> None:
        scan = store.scan_rollups(root, lo, hi)
        live_from_cube(longwindow.cube_of(scan.sums, scan.sketch, scan.wal, win, th), store.scan(root, lo, hi), th)

    def from_raw() -> None:
        build_live(store.scan(root, win.start_ns, win.end_ns), window_from=win.start_ns, window_to=win.end_ns,
                   thresholds=th, bucket_ns=win.bucket_ns)  # fmt: skip

    scan = store.scan_rollups(root, lo, hi)
    rows = scan.rows.height
    table.add("rollups", f"rollup rows for 24 h of {n:,} frames", rows, "rows", "",
              f"{rows / n:.3f} per frame; {scan.files} files")  # fmt: skip
    rollup_bytes = sum(p.stat().st_size for p in (root / ROLLUP_DIR).glob("*.parquet"))
    table.add("rollups", "rollup bytes per frame", rollup_bytes / n, "B/frame")
    paths = {"rollups": from_rollups, **({"raw": from_raw} if n <= RAW_MAX_FRAMES else {})}
    for hog in (False, True):
        with cpu_hog(hog):
            times: dict[str, list[float]] = {name: [] for name in paths}
            for _ in range(ROUNDS):
                for name, fn in paths.items():
                    times[name].append(_timed(fn))
        label = "CPU hog on one core" if hog else "quiet"
        med = {name: statistics.median(v) for name, v in times.items()}
        peer = f"raw frames {med['raw']:.2f} s, {med['raw'] / med['rollups']:.1f}x" if "raw" in med else ""
        goal = "<= 1 s at 100M" if n >= 100_000_000 else "(goal at 100M: <= 1 s)"
        table.add("rollups", f"24 h window (live part) from rollups, {n:,} frames, {label}", med["rollups"], "s", goal,
                  peer)  # fmt: skip
