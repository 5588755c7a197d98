"""The whole report as one typed result (`results.Report`, JSON shape: docs/ANALYSIS.md), for the CLI, the TUI
and scripts.

It is built in two parts so that the live app can refresh them at different paces:

- `build_live`: what every tick needs (window, summary and grade, components with their trend, models, cost
  series): the cube and six rollups; `LivePart.report` is a `results.LiveReport`;
- `build_slow`: the findings (agent x component rows, the LLM breakdowns, bottlenecks, anomalies, trends,
  regressions, recommendations, flows, affinity, critical path), derived from the live part's cube and
  rollups plus the span-tree sample: a `results.Findings`.

`build_report` composes the two, so each number has one implementation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import msgspec
import polars as pl
from smythtop.analysis import (
    anomalies,
    bottlenecks,
    cube,
    fold,
    grade,
    pricing,
    recommend,
    requests,
    selftime,
    semantics,
    series,
    spans,
    trends,
)
from smythtop.analysis.baseline import Baseline, ComponentSample, compare, sample_component
from smythtop.analysis.results import (
    AgentComponentRow,
    Comparison,
    ComponentRow,
    CostPoint,
    CriticalPathShare,
    Estimation,
    Findings,
    Folded,
    LiveEstimation,
    LiveReport,
    LlmBreakdown,
    LlmRow,
    Regression,
    Report,
    Severity,
    SpanEstimation,
    Summary,
    ThresholdsUsed,
)
from smythtop.analysis.rollup import capped
from smythtop.analysis.rows import llm_row, stat_fields
from smythtop.analysis.thresholds import Thresholds
from smythtop.analysis.window import REPORT_COLUMNS, Window, derived, iso, prepare, scope


@dataclass(frozen=True)
class Rolled:
    """The window's aggregates both halves of a report read: its cube and the rollups the live part made of it."""

    window: Window
    cube: cube.Cube
    comps: pl.DataFrame
    per_bucket: pl.DataFrame
    fleet_bucket: pl.DataFrame
    total_ms: float
    thresholds: Thresholds


@dataclass(frozen=True)
class LivePart(Rolled):
    """The live part of a report (`report`) and the intermediate frames the slow part reads."""

    report: LiveReport
    scoped: pl.LazyFrame
    df: pl.DataFrame | None  # the prepared window frames, when the cube was built from them


def _sorted_llm(frame: pl.DataFrame, window: Window, keys: tuple[str, ...]) -> list[LlmRow]:
    """Costliest first; a folded "(other)" row last."""
    rows = [llm_row(r, window, keys) for r in frame.iter_rows(named=True)]
    return sorted(
        rows,
        key=lambda m: (
            getattr(m, keys[0]) == fold.OTHER,
            -(m.cost_usd or 0.0),
            -m.calls,
            *[str(getattr(m, k)) for k in keys],
        ),
    )


_LLM_SCORE = ("cost_usd", "llm_calls")  # the LLM lists keep their costliest names, then the most called


def _folded(c: cube.Cube, n: int) -> Folded:
    """How many names each capped list folds: distinct counts over the cube's dims (one row per combination)."""
    llm = pl.col("model").is_not_null()
    counts = c.dims.select(  # one query: each eager call costs a fixed ~0.5 ms, and this runs every live tick
        agent_components=pl.struct("agent_id", "component").n_unique(),
        models=pl.struct("model", "provider").filter(llm).n_unique(),
        llm_agents=pl.col("agent_id").filter(llm).n_unique(),
        llm_providers=pl.col("provider").filter(llm).n_unique(),
    ).row(0, named=True)
    return Folded(components=fold.folded(c.components, n), **{k: fold.folded(v, n) for k, v in counts.items()})


def build_report(
    frames: pl.DataFrame | pl.LazyFrame,
    *,
    window_from: datetime | None = None,
    window_to: datetime | None = None,
    thresholds: Thresholds | None = None,
    baselines: Mapping[str, Baseline] | None = None,
    bucket_ns: int | None = None,
) -> Report:
    """Everything smythtop knows about the frames in [window_from, window_to) (bounds default to the data)."""
    live = build_live(frames, window_from=window_from, window_to=window_to, thresholds=thresholds, bucket_ns=bucket_ns)
    return compose(live.report, build_slow(live, baselines=baselines))


