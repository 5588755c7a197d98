"""Statistics for any grouping (component, agent x component, model, bucket, ...), re-grouped from the cube.

Everything here works on the cube's small frames, never on raw rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import cache

import polars as pl
from smythtop.analysis import weights as wt
from smythtop.analysis.cube import SERIES_NAMES, SERIES_QS, Cube
from smythtop.analysis.fold import OTHER, top

PHASES = ("input_ms", "core_ms", "output_ms", "queue_ms")
TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
_SUCCESS = pl.col("success")


def rollup(cube: Cube, by: Sequence[str], *, llm_only: bool = False) -> pl.DataFrame:
    """One row per group of `by` (names from DIM and/or "b") with weighted counts, sums, means and percentiles.

    `llm_only` keeps only frames with a model (the LLM calls). A rollup per bucket (`by` holds "b") has the time
    series' columns only (`SERIES_COLUMNS`): that is all its readers (`series`, sparklines, the drill-down) take,
    and the ~45 sums of a whole rollup made each per-bucket one ~4 ms of every live tick.
    """
    return rollups(cube, [(by, llm_only)])[0]


def rollups(cube: Cube, specs: Sequence[tuple[Sequence[str], bool]]) -> list[pl.DataFrame]:
    """Several rollups (by, llm_only) in one `collect_all`: polars plans them together and runs them in parallel."""
    return pl.collect_all([_plan(cube, list(by), llm_only) for by, llm_only in specs])


def capped(cube: Cube, specs: Sequence[tuple[Sequence[str], bool, Sequence[str] | None]], n: int) -> list[pl.DataFrame]:
    """`rollups` (by, llm_only, score) with at most n + 1 rows each: the top n by `score`, then one OTHER row;
    a None score leaves that rollup whole (so a caller runs all its rollups in one `collect_all`).

    All rollups run together first; only one with more than n groups is rolled up again, with the dims of its
    groups outside the top n relabelled OTHER (every `by` column), so the OTHER row's counts, sums and
    percentiles are exact for the frames it stands for.
    """
    full = rollups(cube, [(by, llm_only) for by, llm_only, _ in specs])
    return [
        frame if score is None or frame.height <= n else _fold(cube, frame, list(by), llm_only, score, n)
        for frame, (by, llm_only, score) in zip(full, specs, strict=True)
    ]


def _fold(cube: Cube, full: pl.DataFrame, by: list[str], llm_only: bool, score: Sequence[str], n: int) -> pl.DataFrame:
    keep = top(full, by, score, n).select(*by, _keep=pl.lit(True))
    fold = pl.col("_keep").is_null()
    if llm_only:  # frames without a model stay out of an LLM rollup after relabelling too
        fold = fold & pl.col("model").is_not_null()
    dims = (
        cube.dims.join(keep, on=by, how="left", nulls_equal=True)
        .with_columns(pl.when(fold).then(pl.lit(OTHER)).otherwise(pl.col(c)).alias(c) for c in by)
        .drop("_keep")
    )
    return rollup(dataclasses.replace(cube, dims=dims), by, llm_only=llm_only)


def _plan(cube: Cube, by: list[str], llm_only: bool) -> pl.LazyFrame:
    sums = cube.labelled["sums"].lazy()
    if llm_only:
        sums = sums.filter(pl.col("model").is_not_null())
    if "b" in by:
        derived = sums.group_by(by).agg(_SERIES_AGGS).with_columns(_SERIES_DERIVED).select(*by, *SERIES_COLUMNS)
    else:
        aggs = _aggs(tuple(cube.sums.columns))
        base = sums.group_by(by).agg(aggs) if by else sums.select(aggs)
        derived, per_call = _derived()
        derived = base.with_columns(derived).with_columns(per_call)
    pct = _percentiles(cube, by, llm_only)
    return derived.join(pct, on=by, how="left", nulls_equal=True) if by else pl.concat([derived, pct], how="horizontal")


# the columns of a rollup per bucket besides its percentiles (`rollup`): what `series` and the sparklines read
SERIES_COLUMNS = ("rows", "executions", "errors", "cost_usd", "llm_calls", "priced_calls", "input_tokens",
                  "output_tokens")  # fmt: skip
_SERIES_AGGS = (
    pl.col("rows").sum(),
    pl.col("n").sum().alias("executions"),
    pl.col("n").filter(~_SUCCESS).sum().alias("errors"),
    *(pl.col(c).sum() for c in ("cost_usd_sum", "model_w", "unpriced", "input_tokens_sum", "output_tokens_sum")),
)
_SERIES_DERIVED = (
    pl.col("cost_usd_sum").alias("cost_usd"),
    pl.col("model_w").alias("llm_calls"),
    (pl.col("model_w") - pl.col("unpriced")).alias("priced_calls"),
    pl.col("input_tokens_sum").alias("input_tokens"),
    pl.col("output_tokens_sum").alias("output_tokens"),
)


# The expressions of a rollup are built once: a tick runs six rollups, and building their expressions anew each
# time was ~17 ms of Python a tick (a quarter of the rollups' time), for plans whose columns never change.
@cache
def _aggs(columns: tuple[str, ...]) -> list[pl.Expr]:
    """The sums of a rollup, for a cube whose `sums` has these columns."""
    summed = [c for c in columns if c.endswith(("_sum", "_w"))]
    extra = ["slo_ok", "mem_over", "retry_ms", "unpriced", "own_fail", "own_failed_ms"]
    return [
        pl.col("rows").sum(),
        pl.col("n").sum().alias("executions"),
        pl.col("n").filter(~_SUCCESS).sum().alias("errors"),
        pl.col("total_ms_sum").filter(~_SUCCESS).sum().alias("failed_ms"),
        pl.col("cost_usd_sum").filter(~_SUCCESS).sum().alias("failed_cost_usd"),
        pl.col("retry_ms").filter(_SUCCESS).sum().alias("retried_ms"),
        *[pl.col(c).sum() for c in summed + extra],
    ]


@cache
def _derived() -> tuple[list[pl.Expr], pl.Expr]:
    """The means, rates and cost columns from a rollup's sums; then the cost per call, which reads them."""
    executions = pl.col("executions")
    derived = [
        *[pl.col(f"{t}_sum").alias(t) for t in TOKENS],
        *[wt.mean_of(p) for p in PHASES],
        wt.mean_of("mem_delta_bytes").alias("mem_delta_mean_bytes"),
        wt.mean_of("mem_pressure").alias("mem_pressure_mean"),
        wt.mean_of("context_utilization").alias("mean_context_utilization"),
        (pl.col("errors") / executions).alias("error_rate"),
        (pl.col("total_ms_sum") / executions).alias("mean_ms"),
        pl.col("own_fail").alias("own_errors"),  # failures not explained by a failed child (`selftime`)
        (pl.col("own_fail") / executions).alias("own_error_rate"),
        (pl.col("self_ms_sum") / executions).alias("mean_self_ms"),
        (pl.col("slo_ok") / executions).alias("slo_attainment"),
        (pl.col("mem_over") / executions).alias("mem_over_share"),
        pl.col("model_w").alias("llm_calls"),
        pl.col("unpriced").alias("unpriced_calls"),
        (pl.col("model_w") - pl.col("unpriced")).alias("priced_calls"),
        pl.col("cost_usd_sum").alias("cost_usd"),
    ]
    per_call = pl.when(pl.col("priced_calls") > 0).then(pl.col("cost_usd") / pl.col("priced_calls"))
    return derived, per_call.alias("cost_per_call")


