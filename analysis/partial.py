"""Mergeable per-bucket partial aggregates: what the live app keeps per time bucket, and what a rollup row is.

A `Partial` holds, per wall-clock-aligned time bucket and (agent, component, model, provider), the weighted
sums `cube.build` computes and a log-binned latency/TTFT/tokens/memory sketch (`weights`: the DDSketch idea,
bin = sign(x) * floor(k * ln(1 + |x|)), the value kept per bin is the largest seen). Both are merged by plain
addition (and max for the sketch's `_v`), so partials of any split of the frames merge into exactly the
partial of all of them, and `to_cube` turns any set of them into the `Cube` the report is derived from,
re-grouping small frames only. That is what makes the live tick cost O(new frames): the app aggregates only
the frames that arrived (`of_frames`), adds them into its buckets' aggregates (held in numpy there:
`smythtop.app.live`) and drops buckets that left the window; no pass over the window's raw frames.

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

In memory a `Partial` keys both tables by `k` (`cube.dim_key` of the four names, an integer: group-bys and
merges then hash one integer instead of four strings) and keeps the names once per `k` in `dims`;
`labelled` gives the contract's form above (names, metric as a string) and `from_labelled` reads it back.

A partial's bucket width must divide the width of the window it is turned into a cube for (`to_cube` maps
each row to the window bucket holding `t`); 60 s rollups serve every window of an hour or more.
`slo_ok` and `mem_over` depend on thresholds, so rollup files do not store them: `longwindow` estimates them
from the `total_ms` and `mem_pressure` sketches for the reader's thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
from smythtop.analysis import cube, fold
from smythtop.analysis import weights as wt
from smythtop.analysis.thresholds import Thresholds
from smythtop.analysis.window import REPORT_COLUMNS, Window, conform, weighted
from smythtop.store import sketch as sketch_bins

METRICS = (("total_ms", cube.K), ("ttft_ms", cube.K), ("input_tokens", cube.K), ("mem_delta_bytes", cube.K_MEM))
# a partial of annotated frames (`TREE`) also has these, at k = cube.K: self time, and the roots' total_ms
TREE_METRICS = ("self_ms", "request_ms")
METRIC = pl.Enum([*(name for name, _ in METRICS), *TREE_METRICS])
TREE = ("self_ms", "own_fail", "root", "request_cost")  # the columns `selftime.annotate` adds
REQUEST_SUMS = ("req_rows", "req_n", "req_cost_sum", "req_cost_w", "req_slo_ok")
SUMS_KEY = ("t", "k", "success")
SKETCH_KEY = ("t", "k", "metric", "_bin")
HIST_KEY = ("k", "metric", "_bin")
# the per-bucket latency series uses coarser bins (cube.K_SERIES): exact from the fine ones (sketch.coarsen)
_SERIES_RATIO = cube.K // cube.K_SERIES
# a bin weight at or below this holds no frame: every frame weighs 1/sample_rate >= 1, so after a signed partial
# took frames back out the tolerance is far from a real bin's weight and far above float rounding
SETTLED_W = 1e-6
_BINS = (pl.col("_w").sum(), pl.col("_v").max())
KEYED = ("total_ms", "ttft_ms", "input_tokens")  # the metrics a cube keeps per key (`lat_k`, `ttft_k`, `tokens_k`)
assert _SERIES_RATIO * cube.K_SERIES == cube.K


@dataclass(frozen=True)
class Partial:
    """Aggregates of some frames, per aligned bucket, keyed by dim key `k` (the contract's values)."""

    sums: pl.DataFrame  # t, k, success, rows, n, <value columns>
    sketch: pl.DataFrame  # t, k, metric, _bin, _w, _v
    dims: pl.DataFrame  # k, agent_id, component, model, provider: one row per k

    @property
    def rows(self) -> int:
        """Frames aggregated."""
        return int(self.sums["rows"].sum()) if self.sums.height else 0


def _dims(frame: pl.DataFrame) -> pl.DataFrame:
    return frame[frame.get_column("k").arg_unique(), ["k", *cube.DIM]]


def of_frames(
    frames: pl.DataFrame | pl.LazyFrame, bucket_ns: int, thresholds: Thresholds, *, signed: bool = False
) -> Partial:
    """One pass over raw frames: their partial aggregate in buckets aligned to multiples of `bucket_ns`.

    Frames annotated by `selftime.annotate` (columns `TREE`) also give the span tree's figures: `self_ms_sum`,
    `own_fail`, `own_failed_ms`, `slo_ok` judged on self time (as `cube.build` does), the requests' sums
    (`REQUEST_SUMS`: the roots' count, weight, cost and SLO hits, per root key and outcome) and the `self_ms` and
    `request_ms` (a root's end-to-end latency) sketches. Frames without them (rollups: the store cannot run
    the analysis' span tree, and `longwindow`'s WAL frames merge with rollup rows) keep the plain columns, and a
    cube of such partials takes self time as the total (`of_stacked`).

    `signed`: frames with a negative sample_rate are taken back out (their sums, counts and bin weights count
    negatively), so one pass gives a change of frames (the live window's re-annotated traces: the new frames
    with their traces' old ones, less those old ones: `smythtop.app.live`). A bin keeps the largest value either
    side saw.
    """
    lf = frames.lazy()
    tree = all(c in lf.collect_schema() for c in TREE)
    conformed = conform(lf, REPORT_COLUMNS)
    if tree:
        conformed = pl.concat([conformed, lf.select(TREE)], how="horizontal")
    df = weighted(conformed).with_columns(b=pl.col("t") // bucket_ns * bucket_ns, k=cube.dim_key(pl.col("component")))
    df = df.collect()
    cols = _columns(thresholds, tree)
    raw = [pl.col("root").sum().alias("req_rows")] if tree else []
    sums = cube.weighted_sums(
        df.lazy().select("k", "b", "sample_rate", "success", *(["root"] if tree else []), **cols),
        [pl.len().alias("rows"), *raw, *map(pl.sum, cols)],
        raw=["req_rows"] if tree else [],
        signed=signed,
    )
    hists = [_sketch(df, name, name, k) for name, k in METRICS]
    if tree:
        hists += [
            _sketch(df, "self_ms", "self_ms", cube.K),
            _sketch(df.lazy().filter(pl.col("root")), "request_ms", "total_ms", cube.K),
        ]
    counts = [pl.col("rows").cast(pl.Int64), "n", *([pl.col("req_rows").cast(pl.Int64)] if tree else [])]
    sums_df, sketch_df = pl.collect_all([
        sums.rename({"b": "t"}).select(*SUMS_KEY, *counts, *cols),
        pl.concat(hists).rename({"b": "t"}).select(*SKETCH_KEY, "_w", "_v"),
    ])  # fmt: skip
    return Partial(sums_df, sketch_df, _dims(df))


_built: tuple[Thresholds, bool, dict[str, pl.Expr]] | None = None  # `_columns`' last answer


def _columns(thresholds: Thresholds, tree: bool) -> dict[str, pl.Expr]:
    """The per-frame columns `of_frames` sums, built once per thresholds object (by identity: `Thresholds` holds
    a dict, so it cannot key a `functools.cache`). They are ~650 polars expression objects, ~3 ms of Python that
    every live tick's new frames paid again for the same thresholds."""
    global _built
    last = _built
    if last is not None and last[0] is thresholds and last[1] == tree:
        return last[2]
    cols = cube.exact_columns(thresholds, self_time=tree) | cube.estimated_columns(thresholds)
    if tree:
        cols |= cube.self_columns() | _request_columns(thresholds)
    _built = (thresholds, tree, cols)
    return cols


def _sketch(df: pl.DataFrame | pl.LazyFrame, metric: str, value: str, k: int) -> pl.LazyFrame:
    return wt.histogram(df, ["k", "b"], value, k).with_columns(metric=pl.lit(metric, dtype=METRIC))


def _request_columns(thresholds: Thresholds) -> dict[str, pl.Expr]:
    """Per-frame values whose weighted sums over roots are `Cube.requests` (`selftime.request_cost` is already
    divided by the root's weight, so its weighted sum is the trace's cost)."""
    root = pl.col("root")
    return {
        "req_n": root,
        "req_cost_sum": pl.col("request_cost").fill_null(0.0),
        "req_cost_w": pl.col("request_cost").is_not_null(),
        "req_slo_ok": root & (pl.col("total_ms") <= thresholds.request_latency_p95_ms),
    }


def merge_names(names: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """The `dims` of several partials together (one row per k)."""
    return _dims(pl.concat(names))


def labelled(part: Partial) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The contract's form (sums, sketch): the four names instead of `k`, the metric as a string."""
    names = part.dims.lazy()
    sums, sketch = pl.collect_all([
        part.sums.lazy().join(names, on="k").select("t", *cube.DIM, pl.exclude("t", "k", *cube.DIM)),
        part.sketch.lazy().join(names, on="k")
        .select("t", *cube.DIM, pl.col("metric").cast(pl.String), "_bin", "_w", "_v"),
    ])  # fmt: skip
    return sums, sketch


def from_labelled(sums: pl.DataFrame | pl.LazyFrame, sketch: pl.DataFrame | pl.LazyFrame) -> Partial:
    """A partial from rows in the contract's form (e.g. rollup files)."""
    key = cube.dim_key(pl.col("component"))
    sums_df, sketch_df = pl.collect_all([
        sums.lazy().with_columns(key),
        sketch.lazy().with_columns(key, pl.col("metric").cast(METRIC)),
    ])  # fmt: skip
    dims = _dims(pl.concat([sums_df.select("k", *cube.DIM), sketch_df.select("k", *cube.DIM)]))
    return Partial(sums_df.drop(*cube.DIM).select(*SUMS_KEY, pl.exclude(SUMS_KEY)),
                   sketch_df.select(*SKETCH_KEY, "_w", "_v"), dims)  # fmt: skip


def to_cube(parts: Sequence[Partial], window: Window, thresholds: Thresholds) -> cube.Cube:
    """The window's cube from partials whose buckets divide its buckets (re-grouping aggregates only)."""
    names = merge_names([p.dims for p in parts])
    return of_rows(*bucketed(parts, names, window), names, window, thresholds)


def series_bin() -> pl.Expr:
    """A sketch's `_bin` at the latency series' coarser k (cube.K_SERIES)."""
    return sketch_bins.coarsen(pl.col("_bin"), _SERIES_RATIO)


def in_buckets(rows: pl.LazyFrame, window: Window) -> pl.LazyFrame:
    """Rows whose `t` is in the window, `t` moved back to the start of the window bucket that holds it."""
    in_window = (pl.col("t") >= window.start_ns) & (pl.col("t") < window.end_ns)
    bucket = (pl.col("t") - window.start_ns) // window.bucket_ns * window.bucket_ns + window.start_ns
    return rows.filter(in_window).with_columns(t=bucket)


def bucketed(
    parts: Sequence[Partial], names: pl.DataFrame, window: Window
) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """What a cube takes from partials whose buckets divide the window's, in the window's buckets and not yet
    grouped (`of_rows`): the sums rows, the latency series' bins (t, component, `series_bin`, _w, _v) and the
    window's bins (`HIST_KEY`, _w, _v)."""
    sums = pl.concat([p.sums.lazy() for p in parts]).pipe(in_buckets, window)
    sketch = pl.concat([p.sketch.lazy() for p in parts]).pipe(in_buckets, window)
    lat = (
        sketch.filter(pl.col("metric") == "total_ms").join(names.lazy().select("k", "component"), on="k")
        .select("t", "component", series_bin(), "_w", "_v")
    )  # fmt: skip
    return sums, lat, sketch.select(*HIST_KEY, "_w", "_v")


def of_rows(
    sums: pl.LazyFrame,
    lat: pl.LazyFrame,
    hist: pl.LazyFrame,
    names: pl.DataFrame,
    window: Window,
    thresholds: Thresholds,
) -> cube.Cube:
    """The window's cube from `bucketed` rows (of one or more sources, concatenated) and the names of their keys.

    One plan groups them: the sums and the latency series per bucket, the bins over the whole window, straight
    from the rows rather than per bucket and then summed: a 24 h window of the bench's
    100M frames is ~1M hour-tier sketch rows, which the per-bucket path grouped twice and split in between."""
    values = [c for c in sums.collect_schema().names() if c not in SUMS_KEY]
    b = ((pl.col("t") - window.start_ns) // window.bucket_ns).cast(pl.Int32).alias("b")
    sums_df, lat_df, hist_df = pl.collect_all([
        sums.group_by(SUMS_KEY).agg(pl.col(c).sum() for c in values).select(b, pl.exclude("t")),
        lat.group_by("t", "component", "_bin").agg(*_BINS).select(b, pl.exclude("t")),
        hist.group_by(HIST_KEY).agg(*_BINS),
    ])  # fmt: skip
    return of_stacked(sums_df, lat_df, hist_df, names, window, thresholds)


def of_stacked(
    sums: pl.DataFrame,
    lat: pl.DataFrame,
    hist: pl.DataFrame,
    names: pl.DataFrame,
    window: Window,
    thresholds: Thresholds,
    *,
    lat_q: pl.DataFrame | None = None,
    fleet_q: pl.DataFrame | None = None,
) -> cube.Cube:
    """The window's cube from its aggregates in the window's buckets (aligned to its start, of its width): `sums`
    (b, k, success, <value columns>: one row each), the latency series' bins `lat` (component, b, _bin at
    cube.K_SERIES, _w, _v: one row each), the window's sketch bins summed (`hist`: HIST_KEY, _w, _v) and the
    names of their keys. A live window keeps its series' percentiles as its buckets change and passes them:
    `lat_q` (component, b, p50_ms, p95_ms, p99_ms) and `fleet_q` (b and the same over every component).

    Components beyond the top `max_rows` by weighted time fold into OTHER, as `cube.build` folds raw frames:
    `k` is then re-keyed to that of the folded names, so every frame of the cube agrees. Without folding
    nothing here is grouped but the per-key totals, the requests per root component and the memory histogram.

    Two `collect_all`s build it: the per-key times (which decide the folding), then every frame of the cube in
    one plan. Each small eager polars call costs a fixed ~0.3-0.8 ms on this machine whatever its size, and
    this was ~30 of them, a sixth of a live tick (measured at 500K frames: 14 ms of eager calls here).
    """
    cols = [c for c in sums.columns if c not in cube.GROUP]
    lat_b = lat.lazy()
    sums = sums.lazy()
    per_k_lf = sums.group_by("k").agg(time=pl.col("total_ms_sum").sum())
    per_k, time = pl.collect_all([
        per_k_lf.select("k"), per_k_lf.join(names.lazy(), on="k").group_by("component").agg(pl.col("time").sum())
    ])  # fmt: skip
    kept = None
    if time.height > thresholds.max_rows:
        kept = fold.top(time, ["component"], ["time"], thresholds.max_rows)["component"]
    keys = (
        names.lazy().filter(pl.col("k").is_in(per_k["k"].implode()))
        .with_columns(fold.label("component", kept)).with_columns(cube.dim_key(pl.col("component")).alias("kf"))
    )  # fmt: skip
    dims = keys.group_by("kf").agg(pl.col(c).first() for c in cube.DIM).rename({"kf": "k"})
    hist_lf = hist.lazy()
    mem = hist_lf.filter(pl.col("metric") == "mem_delta_bytes").join(keys.select("k", "component"), on="k")
    mem_c = mem.group_by("component", "_bin").agg(*_BINS)
    hist_k = {m: hist_lf.filter(pl.col("metric") == m).drop("metric") for m in (*KEYED, *TREE_METRICS)}
    sums = sums.select("k", "b", "success", *cols)
    lat_b = lat_b.select("component", "b", "_bin", "_w", "_v")
    lat_b_q = None if lat_q is None or kept is not None else lat_q.lazy()
    fleet_b_q = None if fleet_q is None else fleet_q.lazy().select("b", *cube.SERIES_NAMES)  # folding leaves it
    if kept is not None:  # re-key to the folded names and merge what folded together
        to_f = keys.select("k", "kf")

        def refold(frame: pl.LazyFrame, by: list[str], aggs: Sequence[pl.Expr]) -> pl.LazyFrame:
            return frame.join(to_f, on="k").drop("k").rename({"kf": "k"}).group_by(by).agg(aggs)

        sums = refold(sums, list(cube.GROUP), [pl.col(c).sum() for c in cols])
        hist_k = {m: refold(h, ["k", "_bin"], _BINS) for m, h in hist_k.items()}
        lat_b = lat_b.with_columns(fold.label("component", kept)).group_by("component", "b", "_bin").agg(*_BINS)
    names_f = dims.select("k", "component")
    tree = "self_ms_sum" in cols  # partials of annotated frames (`of_frames`): the span tree's figures as `cube.build`
    if tree:
        roots = sums.filter(pl.col("req_rows") > 0).join(names_f, on="k")
        requests = roots.group_by("component", "success").agg(
            rows=pl.col("req_rows").sum().cast(pl.UInt32),
            n=pl.col("req_n").sum(),
            cost_sum=pl.col("req_cost_sum").sum(),
            cost_w=pl.col("req_cost_w").sum(),
            slo_ok=pl.col("req_slo_ok").sum(),
        )
        request_lat = hist_k["request_ms"].join(names_f, on="k").group_by("component", "_bin").agg(*_BINS)
        sums = sums.drop(REQUEST_SUMS)
        self_k = hist_k["self_ms"]
    else:
        # Rollup rows have no span tree (the store cannot run it): self time is taken as the total, a failure as
        # the span's own, and there are no requests, as `selftime` does for frames without span ids.
        failed = ~pl.col("success")
        sums = sums.with_columns(
            self_ms_sum=pl.col("total_ms_sum"),
            own_fail=pl.when(failed).then(pl.col("n")).otherwise(0.0),
            own_failed_ms=pl.when(failed).then(pl.col("total_ms_sum")).otherwise(0.0),
        )
        requests = pl.LazyFrame(
            schema={"component": pl.String, "success": pl.Boolean, "rows": pl.UInt32, "n": pl.Float64,
                    "cost_sum": pl.Float64, "cost_w": pl.Float64, "slo_ok": pl.Float64}
        )  # fmt: skip
        request_lat = pl.LazyFrame(schema={"component": pl.String, **{c: hist.schema[c] for c in ("_bin", "_w", "_v")}})
        self_k = hist_k["total_ms"]
    optional = [f for f in (lat_b_q, fleet_b_q) if f is not None]
    out = pl.collect_all([dims, sums, lat_b, hist_k["total_ms"], hist_k["ttft_ms"], hist_k["input_tokens"], mem_c,
                          self_k, requests, request_lat, *optional])  # fmt: skip
    lat_b_q_df = out[10] if lat_b_q is not None else None
    fleet_b_q_df = out[-1] if fleet_b_q is not None else None
    return cube.Cube(window, *out[:7], 1, time.height, kept, *out[7:10], lat_b_q_df, fleet_b_q_df)
