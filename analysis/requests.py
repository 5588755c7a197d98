"""Requests: the root spans of the window (see `selftime` for which frames are roots) and their whole trees.

A request's latency is its root span's duration, end to end, judged against its own SLO
(`Thresholds.request_latency_p95_ms`, not a component's); its success is the root's; its cost is its trace's
(`selftime.request_cost`). Every figure is weighted by the root's 1/sample_rate, from the cube's `requests` and
`request_lat` frames (one row per root component and outcome, and a latency histogram per root component).
"""

from __future__ import annotations

import polars as pl
from smythtop.analysis import fold
from smythtop.analysis import weights as wt
from smythtop.analysis.cube import Cube
from smythtop.analysis.results import RequestRow, RequestStats
from smythtop.analysis.thresholds import Thresholds

_PCT = ((0.5, 0.95, 0.99), ("p50_ms", "p95_ms", "p99_ms"))


def _totals(sums: pl.DataFrame, by: list[str], hist: pl.DataFrame) -> pl.LazyFrame:
    """The requests' sums of each group of `by` (all of them: []) with their latency percentiles."""
    aggs = [
        pl.col("rows").sum(),
        pl.col("n").sum().alias("requests"),
        pl.col("n").filter(pl.col("success")).sum().alias("ok"),
        *[pl.col(c).sum() for c in ("slo_ok", "cost_sum", "cost_w")],
    ]
    pct = wt.quantiles(hist, by, *_PCT)
    if not by:
        return pl.concat([sums.lazy().select(aggs), pct], how="horizontal")
    return sums.lazy().group_by(by).agg(aggs).join(pct, on=by, how="left")


def _stats(joined: pl.DataFrame, by: list[str], minutes: float, th: Thresholds) -> list[dict]:
    return [
        {
            **({"component": r["component"]} if by else {}),
            "requests": r["requests"],
            "rows": r["rows"],
            "requests_per_min": r["requests"] / minutes,
            "success_rate": r["ok"] / r["requests"] if r["requests"] else None,
            "p50_ms": r["p50_ms"],
            "p95_ms": r["p95_ms"],
            "p99_ms": r["p99_ms"],
            "slo_p95_ms": th.request_latency_p95_ms,
            "slo_attainment": r["slo_ok"] / r["requests"] if r["requests"] else None,
            "cost_per_request_usd": r["cost_sum"] / r["cost_w"] if r["cost_w"] else None,
            "unpriced_requests": r["requests"] - r["cost_w"],
        }
        for r in joined.iter_rows(named=True)
    ]


def requests(cube: Cube, th: Thresholds) -> tuple[RequestStats, list[RequestRow]]:
    """All requests of the window, and one row per root component (most requests first, "(other)" last)."""
    minutes = cube.window.basis_minutes  # the time covered by data, as every rate
    sums, hist = cube.requests, cube.request_lat
    # one query for both (each eager polars call costs a fixed ~0.5 ms, and this runs every live tick)
    overall_df, by_root = pl.collect_all([_totals(sums, [], hist), _totals(sums, ["component"], hist)])
    overall = _stats(overall_df, [], minutes, th)
    empty = {k: None for k in RequestStats.__struct_fields__} | {
        "requests": 0.0, "rows": 0, "requests_per_min": 0.0, "slo_p95_ms": th.request_latency_p95_ms,
        "unpriced_requests": 0.0,
    }  # fmt: skip
    summary = RequestStats(**(overall[0] if sums.height else empty))
    rows = [RequestRow(**r) for r in _stats(by_root, ["component"], minutes, th)]
    rows.sort(key=lambda r: (r.component == fold.OTHER, -r.requests, r.component))
    return summary, rows
