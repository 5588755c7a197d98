"""Statistics for any grouping (component, agent x component, model, bucket, ...), re-grouped from the cube.

Everything here works on the cube's small frames, never on raw rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import cache

import numpy as np
import polars as pl
from smythtop.analysis import weights as wt
from smythtop.analysis.cube import SERIES_NAMES, SERIES_QS, Cube, with_dims
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
    """Several rollups (by, llm_only) in one `collect_all`: polars plans them together and runs them in parallel.
    Their percentiles (but per bucket) are read first, in numpy, from the cube's keyed histograms stacked once."""
    stacked = _stack(cube)
    return pl.collect_all([_plan(cube, list(by), llm_only, stacked) for by, llm_only in specs])


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


def _plan(cube: Cube, by: list[str], llm_only: bool, stacked: _Stacked) -> pl.LazyFrame:
    # the names joined in each rollup's plan: `rollups` runs them in one `collect_all`, which joins them once
    sums = with_dims(cube.sums, cube)
    if llm_only:
        sums = sums.filter(pl.col("model").is_not_null())
    if "b" in by:
        derived = sums.group_by(by).agg(_SERIES_AGGS).with_columns(_SERIES_DERIVED).select(*by, *SERIES_COLUMNS)
    else:
        aggs = _aggs(tuple(cube.sums.columns))
        base = sums.group_by(by).agg(aggs) if by else sums.select(aggs)
        derived, per_call = _derived()
        derived = base.with_columns(derived).with_columns(per_call)
    pct = _percentiles(cube, by, llm_only, stacked)
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


