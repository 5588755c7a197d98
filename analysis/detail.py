"""Everything about one component (`smythtop analyze --component`, the TUI drill-down), and one trace's tree."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime

import numpy as np
import polars as pl
from smythtop.analysis import (
    anomalies,
    bottlenecks,
    cube,
    fold,
    pricing,
    recommend,
    selftime,
    semantics,
    series,
    spans,
    trends,
)
from smythtop.analysis.baseline import Baseline, compare, sample_component
from smythtop.analysis.results import (
    BaselineSummary,
    ComponentSummary,
    Detail,
    DetailTrend,
    ErrorType,
    HistogramBin,
    LatencyPoint,
    Phases,
    SlowTrace,
    Span,
)
from smythtop.analysis.rollup import PHASES, rollup
from smythtop.analysis.rows import llm_row, stat_fields
from smythtop.analysis.thresholds import CustomPrice, Thresholds
from smythtop.analysis.window import conform, iso, prepare, scope

HISTOGRAM_BINS = 20
SLOWEST = 10


class UnknownComponent(ValueError):
    """The component has no frames in the window."""


def latency_histogram(values: pl.DataFrame, bins: int = HISTOGRAM_BINS) -> list[HistogramBin]:
    """Weighted counts in `bins` log-spaced bins from the fastest to the slowest execution."""
    lo, hi = values.select(lo=pl.col("total_ms").min(), hi=pl.col("total_ms").max()).row(0)
    lo = max(float(lo), 1e-3)
    hi = max(float(hi), lo * 1.000001)
    step = (math.log(hi) - math.log(lo)) / bins
    counts = (
        values.lazy()
        .group_by(i=((pl.col("total_ms").clip(lower_bound=lo).log() - math.log(lo)) / step).floor().clip(0, bins - 1))
        .agg(count=pl.col("w").sum())
        .collect()
    )
    by_bin = dict(counts.select(pl.col("i").cast(pl.Int64), "count").iter_rows())
    edges = np.exp(math.log(lo) + step * np.arange(bins + 1))
    return [
        HistogramBin(lo_ms=float(edges[i]), le_ms=float(edges[i + 1]), count=by_bin.get(i, 0.0)) for i in range(bins)
    ]


def component_detail(
    frames: pl.DataFrame | pl.LazyFrame,
    component: str,
    *,
    window_from: datetime | None = None,
    window_to: datetime | None = None,
    thresholds: Thresholds | None = None,
    baseline: Baseline | None = None,
    bucket_ns: int | None = None,
) -> Detail:
    """Stats, latency series and histogram, phases, errors, models, baseline comparison, callers/callees and
    the slowest traces of one component. Raises UnknownComponent if it has no frames in the window.
    `bucket_ns` fixes the series' bucket width (a live window aligned to it), as in `report.build_live`."""
    th = thresholds or Thresholds()
    priced = pricing.read_time_priced(scope(frames, window_from, window_to), th.prices)
    df, win = prepare(priced, window_from, window_to, bucket_ns=bucket_ns)
    df = selftime.annotate(df)  # over the whole window: a component's children are other components
    mine = df.filter(pl.col("component") == component)
    if mine.height == 0:
        if component == fold.OTHER:
            raise UnknownComponent(
                f"{fold.OTHER} is the components beyond the report's top {th.max_rows} by time, folded into one row"
                " (analysis.max_rows in the config); it has no drill-down of its own"
            )
        known = df["component"].unique().sort().head(12).to_list()  # in polars: a window may hold 1e6 names
        hint = f"; components in the window: {', '.join(map(repr, known))}" if known else "; the window is empty"
        raise UnknownComponent(f"no frames for component {component!r}{hint}")
    c = cube.build(mine, win, th)
    stats = rollup(c, ["component"]).row(0, named=True)
    per_bucket = rollup(c, ["component", "b"])
    s = series.build(per_bucket, win, component)
    p50 = dict(per_bucket.select("b", "p50_ms").iter_rows())
    p95 = dict(per_bucket.select("b", "p95_ms").iter_rows())
    rows = dict(per_bucket.select("b", "rows").iter_rows())
    latency_series = [
        LatencyPoint(t=iso(win.bucket_start_ns(b)), p50_ms=p50.get(b), p95_ms=p95.get(b), executions=rows.get(b, 0))
        for b in range(win.n_buckets)
    ]
    total_ms = float(df.select((pl.col("self_ms") * pl.col("w")).sum()).item())
    mean = stats["mean_ms"] or 0.0
    phase_shares = Phases(**{p: (stats[p] / mean) if stats[p] is not None and mean else None for p in PHASES})

    errors = (
        mine.filter(~pl.col("success"))
        .group_by(error_type=pl.col("error_type").fill_null("(unknown)"))
        .agg(count=pl.col("w").sum(), rows=pl.len())
        .sort(["count", "error_type"], descending=[True, False])
    )
    total_errors = float(errors["count"].sum()) if errors.height else 0.0
    error_rows = [ErrorType(**r, share=r["count"] / total_errors) for r in errors.iter_rows(named=True)]

    models = [
        llm_row(r, win, ("model", "provider"))
        for r in rollup(c, ["model", "provider"], llm_only=True).iter_rows(named=True)
    ]
    models.sort(key=lambda m: -(m.cost_usd or 0.0))

    comparison = []
    if baseline is not None:
        current = sample_component(df, component, iso(win.start_ns), iso(win.end_ns))
        if current is not None:
            comparison = compare(baseline, current)

    sample = spans.sample(df)
    critical, traces = spans.critical_path(sample)
    flows = semantics.flows(sample, limit=10_000)
    affinity = semantics.affinity(sample, limit=10_000)
    comps_all = rollup(c, ["component"])
    found = bottlenecks.find(comps_all, {component: critical[component]} if component in critical else {}, traces, th)
    llm = rollup(c, ["component", "model", "provider"], llm_only=True)
    recs = recommend.rank(
        recommend.model_downgrades(llm, win)
        + recommend.prompt_caching(llm, win)
        + recommend.retry_policy(comps_all, win),
        win,
    )

    slowest = (
        mine.sort("total_ms", descending=True)
        .head(SLOWEST)
        .select("trace_id", "span_id", "agent_id", "t", "total_ms", "success", "error_type", "model", "cost_usd")
    )
    summary = stat_fields(stats, win, th, total_ms)
    return Detail(
        component=component,
        window=win.result(),
        summary=ComponentSummary(**summary, critical_path_share=critical.get(component)),
        latency_series=latency_series,
        histogram=latency_histogram(mine),
        phases=summary["phases"],
        phase_shares=phase_shares,
        errors=error_rows,
        models=models,
        baseline=BaselineSummary(**baseline.summary()) if baseline else None,
        comparison=comparison,
        regressions=[r for r in comparison if r.regressed],
        bottlenecks=found,
        anomalies=anomalies.detect([s], win, th.error_rate),
        trends=[DetailTrend.of(x) for x in trends.trends([s], win, th.error_rate)],
        recommendations=recs,
        callers=[f for f in flows if f.to == component],
        callees=[f for f in flows if f.from_ == component],
        next=[a for a in affinity if a.from_ == component],
        previous=[a for a in affinity if a.to == component],
        slowest_traces=[
            SlowTrace(**{k: v for k, v in r.items() if k != "t"}, ts=iso(r["t"])) for r in slowest.iter_rows(named=True)
        ],
    )


