"""Long windows from rollups (issue 11, section 2): a 24 h report from the store's rollup tiers against the same
report from raw frames, quiet and with a CPU hog on one core.

Two stores, each built once into $SMYTHTOP_BENCH_DATA (default the temp dir) and reused (a READY file says what
it holds):

- the comparison store: N frames of the realistic mix over 24 h (`SMYTHTOP_BENCH_ROLLUP_FRAMES`, default 10M)
  as compaction writes them: frame file v2 plus minute and hour rollup files per 1M frames, the rollups then
  merged as the compactor merges them. Each figure is the median of ROUNDS runs in this process, the two
  paths alternating so that both see the same load (raw frames skipped above RAW_MAX_FRAMES);
- the goal store: BIG frames over 24 h (`SMYTHTOP_BENCH_ROLLUP_BIG`, default 100M) as rollups only: 100M raw
  frames would be ~6 GB of frames files that the rollup path never reads, and generating them takes an hour
  on a loaded machine. It is made of QUARTERS quarter-hour chunks of BIG / QUARTERS frames; the chunks are
  BASES distinct realistic chunks (`rollups.aggregate` of their frames) repeated with `t` shifted, each hour
  of the hour tier the `rollups.hourly` of the BASES quarters together, written with `rollups.write` and merged
  as the compactor merges them. So every hour holds BIG / 24 frames of the realistic mix, and the rollups are
  what compaction would write for them (one chunk's frames repeated 24 times). Its 24 h report is timed
  first-paint style, in a fresh process per run (`_FIRST_PAINT`: scan, cube, live part; then the whole report).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
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
FIRST_PAINT_TIMEOUT_S = 300.0


def _frames() -> int:
    return int(os.environ.get("SMYTHTOP_BENCH_ROLLUP_FRAMES") or 10_000_000)


def _big() -> int:
    return int(os.environ.get("SMYTHTOP_BENCH_ROLLUP_BIG") or 100_000_000)


def _build(n: int, name: str) -> Path:
    """n frames over 24 h: frames files and rollups of both tiers per 1M-frame chunk, merged as the compactor
    merges them; built once and reused."""
    root = Path(os.environ.get("SMYTHTOP_BENCH_DATA") or tempfile.gettempdir()) / f"smythtop-bench-{name}-{n}"
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
        minutes = rollups.aggregate(pl.from_arrow(table))  # type: ignore[arg-type]
        for rows, kind in ((minutes, rollups.KIND_MINUTE), (rollups.hourly(minutes), rollups.KIND_HOUR)):
            rollups.write(rows, root / ROLLUP_DIR / rollups.name_of(rows, kind), sources=[])
        print(f"  {name}: built chunk {i + 1}/{chunks}", flush=True)
    store.compact(root, merge_min_age_s=0.0)  # merges the rollup files as the compactor would
    marker.write_text(json.dumps({"frames": n, "start_ns": DEFAULT_START_NS, "holds": "frames files and rollups"}))
    return root


QUARTERS = 96  # quarter hours in 24 h
BASES = 4  # distinct chunks: one hour's worth


def _build_rollups_only(n: int) -> Path:
    """n frames over 24 h as rollups only (the module docstring says how); built once and reused."""
    name = f"smythtop-bench-rollup-goal-v{rollups.VERSION}-{n}"  # rebuilt when compaction writes rollups anew
    root = Path(os.environ.get("SMYTHTOP_BENCH_DATA") or tempfile.gettempdir()) / name
    marker = root / "READY"
    if marker.exists():
        return root
    store.Writer(root).close()  # marks the store
    (root / ROLLUP_DIR).mkdir(exist_ok=True)
    quarter = 900 * 10**9
    bases = []
    for j in range(BASES):
        table = realistic_table(n // QUARTERS, seed=700 + j, start_ns=DEFAULT_START_NS, span_s=900.0)
        rows = rollups.aggregate(pl.from_arrow(table))  # type: ignore[arg-type]
        bases.append(rows.with_columns(t=pl.col("t") + j * quarter) if j else rows)  # quarter j of the first hour
        print(f"  goal store: base chunk {j + 1}/{BASES}", flush=True)
    hour = rollups.hourly(pl.concat(bases))
    for i in range(QUARTERS):
        h, j = divmod(i, BASES)
        minutes = bases[j].with_columns(t=pl.col("t") + h * rollups.HOUR_NS)
        rollups.write(minutes, root / ROLLUP_DIR / rollups.name_of(minutes, rollups.KIND_MINUTE), sources=[])
        if j == 0:
            hours = hour.with_columns(t=pl.col("t") + h * rollups.HOUR_NS)
            rollups.write(hours, root / ROLLUP_DIR / rollups.name_of(hours, rollups.KIND_HOUR), sources=[])
    store.compact(root, merge_min_age_s=0.0)  # merges the rollup files as the compactor would
    what = "rollups only (both tiers), no frames files"
    marker.write_text(json.dumps({"frames": n // QUARTERS * QUARTERS, "start_ns": DEFAULT_START_NS, "holds": what}))
    return root


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# A fresh process: imports first (not timed: the app and the CLI have them loaded by the time they read), then
# the 24 h window's live part (what the first paint shows), then the whole report (its sample is empty here). The
# polars engine is the one the app and the CLI choose (smythtop.engine).
_FIRST_PAINT = """
import sys, time
from smythtop.engine import prefer_in_memory
prefer_in_memory()
from smythtop import store
from smythtop.analysis import longwindow
from smythtop.analysis.report import live_from_cube
from smythtop.analysis.thresholds import Thresholds
root, lo = sys.argv[1], int(sys.argv[2])
th = Thresholds()
win = longwindow.window_for(lo, lo + 86_400 * 10**9)
start = time.perf_counter()
scan = store.scan_rollups(root, win.start_ns, win.end_ns, tier_ns=longwindow.tier_of(win))
sample = store.scan(root, longwindow.sample_start(win), win.end_ns)
live = live_from_cube(longwindow.cube_of(scan.sums, scan.coded_sketch, scan.wal, win, th), sample, th)
paint = time.perf_counter() - start
report = longwindow.report_of(scan.sums, scan.coded_sketch, scan.wal, sample, win, th)
print(paint, time.perf_counter() - start, scan.sums.height + scan.coded_sketch.height, int(report.summary.rows))
"""


def _first_paint(root: Path) -> tuple[float, float, int, int]:
    """(live part s, whole report s, rollup rows read, frames counted) of a 24 h window in a fresh process."""
    out = subprocess.run([sys.executable, "-c", _FIRST_PAINT, str(root), str(DEFAULT_START_NS)], capture_output=True,
                         text=True, check=True, timeout=FIRST_PAINT_TIMEOUT_S)  # fmt: skip
    paint, whole, rows, frames = out.stdout.split()
    return float(paint), float(whole), int(rows), int(frames)


def run(table: Table) -> None:
    comparison(table)
    goal(table)


def comparison(table: Table) -> None:
    n = _frames()
    root = _build(n, "rollup-tiers")
    th = Thresholds()
    lo, hi = DEFAULT_START_NS, DEFAULT_START_NS + DAY_NS
    win = longwindow.window_for(lo, hi)
    tier = longwindow.tier_of(win)

    def from_rollups() -> None:
        scan = store.scan_rollups(root, win.start_ns, win.end_ns, tier_ns=tier)
        sample = store.scan(root, longwindow.sample_start(win), win.end_ns)
        live_from_cube(longwindow.cube_of(scan.sums, scan.coded_sketch, scan.wal, win, th), sample, th)

    def from_raw() -> None:
        build_live(store.scan(root, win.start_ns, win.end_ns), window_from=win.start_ns, window_to=win.end_ns,
                   thresholds=th, bucket_ns=win.bucket_ns)  # fmt: skip

    for t in (tier, rollups.MINUTE_NS):
        scan = store.scan_rollups(root, win.start_ns, win.end_ns, tier_ns=t)
        rows = scan.rows.height
        table.add("rollups", f"rollup rows for 24 h of {n:,} frames, {t // 10**9} s tier", rows, "rows", "",
                  f"{rows / n:.3f} per frame; {scan.files} files")  # fmt: skip
    rollup_bytes = sum(p.stat().st_size for p in (root / ROLLUP_DIR).glob("*.parquet"))
    table.add("rollups", "rollup bytes per frame (both tiers)", rollup_bytes / n, "B/frame")
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
        table.add("rollups", f"24 h window (live part) from rollups, {n:,} frames, {label}", med["rollups"], "s", "",
                  peer)  # fmt: skip


def goal(table: Table) -> None:
    n = _big()
    root = _build_rollups_only(n)
    for hog in (False, True):
        with cpu_hog(hog):
            runs = [_first_paint(root) for _ in range(ROUNDS)]
        label = "CPU hog on one core" if hog else "quiet"
        paint, whole = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        rows, frames = runs[0][2], runs[0][3]
        peer = f"whole report {whole:.2f} s; {rows:,} rollup rows; {frames:,} frames counted"
        table.add("rollups", f"24 h report of {n:,} frames from rollups, fresh process, first paint, {label}", paint,
                  "s", "<= 1 s", peer)  # fmt: skip