def _percentiles(cube: Cube, by: list[str], llm_only: bool, stacked: _Stacked) -> pl.LazyFrame:
    """The grouping's percentiles: _KEYED's and the memory delta's p95 (per component or overall only), a row per
    group; per bucket (`by` holds "b"), the latency series' p50/p95/p99."""
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
    # every percentile of the four keyed histograms in one numpy pass, each row's group tagged with its histogram
    # (group * 4 + its index in _KEYED): a polars group-by evaluating the nine picks per group had a fixed cost
    # of 2-4 ms a rollup (a live tick runs four) for histograms of a few thousand rows
    names, of_dim = _groups(cube.dims, by, llm_only, stacked.missing)
    group = of_dim[stacked.dim] * len(_KEYED) + stacked.hist
    rows = group >= 0
    groups, values = wt.quantiles_np(group[rows], stacked.bins[rows], stacked.w[rows], stacked.v[rows], _QS)
    n = len(names[0]) if by else 1
    columns = {}
    for i, (_, qs, cols) in enumerate(_KEYED):
        mine = groups % len(_KEYED) == i
        for q, col in zip(qs, cols, strict=True):
            columns[col] = np.full(n, np.nan)
            columns[col][groups[mine] // len(_KEYED)] = values[mine, _QS.index(q)]
    columns["mem_delta_p95_bytes"] = np.full(n, np.nan)
    if set(by) <= {"component"} and not llm_only:  # memory is kept per component only (see cube)
        mem = cube.mem_c
        group = _group_of(mem["component"], names[0]) if by else np.zeros(mem.height, dtype=np.int64)
        rows = group >= 0
        groups, values = wt.quantiles_np(group[rows], *(mem[c].to_numpy()[rows] for c in ("_bin", "_w", "_v")), (0.95,))
        columns["mem_delta_p95_bytes"][groups] = values[:, 0]
    return pl.DataFrame([*names, *(pl.Series(c, v, nan_to_null=True) for c, v in columns.items())]).lazy()


_QS = tuple(sorted({q for _, qs, _ in _KEYED for q in qs}))  # the percentiles _KEYED reads: one pass reads them all


@dataclasses.dataclass(frozen=True)
class _Stacked:
    """The cube's keyed histograms (_KEYED) stacked as arrays, each row's key found in `dims` (`_find`): built once
    for all the rollups of a `rollups` call, which then differ only in the group of each row of `dims`."""

    dim: np.ndarray  # each row's key as its row in the cube's dims (dims.height: a key dims lacks)
    hist: np.ndarray  # each row's histogram: its index in _KEYED
    bins: np.ndarray
    w: np.ndarray
    v: np.ndarray
    missing: bool  # some key is not in dims


def _stack(cube: Cube) -> _Stacked:
    frames = [getattr(cube, name) for name, _, _ in _KEYED]
    n = cube.dims.height
    dim = _find(cube.dims["k"].to_numpy(), np.concatenate([f["k"].to_numpy() for f in frames]))
    hist = np.repeat(np.arange(len(frames)), [f.height for f in frames])
    arrays = (np.concatenate([f[c].to_numpy() for f in frames]) for c in ("_bin", "_w", "_v"))
    return _Stacked(dim, hist, *arrays, missing=bool((dim == n).any()))


_FIND_BITS = 18  # the largest lookup table `_find` builds: 2^18 int64 (2 MB), for up to 2^8 keys


def _find(keys: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The index in `keys` (distinct 64-bit hashes) of each of `k`, len(keys) for one not there.

    A lookup table indexed by a window of the hashes' bits in which the keys all differ: with 2 log2(n) + 2 bits
    a window has no collision ~88 % of the time, so one of the first few does. A lookup is then a gather and a
    comparison: ~0.1 ms for a tick's ~30K histogram rows, where numpy's binary search took ~0.8 ms (~28 ns a
    lookup, a branch mispredicted at each step). Over 2^8 keys (a table too large), or if no window works, the
    binary search."""
    n = len(keys)
    keys, k = keys.view(np.int64), k.view(np.int64)  # the same bits: equal as unsigned iff equal as signed
    bits = 2 * max(n - 1, 1).bit_length() + 2
    if bits <= _FIND_BITS:
        mask = (1 << bits) - 1
        for shift in range(0, 64 - bits + 1, bits // 2):
            slot = (keys >> shift) & mask
            if np.unique(slot).size == n:
                table = np.full(mask + 1, n, dtype=np.int64)
                table[slot] = np.arange(n)
                at = table[(k >> shift) & mask]
                return np.where(np.append(keys, 0)[at] == k, at, n)
    order = np.append(np.argsort(keys), n)
    at = order[np.searchsorted(keys, k, sorter=order[:-1])]
    return np.where(np.append(keys, 0)[at] == k, at, n)


def _groups(dims: pl.DataFrame, by: list[str], llm_only: bool, missing: bool) -> tuple[list[pl.Series], np.ndarray]:
    """The groups of `by` over the cube's keys: their names (one Series per `by` column, a row per group), and
    the group of each row of `dims` (-1: left out, a key with no model in an LLM rollup), then of a key missing
    from `dims` when some is: the group whose names are all null, as the left join of `cube.with_dims` gives it
    (cubes built from frames or partials have no such key).

    `dims` has a row per key (~40: agent x component x model x provider), so this is Python."""
    index: dict[tuple, int] = {} if by else {(): 0}
    rows = zip(*(dims[c].to_list() for c in by), strict=True) if by else [()] * dims.height
    models = dims["model"].to_list()
    of_dim = [-1 if llm_only and model is None else index.setdefault(row, len(index))
              for row, model in zip(rows, models, strict=True)]  # fmt: skip
    of_dim.append(index.setdefault((None,) * len(by), len(index)) if missing and not llm_only else -1)
    groups = list(index) if by else []
    names = [pl.Series(c, [g[j] for g in groups], dtype=dims.schema[c]) for j, c in enumerate(by)]
    return names, np.array(of_dim, dtype=np.int64)


def _group_of(values: pl.Series, names: pl.Series) -> np.ndarray:
    """The index in `names` (distinct) of each of `values`, -1 for one not among them. A dict in Python (~0.3 ms
    for the ~3K rows of a memory histogram): polars' `replace_strict` runs a query, ~0.5 ms whatever the size."""
    index = {name: i for i, name in enumerate(names.to_list())}
    return np.array([index.get(value, -1) for value in values.to_list()], dtype=np.int64)