def span_tree(
    frames: pl.DataFrame | pl.LazyFrame, trace_id: str, *, prices: Mapping[str, CustomPrice] | None = None
) -> list[Span]:
    """The spans of one trace in depth-first start order, with depth and start offset from the trace start.

    Spans whose parent is missing (sampled out, or still running) are shown as roots. Self time is against the
    children shown (each weighs 1, whatever its sample rate). Empty if unknown. Spans stored without a cost are
    priced from `prices` (the config's `[prices]`), as the report prices them.
    """
    spans = (
        pricing.read_time_priced(conform(frames), prices or {})
        .filter(pl.col("trace_id") == trace_id)
        .select(
            "trace_id",
            "span_id",
            "parent_span_id",
            "component",
            "agent_id",
            "total_ms",
            "success",
            "error_type",
            "model",
            "cost_usd",
            "input_tokens",
            "output_tokens",
            t=pl.col("ts").dt.epoch("ns"),
            w=pl.lit(1.0),
        )
        .sort("t")
        .collect()
    )
    rows = selftime.annotate(spans).to_dicts()
    if not rows:
        return []
    start = rows[0]["t"]
    ids = {r["span_id"] for r in rows if r["span_id"] is not None}
    kids: dict[str | None, list[dict]] = defaultdict(list)
    for r in rows:
        parent = r["parent_span_id"] if r["parent_span_id"] in ids and r["parent_span_id"] != r["span_id"] else None
        kids[parent].append(r)
    out: list[Span] = []
    seen: set[int] = set()

    def visit(r: dict, depth: int) -> None:
        if id(r) in seen:
            return
        seen.add(id(r))
        out.append(
            Span(
                depth=depth,
                component=r["component"],
                span_id=r["span_id"],
                parent_span_id=r["parent_span_id"],
                start_ms=(r["t"] - start) / 1e6,
                total_ms=r["total_ms"],
                success=r["success"],
                agent_id=r["agent_id"],
                error_type=r["error_type"],
                model=r["model"],
                cost_usd=r["cost_usd"],
                self_ms=r["self_ms"],
                input_tokens=r["input_tokens"],
                output_tokens=r["output_tokens"],
            )
        )
        for k in kids.get(r["span_id"], []) if r["span_id"] is not None else []:
            visit(k, depth + 1)

    for root in kids[None]:
        visit(root, 0)
    for r in rows:  # spans in a parent cycle are unreachable from a root: list them rather than drop them
        visit(r, 0)
    return out