_KEYED = (  # the cube's per-key histograms a rollup reads, with their percentiles and the columns they fill
    ("lat_k", (0.5, 0.95, 0.99), ("p50_ms", "p95_ms", "p99_ms")),
    ("ttft_k", (0.95,), ("p95_ttft_ms",)),
    ("tokens_k", (0.05, 0.99), ("input_tokens_p5", "input_tokens_p99")),
    ("self_k", (0.5, 0.95), ("p50_self_ms", "p95_self_ms")),
)


@cache
def _keyed_picks() -> list[pl.Expr]:
    """`weights.quantiles`' percentile expressions for each of _KEYED's histograms within a group of their stack
    (rows tagged `_m`, in `_bin` order): the same smallest value whose running weight reaches q of the total."""
    picks = []
    for i, (_, qs, names) in enumerate(_KEYED):
        mine = pl.col("_m") == i
        w = pl.col("_w").filter(mine)
        cw, tot = w.cum_sum(), w.sum()
        picks += [pl.col("_v").filter(mine).filter(cw >= q * tot * (1 - wt.EPS)).first().alias(name)
                  for q, name in zip(qs, names, strict=True)]  # fmt: skip
    return picks


def _percentiles(cube: Cube, by: list[str], llm_only: bool) -> pl.LazyFrame:
    """p50/p95/p99 of total_ms, p95 of TTFT and of memory delta for the grouping."""
    if "b" in by:
        hist = cube.lat_b.lazy()
        if set(by) - {"b", "component"}:
            raise ValueError("per-bucket percentiles exist per component or overall only")
        if by == ["b"] and cube.fleet_b_q is not None:  # kept per bucket (a live window), as lat_b_q below
            return cube.fleet_b_q.lazy()
        if sorted(by) != ["b", "component"]:
            hist = wt.regroup(hist, by)
        elif cube.lat_b_q is not None:  # kept per bucket (a live window): the same figures, computed as buckets change
            return cube.lat_b_q.lazy().select(*by, *SERIES_NAMES)
        return wt.quantiles(hist, by, SERIES_QS, SERIES_NAMES)
    # the four keyed histograms stacked, each tagged with its index in _KEYED, and grouped once: one sort and one
    # group-by for all their percentiles instead of one each and three joins (a live tick runs four such rollups)
    tagged = pl.concat(
        [cube.labelled[name].lazy().with_columns(_m=pl.lit(i, dtype=pl.UInt8)) for i, (name, _, _) in enumerate(_KEYED)]
    )
    if llm_only:
        tagged = tagged.filter(pl.col("model").is_not_null())
    ordered = wt.regroup(tagged, [*by, "_m"]).sort("_bin")
    frames = [ordered.group_by(by).agg(_keyed_picks()) if by else ordered.select(_keyed_picks())]
    if set(by) <= {"component"} and not llm_only:  # memory is kept per component only (see cube)
        frames.append(wt.quantiles(wt.regroup(cube.mem_c, by), by, (0.95,), ("mem_delta_p95_bytes",)))
    else:
        frames[0] = frames[0].with_columns(mem_delta_p95_bytes=pl.lit(None, dtype=pl.Float64))
    if not by:
        return pl.concat(frames, how="horizontal")
    out = frames[0]
    for f in frames[1:]:
        out = out.join(f, on=by, how="left", nulls_equal=True)
    return out
