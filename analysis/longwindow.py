"""Long windows (an hour and more) from the store's per-minute rollups instead of raw frames.

The compactor writes rollup rows (store/rollups.py) in the contract of `analysis.partial` at 60 s buckets, so a
long window's cube is the merge of its minutes' rollups and a partial of the few frames still in the WAL
(`store.scan_rollups` returns both, taken together), re-grouped into the window's buckets by `partial.to_cube`:
no pass over raw frames, so a 24 h window costs what its minutes x names cost, not what its frames do.

Two columns of the partial contract depend on the reader's thresholds and are not in rollup files:
`slo_ok` (total_ms within the component's SLO) and `mem_over` (mem_pressure at or above the limit). They are
estimated here from the rollup's sketches, per (minute, agent, component, model, provider): the weight of the
latency bins whose largest value is within the SLO, and of the mem_pressure bins whose largest value reaches
the limit, shared between the success and error rows in proportion to their weighted counts. A bin is 1 %
wide (sketch K = 100), so only executions within 1 % of the threshold can be counted on the wrong side.

The window covers whole minutes: its start moves back to its minute and its end forward to the next minute
(`window_for`), the raw frames read for comparison must be cut the same way. The TTFT, input-token and
memory-delta sketches are kept per hour in rollups (store/rollups.py `HOURLY`): their percentiles cover the
whole hours that start in the window.
"""

from __future__ import annotations

import polars as pl
from smythtop.analysis import cube, partial
from smythtop.analysis.thresholds import Thresholds
from smythtop.analysis.window import Window, make_window
from smythtop.store.rollups import MINUTE_NS

LONG_WINDOW_NS = 3600 * 10**9  # windows this long or longer are answered from rollups (the app's 1 h, 24 h, 7 d, all)
_NAMES = list(cube.DIM)
_PARTIAL_METRICS = [name for name, _ in partial.METRICS]


def window_for(start_ns: int, end_ns: int) -> Window:
    """The window of [start, end) that rollups can answer: whole minutes, buckets of whole minutes."""
    lo, hi = start_ns // MINUTE_NS * MINUTE_NS, -(-end_ns // MINUTE_NS) * MINUTE_NS
    win = make_window(lo, max(hi, lo + MINUTE_NS))
    if win.bucket_ns % MINUTE_NS:  # a window under an hour may pick sub-minute buckets: rollups cannot split them
        win = make_window(lo, max(hi, lo + MINUTE_NS), bucket_ns=MINUTE_NS * -(-win.bucket_ns // MINUTE_NS))
    return win


def partial_of_rollups(sums: pl.DataFrame, sketch: pl.DataFrame, thresholds: Thresholds) -> partial.Partial:
    """A `partial.Partial` from rollup rows (`store.RollupScan.sums` / `.sketch`), `slo_ok` and `mem_over`
    estimated from the sketches for these thresholds."""
    key = ["t", *_NAMES]
    slo = cube.slo_of(thresholds)  # each row's component and model: the LLM-call default for a row with a model
    lat = (
        sketch.lazy()
        .filter(pl.col("metric") == "total_ms")
        .group_by(key)
        .agg(_ok=pl.col("_w").filter(pl.col("_v") <= slo).sum(), _all=pl.col("_w").sum())
    )
    over = (
        sketch.lazy()
        .filter(pl.col("metric") == "mem_pressure")
        .group_by(key)
        .agg(_over=pl.col("_w").filter(pl.col("_v") >= thresholds.memory_pressure).sum())
    )
    share = pl.col("n") / pl.col("n").sum().over(key)
    order = ["rows", "n", *(cube.exact_columns(thresholds, self_time=False) | cube.estimated_columns(thresholds))]
    labelled = (
        sums.lazy()
        .join(lat, on=key, how="left", nulls_equal=True)
        .join(over, on=key, how="left", nulls_equal=True)
        .with_columns(
            slo_ok=(pl.col("_ok") / pl.col("_all") * pl.col("n")).fill_null(0.0),
            mem_over=(pl.col("_over") * share).fill_null(0.0),
        )
        .select(*key, "success", *order)
    )
    sketch_rows = sketch.lazy().filter(pl.col("metric").is_in(_PARTIAL_METRICS))
    return partial.from_labelled(labelled, sketch_rows)


def cube_of(
    sums: pl.DataFrame, sketch: pl.DataFrame, wal: pl.DataFrame, window: Window, thresholds: Thresholds
) -> cube.Cube:
    """The window's cube from rollup rows plus the frames not yet rolled up (`store.scan_rollups`)."""
    parts = [partial_of_rollups(sums, sketch, thresholds)]
    if wal.height:
        parts.append(partial.of_frames(wal, MINUTE_NS, thresholds))
    return partial.to_cube(parts, window, thresholds)