def compose(live: LiveReport, slow: Findings) -> Report:
    """The full report from a live part and a slow part (possibly computed a few seconds earlier)."""
    parts = msgspec.structs.asdict(live) | msgspec.structs.asdict(slow)
    estimation = msgspec.structs.asdict(live.estimation) | msgspec.structs.asdict(slow.estimation)
    return Report(**(parts | {"estimation": Estimation(**estimation)}))


def build_live(
    frames: pl.DataFrame | pl.LazyFrame,
    *,
    window_from: datetime | None = None,
    window_to: datetime | None = None,
    thresholds: Thresholds | None = None,
    bucket_ns: int | None = None,
) -> LivePart:
    """What the live panes show, recomputed every tick: summary, components (with trend), models, cost series.
    `bucket_ns` fixes the bucket width (a live window aligned to it), else the window picks it."""
    th = thresholds or Thresholds()
    scoped = pricing.read_time_priced(scope(frames, window_from, window_to), th.prices)
    df, win = prepare(scoped, window_from, window_to, columns=REPORT_COLUMNS, extra=selftime.KEYS, bucket_ns=bucket_ns)
    return live_from_cube(cube.build(df, win, th), scoped, th, df)


def live_from_cube(c: cube.Cube, scoped: pl.LazyFrame, th: Thresholds, df: pl.DataFrame | None = None) -> LivePart:
    """The live part from a cube however it was built (`cube.build`, or merged partials: `analysis.partial`).
    `scoped` (the window's raw frames, lazy) is read only by the slow part, for span trees and baselines."""
    win = c.window
    comps, overall_df, per_bucket, fleet_bucket, llm_total_df, model_rows = capped(c, [
        (["component"], False, None), ([], False, None), (["component", "b"], False, None), (["b"], False, None),
        ([], True, None), (["model", "provider"], True, _LLM_SCORE),
    ], th.max_rows)  # fmt: skip
    total_ms = float(comps["self_ms_sum"].sum()) if comps.height else 0.0  # self time: time_share sums to 1
    overall = overall_df.row(0, named=True)
    spark = _sparklines(per_bucket, win)
    component_rows = [
        ComponentRow(**stat_fields(r, win, th, total_ms), trend=spark.get(r["component"], []))
        for r in comps.iter_rows(named=True)
    ]
    component_rows.sort(key=lambda r: (r.component == fold.OTHER, -r.time_share, r.component))
    llm_total = llm_total_df.row(0, named=True) if overall["llm_calls"] else None
    burn = (llm_total["cost_usd"] or 0.0) / win.basis_hours if llm_total else 0.0
    letter, reason, detail = grade.grade(comps, th)

    executions = overall["executions"] or 0.0
    request_stats, request_rows = requests.requests(c, th)
    report = LiveReport(
        window=win.result(),
        summary=Summary(
            executions=executions,
            rows=overall["rows"],
            success_rate=1.0 - overall["error_rate"] if executions else None,
            error_rate=overall["error_rate"] if executions else None,
            p50_ms=overall["p50_ms"],
            p95_ms=overall["p95_ms"],
            p99_ms=overall["p99_ms"],
            total_cost_usd=overall["cost_usd"] or 0.0,
            unpriced_llm_calls=overall["unpriced_calls"] or 0.0,
            llm_calls=overall["llm_calls"] or 0.0,
            grade=letter,
            grade_reason=reason,
            grade_detail=detail,
            slo_attainment=overall["slo_attainment"] if executions else None,
            throughput_per_min=executions / win.basis_minutes,
            burn_usd_per_hour=burn,
            cost_status=Severity(th.cost_status(burn)),
            agents=c.dims["agent_id"].n_unique(),
            components=c.components,
            folded=_folded(c, th.max_rows),
            requests=request_stats,
        ),
        components=component_rows,
        models=_sorted_llm(model_rows, win, ("model", "provider")),
        cost_series=[
            CostPoint(t=iso(win.bucket_start_ns(b)), cost_usd=float(v))
            for b, v in enumerate(_dense(fleet_bucket, "cost_usd", win.n_buckets, 0.0))
        ],
        thresholds=ThresholdsUsed(**th.to_dict()),
        estimation=LiveEstimation(subsample_factor=c.subsample),
        requests=request_rows,
    )
    return LivePart(window=win, cube=c, comps=comps, per_bucket=per_bucket, fleet_bucket=fleet_bucket,
                    total_ms=total_ms, thresholds=th, report=report, scoped=scoped, df=df)  # fmt: skip


