"""The few passes over raw frames that every report statistic is derived from.

A grouped sum costs ~2 ns per row per column, so at 10M rows the report can afford only a few passes over
a few columns. Everything else (per component, agent, model, bucket, the detectors) is re-grouped from the
small frames built here:

- `sums`, exact, over every frame: counts, errors, time, tokens, cost, LLM calls, unpriced calls, retries and
  SLO hits, as plain sums per (dim, bucket, sample_rate, success) multiplied by 1/sample_rate afterwards
  (constant inside a group, so weighting costs nothing per row), then re-summed per (dim, bucket, success);
- distribution statistics, estimated: percentiles (log-binned weighted histograms, see `weights`) of latency
  per dim and per (component, bucket), TTFT per dim and memory delta per component, plus the means of phases,
  memory and context utilisation. Above SUBSAMPLE_ROWS frames they come from a deterministic uniform
  subsample of about that many frames (a hash of the row number; each kept frame then weighs m/sample_rate,
  Horvitz-Thompson as for the recorder's own sampling). At 1M frames a component's p95 has a standard error
  well under 1 %, a 60-bucket series ~3 % per bucket, below the detectors' noise floors.

A dim is one (agent_id, component, model, provider) combination, keyed by a 64-bit hash so the group-bys
hash one integer instead of four strings. Components beyond the top `Thresholds.max_rows` by time are folded
into one "(other)" component first (`fold`), so nothing here or downstream grows with distinct names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
from smythtop.analysis import fold, selftime
from smythtop.analysis import weights as wt
from smythtop.analysis.thresholds import Thresholds
from smythtop.analysis.window import Window

DIM = ("agent_id", "component", "model", "provider")
SUBSAMPLE_ROWS = 1_000_000
K = 100  # histogram bins per unit of ln(1 + x): window-level latency percentiles within 1 % (relative)
K_SERIES = 50  # per-bucket percentiles within 2 %: the detectors' noise floors are wider than that
SERIES_QS, SERIES_NAMES = (0.5, 0.95, 0.99), ("p50_ms", "p95_ms", "p99_ms")  # the latency series' percentiles
K_MEM = 20  # memory delta p95 within 5 %: a rough figure, and byte deltas spread over many bins

EXACT_SUMMED = ("total_ms", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                "reasoning_tokens", "cost_usd", "retry_count")  # fmt: skip
ESTIMATED = ("input_ms", "core_ms", "output_ms", "queue_ms", "mem_delta_bytes", "mem_pressure",
             "context_utilization")  # fmt: skip
GROUP = ("k", "b", "success")


@dataclass(frozen=True)
class Cube:
    window: Window
    dims: pl.DataFrame  # k, agent_id, component, model, provider
    sums: pl.DataFrame  # k, b, success, rows, n, <col>_sum, <col>_w, slo_ok, mem_over, retry_ms, unpriced
    lat_b: pl.DataFrame  # component, b, _bin, _w, _v
    lat_k: pl.DataFrame  # k, _bin, _w, _v
    ttft_k: pl.DataFrame  # k, _bin, _w, _v
    tokens_k: pl.DataFrame  # k, _bin, _w, _v (input tokens per call)
    mem_c: pl.DataFrame  # component, _bin, _w, _v
    subsample: int  # m: distribution statistics used 1 frame in m (1 = every frame)
    components: int  # distinct component names in the window, before folding
    kept: pl.Series | None  # the component names that keep their own row; None: nothing was folded
    self_k: pl.DataFrame  # k, _bin, _w, _v (self time, `selftime`)
    requests: pl.DataFrame  # roots: component, success, rows, n, cost_sum, cost_w, slo_ok (weighted)
    request_lat: pl.DataFrame  # roots: component, _bin, _w, _v (end-to-end latency)
    # component, b, p50_ms, p95_ms, p99_ms: `lat_b`'s percentiles when they were kept per bucket (the live window's
    # buckets, `smythtop.app.live`), so a tick computes them for the buckets that changed only; None: from lat_b
    lat_b_q: pl.DataFrame | None = None
    # b, p50_ms, p95_ms, p99_ms: the fleet's latency series (every component), kept per bucket alike; None: from lat_b
    fleet_b_q: pl.DataFrame | None = None


def dim_key(component: pl.Expr) -> pl.Expr:
    """A 64-bit key per (agent, component, model, provider); distinct seeds keep the four fields apart."""
    parts = [(component if c == "component" else pl.col(c)).hash(seed=i + 1) for i, c in enumerate(DIM)]
    return (parts[0] ^ parts[1] ^ parts[2] ^ parts[3]).alias("k")


def weighted_sums(
    frame: pl.LazyFrame, aggs: list[pl.Expr], *, raw: Sequence[str] = (), signed: bool = False
) -> pl.LazyFrame:
    """Plain sums per (k, b, sample_rate, success) -> weighted sums per (k, b, success).

    Only plain `col.sum()`/`len()` of null-free numeric columns go into the raw-row group-by: that is
    polars' fast path (~1 ns/row); an expression inside the aggregation, or nulls in the column, cost 3-5x.
    A `rows` count stays raw and gains a weighted twin `n`; so do the `raw` counts (without a twin).
    `signed`: a negative sample_rate marks frames being taken back out (`partial.changed`): their weights are
    negative, and so are their raw counts (as Int64).
    """
    plain = frame.group_by("k", "b", "sample_rate", "success").agg(aggs)
    kept = ("k", "b", "sample_rate", "success", "rows", *raw)
    names = [c for c in plain.collect_schema().names() if c not in kept]
    w = 1.0 / pl.col("sample_rate").fill_null(1.0)
    counted = "rows" in plain.collect_schema().names()
    sign = pl.col("sample_rate").fill_null(1.0).sign().cast(pl.Int64)
    return (
        plain.with_columns(
            *[(pl.col(c).cast(pl.Float64) * w).alias(c) for c in names],
            *([(pl.col("rows") * w).alias("n")] if counted else []),
            *([pl.col(c).cast(pl.Int64) * sign for c in (*(["rows"] if counted else []), *raw)] if signed else []),
        )
        .group_by(GROUP)
        .agg(*[pl.col(c).sum() for c in [*names, *raw, *(["rows", "n"] if counted else [])]])
    )


def slo_of(thresholds: Thresholds) -> pl.Expr:
    """Each frame's latency SLO: its component's own, else the LLM-call default for a frame with a model, else
    the default (docs/ANALYSIS.md, "Why two component defaults")."""
    overrides = thresholds.latency_p95_ms_by_component
    by_kind = (
        pl.when(pl.col("model").is_not_null()).then(thresholds.llm_latency_p95_ms).otherwise(thresholds.latency_p95_ms)
    )
    if not overrides:
        return by_kind
    return pl.col("component").replace_strict(dict(overrides), default=by_kind, return_dtype=pl.Float64)


def exact_columns(thresholds: Thresholds, *, self_time: bool = True) -> dict[str, pl.Expr]:
    """Per-frame values whose weighted sums are exact over every frame (`Cube.sums`, `partial` sums). With
    `self_time` (frames annotated by `selftime`) an execution's SLO hit is judged on its self time, the parent on
    its own work; without it (partials, rollups: no span tree) on its total."""
    rc = pl.col("retry_count").fill_null(0).cast(pl.Float64)
    return {
        **{f"{c}_sum": pl.col(c).fill_null(0) for c in EXACT_SUMMED},
        "cost_usd_w": pl.col("cost_usd").is_not_null(),
        "model_w": pl.col("model").is_not_null(),
        "unpriced": pl.col("model").is_not_null() & pl.col("cost_usd").is_null(),
        "slo_ok": pl.col("self_ms" if self_time else "total_ms") <= slo_of(thresholds),
        "retry_ms": pl.col("total_ms") * rc / (rc + 1.0),
    }


def self_columns() -> dict[str, pl.Expr]:
    """The self-time sums (`selftime.annotate`'s columns), which only a cube built from raw frames has."""
    return {
        "self_ms_sum": pl.col("self_ms").fill_null(0),
        "own_fail": pl.col("own_fail"),
        "own_failed_ms": pl.when(pl.col("own_fail")).then(pl.col("total_ms")).otherwise(0.0),
    }


def estimated_columns(thresholds: Thresholds) -> dict[str, pl.Expr]:
    """Per-frame values for the means and shares that `build` takes from its subsample above SUBSAMPLE_ROWS."""
    return {
        **{f"{c}_sum": pl.col(c).fill_null(0) for c in ESTIMATED},
        **{f"{c}_w": pl.col(c).is_not_null() for c in ESTIMATED},
        "mem_over": (pl.col("mem_pressure") >= thresholds.memory_pressure).fill_null(False),
    }


def _sums_of(columns: dict[str, pl.Expr]) -> tuple[dict[str, pl.Expr], list[pl.Expr]]:
    """Null-free numeric columns to add before grouping, and their plain sums."""
    return columns, [pl.col(name).sum() for name in columns]


def build(df: pl.DataFrame, window: Window, thresholds: Thresholds) -> Cube:
    """All raw-row passes of a report, on the frame `window.prepare` returned (with `selftime.KEYS` or the span
    id columns; `selftime.annotate` runs here unless it already has)."""
    if "self_ms" not in df.columns:
        df = selftime.annotate(df)
    kept, distinct = _kept_components(df, thresholds.max_rows)
    # `_folded` is what every grouping sees; the SLO below still reads each frame's own component name
    df = df.with_columns(_folded=fold.label("component", kept)).with_columns(dim_key(pl.col("_folded")))
    first = df.select(pl.col("k").arg_unique()).to_series()
    dims = df[first, ["k", *DIM]].with_columns(component=df["_folded"].gather(first))

    exact_cols, exact_aggs = _sums_of(exact_columns(thresholds) | self_columns())
    exact = weighted_sums(
        df.lazy().select("k", "b", "sample_rate", "success", **exact_cols), [pl.len().alias("rows"), *exact_aggs]
    )

    m = max(1, -(-df.height // SUBSAMPLE_ROWS))
    needed = ["k", "b", "sample_rate", "success", "w", "total_ms", "ttft_ms", "input_tokens", "self_ms",
              *ESTIMATED]  # fmt: skip
    sub = df.lazy().select(*needed, component=pl.col("_folded"))
    if m > 1:
        sub = sub.filter(pl.int_range(pl.len(), dtype=pl.UInt64).hash(seed=5) % m == 0).with_columns(
            sample_rate=pl.col("sample_rate") / m, w=pl.col("w") * m
        )
    sub_df = sub.collect()
    est_cols, est_aggs = _sums_of(estimated_columns(thresholds))
    estimated = weighted_sums(sub_df.lazy().select("k", "b", "sample_rate", "success", **est_cols), est_aggs)
    lat_b = wt.histogram(sub_df, ["component", "b"], "total_ms", K_SERIES)
    lat_k = wt.histogram(sub_df, ["k"], "total_ms", K)
    ttft_k = wt.histogram(sub_df, ["k"], "ttft_ms", K)
    tokens_k = wt.histogram(sub_df, ["k"], "input_tokens", K)
    mem_c = wt.histogram(sub_df, ["component"], "mem_delta_bytes", K_MEM)
    self_k = wt.histogram(sub_df, ["k"], "self_ms", K)
    roots = df.lazy().filter(pl.col("root")).select("success", "w", "total_ms", "request_cost", component="_folded")
    requests = roots.group_by("component", "success").agg(
        rows=pl.len(),
        n=pl.col("w").sum(),
        cost_sum=(pl.col("request_cost") * pl.col("w")).sum(),
        cost_w=pl.col("w").filter(pl.col("request_cost").is_not_null()).sum(),
        slo_ok=pl.col("w").filter(pl.col("total_ms") <= thresholds.request_latency_p95_ms).sum(),
    )
    request_lat = wt.histogram(roots, ["component"], "total_ms", K)
    frames = pl.collect_all([exact, estimated, lat_b, lat_k, ttft_k, tokens_k, mem_c, self_k, requests, request_lat])
    exact_df, est_df, lat_b_df, lat_k_df, ttft_df, tokens_df, mem_df, self_df, req_df, req_lat_df = frames
    sums = exact_df.join(est_df, on=list(GROUP), how="left").with_columns(*[pl.col(c).fill_null(0.0) for c in est_cols])
    return Cube(window, dims, sums, lat_b_df, lat_k_df, ttft_df, tokens_df, mem_df, m, distinct, kept, self_df, req_df,
                req_lat_df)  # fmt: skip


def _kept_components(df: pl.DataFrame, n: int) -> tuple[pl.Series | None, int]:
    """The top n component names by weighted execution time (None when there are no more than n), and the
    number of distinct names: one group-by over the window's frames."""
    time = df.group_by("component").agg(time=(pl.col("total_ms").fill_null(0.0) * pl.col("w")).sum())
    if time.height <= n:
        return None, time.height
    return fold.top(time, ["component"], ["time"], n)["component"], time.height


def with_dims(frame: pl.DataFrame | pl.LazyFrame, cube: Cube) -> pl.LazyFrame:
    """Attach agent/component/model/provider to a frame keyed by `k` (a join of small frames)."""
    return frame.lazy().join(cube.dims.lazy(), on="k", how="left")
