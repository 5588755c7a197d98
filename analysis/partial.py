"""Mergeable per-bucket partial aggregates: what the live app keeps per time bucket, and what a rollup row is.

A `Partial` holds, per wall-clock-aligned time bucket and (agent, component, model, provider), the weighted
sums `cube.build` computes and a log-binned latency/TTFT/tokens/memory sketch (`weights`: the DDSketch idea,
bin = sign(x) * floor(k * ln(1 + |x|)), the value kept per bin is the largest seen). Both are merged by plain
addition (and max for the sketch's `_v`), so partials of any split of the frames merge into exactly the
partial of all of them, and `to_cube` turns any set of them into the `Cube` the report is derived from,
re-grouping small frames only. That is what makes the live tick cost O(new frames): the app aggregates only
the frames that arrived (`of_frames`), merges them into their buckets (`merge`) and drops buckets that left
the window; no pass over the window's raw frames.

Column contract (the rollup files written at compaction carry the same columns, with 60 s buckets):

`sums`: one row per (t, agent_id, component, model, provider, success)
  t            Int64    bucket start, ns since the epoch, a multiple of the bucket width
  agent_id, component, model, provider   String (model and provider null for frames without a model)
  success      Boolean  (null success counts as True)
  rows         Int64    frames recorded
  n            Float64  weighted executions: the sum of 1/sample_rate (every sum below is weighted the same)
  <c>_sum      Float64  weighted sum (null as 0) of total_ms, input/output/cache_read/cache_write/reasoning
                        tokens, cost_usd, retry_count, input_ms, core_ms, output_ms, queue_ms,
                        mem_delta_bytes, mem_pressure, context_utilization
  <c>_w        Float64  weighted count of non-null values of cost_usd, model and of the last seven above
  unpriced     Float64  weighted count of frames with a model and no cost
  retry_ms     Float64  weighted sum of total_ms * retry_count / (retry_count + 1)
  slo_ok       Float64  weighted count of total_ms <= the component's latency SLO (thresholds)
  mem_over     Float64  weighted count of mem_pressure >= Thresholds.memory_pressure

`sketch`: one row per (t, agent_id, component, model, provider, metric, _bin)
  metric       String   "total_ms" | "ttft_ms" | "input_tokens" (k = cube.K = 100: 1 % relative) |
                        "mem_delta_bytes" (k = cube.K_MEM = 20)
  _bin         Int32    sign(x) * floor(k * ln(1 + |x|)) of the metric's value (nulls are left out)
  _w           Float64  weighted count in the bin
  _v           Float64  largest value in the bin (a percentile reports it: never below the true value)

A partial's bucket width must divide the width of the window it is turned into a cube for (`to_cube` maps
each row to the window bucket holding `t`); 60 s rollups serve every window of an hour or more.
`slo_ok` and `mem_over` depend on thresholds: a producer without them (compaction) computes them with the
default `Thresholds()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
from smythtop.analysis import cube, fold
from smythtop.analysis import weights as wt
from smythtop.analysis.thresholds import Thresholds
from smythtop.analysis.window import REPORT_COLUMNS, Window, conform, weighted

METRICS = (("total_ms", cube.K), ("ttft_ms", cube.K), ("input_tokens", cube.K), ("mem_delta_bytes", cube.K_MEM))
SUMS_KEY = ("t", *cube.DIM, "success")
SKETCH_KEY = ("t", *cube.DIM, "metric", "_bin")
# the per-bucket latency series uses coarser bins (cube.K_SERIES); with an integer ratio the coarse bin of a
# value is exactly its fine bin divided by the ratio (floor(floor(a*x)/r) == floor(a*x/r)), so no raw pass
_SERIES_RATIO = cube.K // cube.K_SERIES
assert _SERIES_RATIO * cube.K_SERIES == cube.K


@dataclass(frozen=True)
class Partial:
    """Aggregates of some frames, per aligned bucket (columns: the module docstring's contract)."""

    sums: pl.DataFrame
    sketch: pl.DataFrame

    @property
    def rows(self) -> int:
        """Frames aggregated."""
        return int(self.sums["rows"].sum()) if self.sums.height else 0


def of_frames(frames: pl.DataFrame | pl.LazyFrame, bucket_ns: int, thresholds: Thresholds) -> Partial:
    """One pass over raw frames: their partial aggregate in buckets aligned to multiples of `bucket_ns`."""
    df = (
        weighted(conform(frames, REPORT_COLUMNS))
        .with_columns(b=pl.col("t") // bucket_ns * bucket_ns, k=cube.dim_key(pl.col("component")))
        .collect()
    )
    dims = df[df.select(pl.col("k").arg_unique()).to_series(), ["k", *cube.DIM]].lazy()
    cols = cube.exact_columns(thresholds) | cube.estimated_columns(thresholds)
    sums = cube.weighted_sums(
        df.lazy().select("k", "b", "sample_rate", "success", **cols), [pl.len().alias("rows"), *map(pl.sum, cols)]
    )
    sketch = pl.concat([
        wt.histogram(df, ["k", "b"], metric, k).with_columns(metric=pl.lit(metric)) for metric, k in METRICS
    ])  # fmt: skip
    sums_df, sketch_df = pl.collect_all([
        sums.join(dims, on="k").rename({"b": "t"}).select(*SUMS_KEY, pl.col("rows").cast(pl.Int64), "n", *cols),
        sketch.join(dims, on="k").rename({"b": "t"}).select(*SKETCH_KEY, "_w", "_v"),
    ])  # fmt: skip
    return Partial(sums_df, sketch_df)


def merge(parts: Sequence[Partial]) -> Partial:
    """The partial of all the frames of `parts` together (exact: sums add, bins add, bin maxima take the max)."""
    if len(parts) == 1:
        return parts[0]
    sums = pl.concat([p.sums for p in parts]).lazy()
    value_cols = [c for c in parts[0].sums.columns if c not in SUMS_KEY]
    merged = pl.collect_all([
        sums.group_by(SUMS_KEY).agg(pl.col(c).sum() for c in value_cols),
        pl.concat([p.sketch for p in parts]).lazy().group_by(SKETCH_KEY).agg(pl.col("_w").sum(), pl.col("_v").max()),
    ])  # fmt: skip
    return Partial(*merged)


def select(part: Partial, start_ns: int, end_ns: int) -> Partial:
    """The buckets with start_ns <= t < end_ns."""
    keep = (pl.col("t") >= start_ns) & (pl.col("t") < end_ns)
    return Partial(part.sums.filter(keep), part.sketch.filter(keep))


def to_cube(parts: Sequence[Partial], window: Window, thresholds: Thresholds) -> cube.Cube:
    """The window's cube from partials whose buckets divide its buckets (re-grouping aggregates only).

    Components beyond the top `max_rows` by weighted time fold into OTHER here, as `cube.build` folds raw
    frames: the dim key `k` is that of the folded names, so every frame of the cube agrees.
    """
    in_window = (pl.col("t") >= window.start_ns) & (pl.col("t") < window.end_ns)
    sums = pl.concat([p.sums for p in parts]).filter(in_window)
    sketch = pl.concat([p.sketch for p in parts]).lazy().filter(in_window)
    time = sums.group_by("component").agg(time=pl.col("total_ms_sum").sum())
    kept = None
    if time.height > thresholds.max_rows:
        kept = fold.top(time, ["component"], ["time"], thresholds.max_rows)["component"]
    relabel = [
        fold.label("component", kept).alias("component"),
        ((pl.col("t") - window.start_ns) // window.bucket_ns).cast(pl.Int32).alias("b"),
    ]
    sums = sums.lazy().with_columns(relabel).with_columns(cube.dim_key(pl.col("component")))
    sketch = sketch.with_columns(relabel).with_columns(cube.dim_key(pl.col("component")))
    value_cols = [c for c in parts[0].sums.columns if c not in SUMS_KEY]

    def hist(metric: str, by: list[str], bin_expr: pl.Expr | None = None) -> pl.LazyFrame:
        part = sketch.filter(pl.col("metric") == metric)
        bins = pl.col("_bin") if bin_expr is None else bin_expr.alias("_bin")
        return part.group_by([*by, bins]).agg(pl.col("_w").sum(), pl.col("_v").max())

    series_bin = pl.col("_bin").sign() * (pl.col("_bin").abs() // _SERIES_RATIO)
    dims, sums_df, lat_b, lat_k, ttft_k, tokens_k, mem_c = pl.collect_all([
        sums.group_by("k").agg(pl.col(c).first() for c in cube.DIM),
        sums.group_by(cube.GROUP).agg(pl.col(c).sum() for c in value_cols),
        hist("total_ms", ["component", "b"], series_bin.cast(pl.Int32)),
        hist("total_ms", ["k"]),
        hist("ttft_ms", ["k"]),
        hist("input_tokens", ["k"]),
        hist("mem_delta_bytes", ["component"]),
    ])  # fmt: skip
    return cube.Cube(window, dims, sums_df, lat_b, lat_k, ttft_k, tokens_k, mem_c, 1, time.height, kept)
