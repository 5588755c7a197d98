"""Long windows (an hour and more) from the store's per-minute rollups instead of raw frames.

The compactor writes rollup rows (store/rollups.py) in the contract of `analysis.partial` at 60 s buckets, so a
long window's cube is the merge of its minutes' rollups and a partial of the few frames still in the WAL
(`store.scan_rollups` returns both, taken together), re-grouped into the window's buckets by `partial.of_rows`:
no pass over raw frames, so a 24 h window costs what its minutes x names cost, not what its frames do.

The rollup sketch rows (~1.1M for a 24 h window of the bench's 100M frames, from the hour tier) are the cost of
a first paint: they are grouped once, in one plan, on their names as the store reads them (polars Categoricals:
`store.RollupScan.coded_sketch`), and only the grouped rows' names are decoded and hashed to the analysis' key
`k`. Measured on one core, in a fresh process: 0.6-0.7 s of CPU for the first paint against 2.5-2.9 s when every
row's names were decoded, hashed and the rows re-grouped per bucket then summed (under load; bench_rollups.py).

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

import dataclasses
from collections.abc import Mapping

import msgspec
import polars as pl
from smythtop.analysis import coverage, cube, partial, pricing
from smythtop.analysis.baseline import Baseline
from smythtop.analysis.report import build_slow, compose, live_from_cube
from smythtop.analysis.results import Report, Result
from smythtop.analysis.thresholds import Thresholds
from smythtop.analysis.window import (
    NICE_BUCKETS_S,
    NS_PER_S,
    Window,
    conform,
    iso,
    make_window,
    weighted,
)
from smythtop.store.rollups import HOUR_NS, MINUTE_NS

# Span trees, rate limits and baseline samples need raw frames: a report from rollups takes them from the raw
# frames of the window's last 15 minutes only (bounded: ~1M frames at 100M a day), and says so (`Basis`).
SPAN_SAMPLE_NS = 15 * 60 * 10**9
ROLLUPS, RAW = "rollups", "raw frames"
# What a report from rollups cannot hold (rollups aggregate frames, not span trees), listed in `Basis.unavailable`
NOT_IN_ROLLUPS = (
    "self time (mean_self_ms, p95_self_ms, own_errors: null; time_share is of total time)",
    "requests (root spans end to end)",
)
_NAMES = list(cube.DIM)
_PARTIAL_METRICS = [name for name, _ in partial.METRICS]
_BINS = (pl.col("_w").sum(), pl.col("_v").max())  # a merged sketch bin: weights add, the largest value stays


def window_for(start_ns: int, end_ns: int) -> Window:
    """The window of [start, end) that rollups can answer: whole minutes, buckets of whole minutes; a window
    whose buckets would be half an hour or wider gets buckets of whole hours from the start of its first hour,
    so that the hour tier divides them (`tier_of`): a 24 h window is 24 (or 25) hour buckets."""
    lo, hi = start_ns // MINUTE_NS * MINUTE_NS, -(-end_ns // MINUTE_NS) * MINUTE_NS
    win = make_window(lo, max(hi, lo + MINUTE_NS))
    if win.bucket_ns >= HOUR_NS // 2:
        hours = (w * NS_PER_S for w in NICE_BUCKETS_S if w * NS_PER_S >= win.bucket_ns and w * NS_PER_S % HOUR_NS == 0)
        # beyond the nice widths the window's own width is whole days already
        return make_window(lo // HOUR_NS * HOUR_NS, hi, bucket_ns=next(hours, win.bucket_ns))
    if win.bucket_ns % MINUTE_NS:  # a window under an hour may pick sub-minute buckets: rollups cannot split them
        win = make_window(lo, max(hi, lo + MINUTE_NS), bucket_ns=MINUTE_NS * -(-win.bucket_ns // MINUTE_NS))
    return win


def tier_of(window: Window) -> int:
    """The coarsest rollup tier whose rows fall whole into the window's buckets (`store.scan_rollups`'s
    `tier_ns`): hours when the buckets are whole hours from an hour's start, else minutes."""
    return HOUR_NS if window.bucket_ns % HOUR_NS == 0 and window.start_ns % HOUR_NS == 0 else MINUTE_NS