@dataclass(frozen=True)
class SlowInputs(Rolled):
    """What the findings read (`build_slow_from`): the live part without the window's raw frames, plus the three
    things the findings take from those frames, each bounded: the span-tree sample (`spans.MAX_SPANS`), the
    rate-limited frames and, per saved baseline, the window's sample of its component. Small enough to ship to
    another process (the app computes the findings in one: `smythtop.app.findings`): ~15 MB and ~25 ms to pickle
    for a 15-minute window of 500K frames, against ~190 MB for its frames."""

    burn_usd_per_hour: float
    sample: spans.SpanSample
    refused: pl.DataFrame  # the window's frames `recommend.rate_limited` selects, with their weight `w`
    baselined: tuple[tuple[Baseline, ComponentSample], ...]  # each baseline with its component's sample here


_REFUSED_COLUMNS = (  # what `recommend.rate_limited` and `recommend.rate_limits` read
    "success", "http_status", "error_type", "agent_id", "component", "model", "provider", "w", "total_ms", "cost_usd",
)  # fmt: skip


def build_slow(live: LivePart, *, baselines: Mapping[str, Baseline] | None = None) -> Findings:
    """The findings, from the live part's cube and rollups plus the span-tree sample (the costly part)."""
    return build_slow_from(slow_inputs(live, baselines=baselines))


def slow_inputs(live: LivePart, *, baselines: Mapping[str, Baseline] | None = None) -> SlowInputs:
    """The findings' inputs: the passes over the window's raw frames (tens of ms for 500K frames, in polars)."""
    win, c = live.window, live.cube
    window_frames = derived(live.scoped, win)
    sample = spans.sample(window_frames.with_columns(component=fold.label("component", c.kept)))
    refused = window_frames.filter(recommend.rate_limited()).select(_REFUSED_COLUMNS).collect()
    baselined = []
    if baselines:
        df = live.df
        if df is None:  # only the baselines' components: `sample_component` reads nothing else
            wanted = live.scoped.filter(pl.col("component").is_in(list(baselines)))
            df, _ = prepare(wanted, win.start_ns, win.end_ns, columns=REPORT_COLUMNS, bucket_ns=win.bucket_ns)
        for name, base in baselines.items():
            current = sample_component(df, name, iso(win.start_ns), iso(win.end_ns))
            if current is not None:
                baselined.append((base, current))
    return SlowInputs(
        window=win,
        cube=c,
        comps=live.comps,
        per_bucket=live.per_bucket,
        fleet_bucket=live.fleet_bucket,
        total_ms=live.total_ms,
        thresholds=live.thresholds,
        burn_usd_per_hour=live.report.summary.burn_usd_per_hour,
        sample=sample,
        refused=refused,
        baselined=tuple(baselined),
    )


