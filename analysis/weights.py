"""Weighted means and percentiles: every frame counts 1/sample_rate times.

Percentiles come from a log-binned weighted histogram (the DDSketch idea): one hash group-by per grouping,
linear in rows, instead of a per-group sort that costs ~10x more at 10M rows. The value reported for a
percentile is the largest observed value in the bin that holds it, so it is never below the true value and
the error is bounded by the bin width: at most `1/k` relative (plus `1/k` absolute near zero). The percentile
definition is numpy's `inverted_cdf` on the data expanded by weight: the smallest x with W(<= x) >= q * W.

`quantiles` reads percentiles from a histogram frame in a polars plan; `quantiles_np` reads the same ones from
histogram rows held as numpy arrays, for the few-thousand-row histograms a live tick regroups many times (a
polars group-by evaluating per-group filter / cum_sum / first expressions costs ~1-3 ms of fixed time each).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import polars as pl
from smythtop.store.sketch import bin_of  # the store's rollups bin values the same way

W = pl.col("w")
EPS = 1e-12  # a running weight this close below q of the total counts as reaching it (float sums)


def mean_of(name: str) -> pl.Expr:
    """The weighted mean from `<name>_sum` / `<name>_w`, null where nothing was measured."""
    return pl.when(pl.col(f"{name}_w") > 0).then(pl.col(f"{name}_sum") / pl.col(f"{name}_w")).alias(name)


def histogram(frame: pl.DataFrame | pl.LazyFrame, by: Sequence[str], value: str, k: int) -> pl.LazyFrame:
    """Weighted histogram of `value` per group: columns by + [_bin, _w, _v (largest value in the bin)]."""
    return (
        frame.lazy()
        .filter(pl.col(value).is_not_null())
        .group_by([*by, bin_of(pl.col(value), k).alias("_bin")])
        .agg(_w=W.sum(), _v=pl.col(value).max().cast(pl.Float64))
    )


def regroup(hist: pl.DataFrame | pl.LazyFrame, by: Sequence[str]) -> pl.LazyFrame:
    """A histogram for a coarser grouping (same bins), with no pass over raw rows."""
    return hist.lazy().group_by([*by, "_bin"]).agg(_w=pl.col("_w").sum(), _v=pl.col("_v").max())


def quantiles(
    hist: pl.DataFrame | pl.LazyFrame, by: Sequence[str], qs: Sequence[float], names: Sequence[str]
) -> pl.LazyFrame:
    """Weighted percentiles per group from its histogram: by + names.

    The histogram is sorted by `_bin` alone (one integer column) and the running sum taken inside each group:
    polars keeps the input order within a group, so each group's bins arrive in order. Sorting by the group's
    (string) columns too, and taking the running sums as window expressions, was 2.6x slower on the live
    tick's per-(component, bucket) latency histogram (300K rows, measured under load: 379 vs 143 ms)."""
    picks = _picks(tuple(qs), tuple(names))
    ordered = hist.lazy().sort("_bin")
    return ordered.group_by(list(by)).agg(picks) if by else ordered.select(picks)


@cache
def _picks(qs: tuple[float, ...], names: tuple[str, ...]) -> list[pl.Expr]:
    """The percentile expressions of `quantiles`, built once per (qs, names): a live tick asks for ~25 sets."""
    cw, tot = pl.col("_w").cum_sum(), pl.col("_w").sum()
    return [
        pl.col("_v").filter(cw >= q * tot * (1 - EPS)).first().alias(name) for q, name in zip(qs, names, strict=True)
    ]