def _rollup_rows(
    sums: pl.DataFrame, sketch: pl.DataFrame, window: Window, thresholds: Thresholds
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Rollup rows as `partial.bucketed` gives a partial's, in one plan: the sums rows (with `k`, t still the
    rollup row's) in the partial contract (`partial.SUMS_KEY`, then the values), the window's latency series
    bins (t, component, `partial.series_bin`, _w, _v) and its bins (`partial.HIST_KEY`, _w, _v).

    `slo_ok` and `mem_over` are estimated from the sketches for these thresholds, per rollup row's (t, names).
    The sketch rows are grouped on the names as the sketch holds them (polars Categoricals from
    `store.scan_rollups`: no string decoded per row; a 24 h window of the bench's 100M frames is ~1M hour-tier
    sketch rows, ~50k bins), and the few grouped names hashed to `k` after."""
    slo = cube.slo_of(thresholds)  # each row's component and model: the LLM-call default for a row with a model
    rows = sketch.lazy()
    by = ["t", *_NAMES]
    ok = (  # a when/then column summed: half the CPU of a filter inside the aggregation (measured)
        rows.filter(pl.col("metric") == "total_ms")
        .with_columns(_ok=pl.when(pl.col("_v") <= slo).then(pl.col("_w")).otherwise(0.0))
        .group_by(by)
        .agg(pl.col("_ok").sum(), _all=pl.col("_w").sum())
    )
    over = (
        rows.filter(pl.col("metric") == "mem_pressure")
        .group_by(by)
        .agg(_over=pl.col("_w").filter(pl.col("_v") >= thresholds.memory_pressure).sum())
    )
    rows = rows.pipe(partial.in_buckets, window)
    lat = rows.filter(pl.col("metric") == "total_ms").group_by("t", "component", partial.series_bin()).agg(*_BINS)
    hist = rows.filter(pl.col("metric").is_in(_PARTIAL_METRICS)).group_by(*_NAMES, "metric", "_bin").agg(*_BINS)
    ok_df, over_df, lat_df, hist_df = pl.collect_all([ok, over, lat, hist])
    key = ["t", "k"]
    share = pl.col("n") / pl.col("n").sum().over(key)
    order = ["rows", "n", *(cube.exact_columns(thresholds, self_time=False) | cube.estimated_columns(thresholds))]
    labelled = (
        sums.join(_keyed(ok_df, key), on=key, how="left")
        .join(_keyed(over_df, key), on=key, how="left")
        .with_columns(
            slo_ok=(pl.col("_ok") / pl.col("_all") * pl.col("n")).fill_null(0.0),
            mem_over=(pl.col("_over") * share).fill_null(0.0),
        )
        .select(*partial.SUMS_KEY, *order)
    )
    hist_df = _keyed(hist_df, ["k"]).with_columns(pl.col("metric").cast(partial.METRIC))
    return labelled, lat_df.with_columns(pl.col("component").cast(pl.String)), hist_df


def _keyed(grouped: pl.DataFrame, first: list[str]) -> pl.DataFrame:
    """Rows grouped by names (strings or Categoricals) with the names as strings hashed to `k` (`cube.dim_key`),
    `first` columns first and the names dropped."""
    named = grouped.with_columns(pl.col(c).cast(pl.String) for c in _NAMES)
    return named.with_columns(cube.dim_key(pl.col("component"))).select(*first, pl.exclude(*first, *_NAMES))


def covered(sums: pl.DataFrame, wal: pl.DataFrame, window: Window) -> Window:
    """The window with the coverage of its data (`coverage.measure`, the basis of every rate), measured on one
    point per rollup row (its `t`, weighted by `n`, lasting its mean total_ms) and on the WAL's frames: as
    exact as raw frames where the data is in the WAL, to a tier's width (a minute, an hour) where it is in
    rollups; a window its data fills is covered whole either way."""
    points = sums.select("t", w="n", total_ms=pl.col("total_ms_sum") / pl.col("n"))
    if wal.height:
        frames = weighted(conform(wal, ("ts", "total_ms", "sample_rate", "success"))).select("t", "w", "total_ms")
        points = pl.concat([points, frames.collect()], how="vertical_relaxed")
    points = points.filter((pl.col("t") >= window.start_ns) & (pl.col("t") < window.end_ns))
    return dataclasses.replace(window, coverage=coverage.measure(points, window.start_ns, window.end_ns))


def cube_of(
    sums: pl.DataFrame, sketch: pl.DataFrame, wal: pl.DataFrame, window: Window, thresholds: Thresholds
) -> cube.Cube:
    """The window's cube from rollup rows plus the frames not yet rolled up (`store.scan_rollups`), the window's
    coverage measured on them (`covered`)."""
    window = covered(sums, wal, window)
    sums = sums.with_columns(cube.dim_key(pl.col("component")))
    rolled, lat, hist = _rollup_rows(sums, sketch, window, thresholds)
    parts = [(rolled.lazy().pipe(partial.in_buckets, window), lat.lazy(), hist.lazy())]
    # every sketch row's key has sums rows: both come from the same frames, and are cut at the same minutes
    names = [sums.select("k", *_NAMES)]
    if wal.height:
        frames = partial.of_frames(wal, MINUTE_NS, thresholds)
        parts.append(partial.bucketed([frames], frames.dims, window))
        names.append(frames.dims)
    return partial.of_rows(*(pl.concat(p) for p in zip(*parts, strict=True)), partial.merge_names(names), window,
                           thresholds)  # fmt: skip


class Basis(Result):
    """Where a report's numbers come from: raw frames, or rollups (with the tier read) plus the WAL's frames."""

    source: str  # ROLLUPS or RAW
    tier_s: int | None  # the coarsest rollup tier read (3600: hour files), None for raw frames
    rollup_files: int
    wal_frames: int  # frames not yet rolled up, aggregated on the fly
    quarantined: list[str]  # damaged rollup files moved aside while reading (their frames are not counted)
    span_sample_from: str | None  # the raw frames span-tree findings and regressions come from start here
    unavailable: list[str]  # what the source cannot provide (shown as null or empty, never estimated)


RAW_BASIS = Basis(source=RAW, tier_s=None, rollup_files=0, wal_frames=0, quarantined=[], span_sample_from=None,
                  unavailable=[])  # fmt: skip


def report_of(
    sums: pl.DataFrame,
    sketch: pl.DataFrame,
    wal: pl.DataFrame,
    sample: pl.LazyFrame,
    window: Window,
    thresholds: Thresholds,
    *,
    baselines: Mapping[str, Baseline] | None = None,
) -> Report:
    """The whole report of a window from rollup rows plus the WAL's frames (`store.scan_rollups`), and `sample`:
    raw frames of the window's end (`SPAN_SAMPLE_NS`) that the span-tree findings, rate-limit recommendations
    and baseline regressions are computed from. Self time is not in rollups: its fields are null, not faked."""
    scoped = pricing.read_time_priced(sample.pipe(conform), thresholds.prices)
    live = live_from_cube(cube_of(sums, sketch, wal, window, thresholds), scoped, thresholds)
    report = compose(live.report, build_slow(live, baselines=baselines))
    no_self = {"mean_self_ms": None, "p95_self_ms": None, "own_errors": None}
    return msgspec.structs.replace(
        report,
        components=[msgspec.structs.replace(c, **no_self) for c in report.components],
        agent_components=[msgspec.structs.replace(c, **no_self) for c in report.agent_components],
    )


def basis_of(tier_ns: int, files: int, wal_frames: int, quarantined: list[str], window: Window,
             thresholds: Thresholds) -> Basis:  # fmt: skip
    """The `Basis` of a report from rollups (`report_of`)."""
    unavailable = list(NOT_IN_ROLLUPS)
    if thresholds.prices:
        unavailable.append("read-time prices from the config (rollups keep the costs frames were recorded with)")
    return Basis(
        source=ROLLUPS,
        tier_s=tier_ns // 10**9,
        rollup_files=files,
        wal_frames=wal_frames,
        quarantined=quarantined,
        span_sample_from=iso(sample_start(window)),
        unavailable=unavailable,
    )


def sample_start(window: Window) -> int:
    """Where the raw sample of a report from rollups starts (`SPAN_SAMPLE_NS` before the window's end)."""
    return max(window.start_ns, window.end_ns - SPAN_SAMPLE_NS)