def build_slow_from(inputs: SlowInputs) -> Findings:
    """The findings from their inputs (`slow_inputs`): rollups of the cube, span trees, detectors, recommendations.
    Reads no raw frame, so it can run in another process."""
    th, win, c, comps, sample = inputs.thresholds, inputs.window, inputs.cube, inputs.comps, inputs.sample
    agent_comps, llm_comp, by_provider, by_agent, by_llm_component = capped(c, [
        (["agent_id", "component"], False, ("total_ms_sum",)), (["component", "model", "provider"], True, _LLM_SCORE),
        (["provider"], True, _LLM_SCORE), (["agent_id"], True, _LLM_SCORE), (["component"], True, _LLM_SCORE),
    ], th.max_rows)  # fmt: skip
    agent_rows = [
        AgentComponentRow(agent_id=r["agent_id"], **stat_fields(r, win, th, inputs.total_ms))
        for r in agent_comps.iter_rows(named=True)
    ]
    agent_rows.sort(key=lambda r: (r.component == fold.OTHER, -r.time_share, str(r.agent_id), r.component))
    comp_series = series.by_component(inputs.per_bucket, win)
    fleet_series = series.build(inputs.fleet_bucket, win, series.ALL)
    burn = inputs.burn_usd_per_hour

    critical, traces = spans.critical_path(sample)
    found = bottlenecks.find(comps, critical, traces, th)
    recs = recommend.rank(
        [
            r
            for r in recommend.model_downgrades(llm_comp, win)
            + recommend.prompt_caching(llm_comp, win)
            + recommend.retry_policy(comps, win)
            + recommend.parallelize(spans.parallel_candidates(sample))
            + recommend.sampling(comps, {s.component: s for s in comp_series}, win, th)
            + recommend.rate_limits(inputs.refused.lazy(), llm_comp, c.dims, win)
            if fold.OTHER not in (r.component, r.model)  # a recommendation names one thing to change
        ],
        win,
    )

    regressions = [_regression(r) for base, current in inputs.baselined for r in compare(base, current) if r.regressed]
    regressions.sort(key=lambda r: (r.p_value, r.component, r.metric))

    return Findings(
        agent_components=agent_rows,
        llm=LlmBreakdown(
            by_provider=_sorted_llm(by_provider, win, ("provider",)),
            by_agent=_sorted_llm(by_agent, win, ("agent_id",)),
            by_component=[
                msgspec.structs.replace(r, over_cost_per_operation=(r.cost_per_call or 0.0) > th.cost_per_operation)
                for r in _sorted_llm(by_llm_component, win, ("component",))
            ],
            burn_usd_per_hour=burn,
            cost_warning_per_hour=th.cost_warning_per_hour,
            cost_critical_per_hour=th.cost_critical_per_hour,
            status=Severity(th.cost_status(burn)),
        ),
        bottlenecks=found,
        anomalies=anomalies.detect([*comp_series, fleet_series], win, th.error_rate),
        trends=trends.trends([*comp_series, fleet_series], win, th.error_rate),
        regressions=regressions,
        recommendations=recs,
        flows=semantics.flows(sample),
        affinity=semantics.affinity(sample),
        critical_path=[
            CriticalPathShare(component=k, share=v) for k, v in sorted(critical.items(), key=lambda kv: -kv[1])
        ],
        estimation=SpanEstimation(
            span_sample_scale=sample.scale, spans_analysed=sample.spans.height, critical_path_traces=traces
        ),
    )


def _regression(r: Comparison) -> Regression:
    """A regressed comparison as the report lists it: the same fields, without the `worse` flag."""
    return Regression(**{name: getattr(r, name) for name in Regression.__struct_fields__})


def _dense(frame: pl.DataFrame, column: str, n: int, fill: float | None) -> list:
    out: list = [fill] * n
    for b, v in zip(frame.get_column("b").to_list(), frame.get_column(column).to_list(), strict=True):
        if v is not None:
            out[b] = v
    return out


def _sparklines(per_bucket: pl.DataFrame, win: Window) -> dict[str, list[float | None]]:
    """Each component's p95 per bucket (None where it ran nothing), in one pass over the (component, b) rollup."""
    names, bs, rows, p95s = (per_bucket.get_column(c).to_list() for c in ("component", "b", "rows", "p95_ms"))
    spark: dict[str, list[float | None]] = {name: [None] * win.n_buckets for name in set(names)}
    for name, b, n, p95 in zip(names, bs, rows, p95s, strict=True):  # plain lists: no polars query per tick
        if n > 0 and p95 is not None:
            spark[name][b] = float(p95)
    return spark