def quantiles_np(
    group: np.ndarray, bins: np.ndarray, w: np.ndarray, v: np.ndarray, qs: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """`quantiles` on histogram rows as arrays: (groups, values[len(groups), len(qs)]).

    Rows are (group index >= 0, bin, weight, largest value) and may repeat a (group, bin): they are merged as
    `regroup` merges them (weights summed, value the max). `groups` are the distinct group indices, ascending;
    each value is `_v` of the first bin, in bin order, whose running weight reaches `q * total * (1 - EPS)`, as
    `quantiles`: a group whose weights sum to 0 gives its first bin. NaN where no bin reaches it (only with
    negative weights, a partial's taken-out frames, where `quantiles` gives null).

    Vectorised, no loop over groups or rows: the rows are merged into (group, bin) order, the running weight
    taken within each group, and each pick is the first row of its group meeting its threshold (a masked
    `minimum.reduceat`, so nothing assumes the running weight is monotone). The running weight is never a
    running sum over all groups less each group's start: that would carry the rounding of every group before
    it, and a small group after a large one could miss a percentile landing exactly on a bin edge (EPS is
    relative to the group's own total).
    """
    q = np.asarray(qs, dtype=np.float64)
    if len(group) == 0:
        return np.empty(0, dtype=np.int64), np.empty((0, q.size))
    group, bins = np.asarray(group, dtype=np.int64), np.asarray(bins, dtype=np.int64)
    w, v = np.asarray(w, dtype=np.float64), np.asarray(v, dtype=np.float64)
    low, width = bins.min(), bins.max() - bins.min() + 1
    if (group.max() + 1) * width <= _GRID_PER_ROW * len(group):
        g, v, cw = _merged_on_grid(group, bins - low, w, v, width)
    else:
        g, v, cw = _merged_by_sorting(group, bins, w, v)
    starts = np.flatnonzero(np.diff(g, prepend=-1))  # (np.r_ and friends cost ~10 us a call)
    lengths = np.diff(starts, append=g.size)
    # one row per q (rows of all the merged bins): 3x faster than one column per q, as the rows are contiguous
    reach = np.repeat(q[:, None] * cw[starts + lengths - 1] * (1 - EPS), lengths, axis=1)
    first = np.minimum.reduceat(np.where(cw >= reach, np.arange(g.size), g.size), starts, axis=1)
    return g[starts], np.append(v, np.nan)[first.T]


# A grid of every (group, bin) cell costs ~8 ns a cell (filling, summing, a cumulative sum, a scan), sorting the
# rows ~40 ns a row (measured at 20K-50K rows: equal at 5-6 cells a row), so the grid while it has at most this
# many cells a row. A tick's rollups have ~30K rows in grids of 5K-50K cells: 0.3-0.5 ms by the grid, 0.8-1.1 ms
# sorted; a histogram per (bucket, component) can have 30 cells a row (grid 15 ms, sorted 2 ms).
_GRID_PER_ROW = 4


def _merged_on_grid(
    group: np.ndarray, offset: np.ndarray, w: np.ndarray, v: np.ndarray, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The merged (group, bin) rows in order, (group, largest value, running weight), through a dense grid of
    groups x bins (`offset`: bin - the lowest bin): sums by `bincount`, maxima by `maximum.at`, and the running
    weight as a cumulative sum along each group's row of the grid, in bin order as polars' `cum_sum` (an empty
    cell adds 0.0, which changes no sum)."""
    cell = group * width + offset
    size = (group.max() + 1) * width
    filled = np.zeros(size, dtype=bool)
    filled[cell] = True
    largest = np.full(size, -np.inf)
    np.maximum.at(largest, cell, v)
    running = np.cumsum(np.bincount(cell, weights=w, minlength=size).reshape(-1, width), axis=1).ravel()
    at = np.flatnonzero(filled)
    return at // width, largest[at], running[at]


def _merged_by_sorting(
    group: np.ndarray, bins: np.ndarray, w: np.ndarray, v: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_merged_on_grid` by one sort on (group, bin) and `reduceat`, for inputs too sparse for a grid. The running
    weight within each group is a segmented prefix sum by doubling: log2 of the longest group's bin count steps
    over all rows, each row's sum a tree of its group's weights (within a few ulps of the sequential sum)."""
    key = (group << 32) | (bins + 2**31)  # bins are Int32: non-negative in the low 32 bits once shifted
    order = np.argsort(key)
    key = key[order]
    runs = np.flatnonzero(np.diff(key, prepend=-1))
    g = key[runs] >> 32
    starts = np.flatnonzero(np.diff(g, prepend=-1))
    lengths = np.diff(starts, append=g.size)
    pos = np.arange(g.size) - np.repeat(starts, lengths)  # each row's place in its group
    running, step = np.add.reduceat(w[order], runs), 1
    while step < lengths.max():  # after this step, each row holds the sum of the 2 * step rows up to it
        running[step:] += np.where(pos[step:] >= step, running[:-step], 0.0)
        step *= 2
    return g, np.maximum.reduceat(v[order], runs), running
