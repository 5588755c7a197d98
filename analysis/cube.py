"""The few passes over raw frames that every report statistic is derived from.

At 10M rows each pass over a column costs ~10 ms, so the report touches raw rows a fixed, small number
of times and everything else (per component, per agent, per model, per bucket, the detectors) is re-grouped
from these small frames:

- `sums`: plain sums per (dim, bucket, sample_rate, success), then multiplied by the weight 1/sample_rate
  (constant inside a group, so the weighting costs nothing per row) and re-summed per (dim, bucket, success);
- `lat_b`: a log-binned weighted histogram of total_ms per (component, bucket), for per-bucket percentiles;
- `lat_k`: the same per dim, for window-level percentiles per component, (agent, component) and model;
- `ttft_k`: time-to-first-token per dim; `mem_c`: memory delta per component.

A dim is one (agent_id, component, model, provider) combination, keyed by a 64-bit hash so the group-bys
hash one integer instead of four strings.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from analysis import weights as wt
from analysis.thresholds import Thresholds
from analysis.window import Window

DIM = ("agent_id", "component", "model", "provider")
K = 100  # histogram bins per unit of ln(1 + x): window-level latency percentiles within 1 % (relative)
K_SERIES = 50  # per-bucket percentiles within 2 %: the detectors' noise floors are wider than that
K_MEM = 20  # memory delta p95 within 5 %: a rough figure, and byte deltas spread over many bins

# Columns summed per group (weighted), and the ones whose non-null count is kept for weighted means.
SUMMED = (
    "total_ms",
    "input_ms",
    "core_ms",
    "output_ms",
    "queue_ms",
    "mem_delta_bytes",
    "mem_pressure",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "context_utilization",
    "retry_count",
)
COUNTED = (
    "input_ms",
    "core_ms",
    "output_ms",
    "queue_ms",
    "mem_delta_bytes",
    "mem_pressure",
    "cost_usd",
    "context_utilization",
    "model",
)


@dataclass(frozen=True)
class Cube:
    window: Window
    dims: pl.DataFrame  # k, agent_id, component, model, provider
    sums: pl.DataFrame  # k, b, success, n, rows, <col>_sum, <col>_w, slo_ok, mem_over, retry_ms, unpriced
    lat_b: pl.DataFrame  # component, b, _bin, _w, _v
    lat_k: pl.DataFrame  # k, _bin, _w, _v
    ttft_k: pl.DataFrame  # k, _bin, _w, _v
    mem_c: pl.DataFrame  # component, _bin, _w, _v

    @property
    def empty(self) -> bool:
        return self.sums.height == 0


def dim_key() -> pl.Expr:
    """A 64-bit key per (agent, component, model, provider); distinct seeds keep the four fields apart."""
    parts = [pl.col(c).hash(seed=i + 1) for i, c in enumerate(DIM)]
    return (parts[0] ^ parts[1] ^ parts[2] ^ parts[3]).alias("k")


def build(df: pl.DataFrame, window: Window, thresholds: Thresholds) -> Cube:
    """All raw-row passes of a report, on the frame `window.prepare` returned."""
    df = df.with_columns(dim_key())
    first = df.select(pl.col("k").arg_unique()).to_series()
    dims = df[first, ["k", *DIM]]

    overrides = thresholds.latency_p95_ms_by_component
    slo = (
        pl.col("component").replace_strict(dict(overrides), default=thresholds.latency_p95_ms, return_dtype=pl.Float64)
        if overrides
        else pl.lit(thresholds.latency_p95_ms)
    )
    rc = pl.col("retry_count").cast(pl.Float64)
    flags = {
        "slo_ok": pl.col("total_ms") <= slo,
        "mem_over": pl.col("mem_pressure") >= thresholds.memory_pressure,
        "retry_ms": pl.col("total_ms") * rc / (rc + 1.0),
        "unpriced": pl.col("model").is_not_null() & pl.col("cost_usd").is_null(),
    }
    # Plain `col.sum()`/`col.count()` only: polars' group-by fast path; any expression inside agg is ~3x slower.
    plain = (
        df.lazy()
        .with_columns(**flags)
        .group_by("k", "b", "sample_rate", "success")
        .agg(
            pl.len().alias("rows"),
            *[pl.col(c).sum().alias(f"{c}_sum") for c in SUMMED],
            *[pl.col(c).count().alias(f"{c}_w") for c in COUNTED],
            *[pl.col(c).sum() for c in flags],
            pl.col("input_tokens").min().alias("input_tokens_min"),
            pl.col("input_tokens").max().alias("input_tokens_max"),
        )
    )
    keep = ("k", "b", "sample_rate", "success", "rows", "input_tokens_min", "input_tokens_max")
    weighted = [c for c in plain.collect_schema().names() if c not in keep]
    sums = (
        plain.with_columns(w=1.0 / pl.col("sample_rate").fill_null(1.0))
        .with_columns(
            (pl.col("rows") * pl.col("w")).alias("n"), *[pl.col(c).cast(pl.Float64) * pl.col("w") for c in weighted]
        )
        .group_by("k", "b", "success")
        .agg(
            pl.col("rows").sum(),
            pl.col("n").sum(),
            pl.col("input_tokens_min").min(),
            pl.col("input_tokens_max").max(),
            *[pl.col(c).sum() for c in weighted],
        )
    )
    lat_b = wt.histogram(df, ["component", "b"], "total_ms", K_SERIES)
    lat_k = wt.histogram(df, ["k"], "total_ms", K)
    ttft_k = wt.histogram(df.lazy().filter(pl.col("ttft_ms").is_not_null()), ["k"], "ttft_ms", K)
    mem_c = wt.histogram(df, ["component"], "mem_delta_bytes", K_MEM)
    sums_df, lat_b_df, lat_k_df, ttft_df, mem_df = pl.collect_all([sums, lat_b, lat_k, ttft_k, mem_c])
    return Cube(window, dims, sums_df, lat_b_df, lat_k_df, ttft_df, mem_df)


def with_dims(frame: pl.DataFrame | pl.LazyFrame, cube: Cube) -> pl.LazyFrame:
    """Attach agent/component/model/provider to a frame keyed by `k` (a join of small frames)."""
    return frame.lazy().join(cube.dims.lazy(), on="k", how="left")
