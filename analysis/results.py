"""The typed results of the analysis: the report, its two parts, the component drill-down and the span tree.

Every result is a frozen msgspec Struct whose fields are the JSON keys in the documented order
(docs/ANALYSIS.md), so `msgspec.to_builtins(result)` is the JSON and `msgspec.convert(json, Report)` reads it
back. A renamed or missing field is an AttributeError where it is read, never a silent blank cell.

Values are strict JSON on construction (`Result.__post_init__`): NaN and infinities become None and numpy
scalars plain Python, so an unknown number is `null`, never `NaN`. A key that only some rows carry (the
kind-specific fields of a recommendation, the key fields of an LLM row) is UNSET when absent and then left
out of the JSON, as it always was.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import msgspec
import numpy as np
from msgspec import UNSET, UnsetType, field
from msgspec.structs import force_setattr


def clean(value: Any) -> Any:
    """NaN/inf -> None, numpy scalars -> Python, recursively through lists, tuples and dicts: strict JSON."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Severity(enum.StrEnum):
    """How bad something is: a bottleneck's severity, the cost status, a grade. Its `style` is the one colour
    every front-end shows it in (a Rich style string: the analysis itself never imports rich)."""

    OK = "ok"
    LOW = "low"
    MEDIUM = "medium"
    WARNING = "warning"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def style(self) -> str:
        return _STYLES[self]

    @property
    def rank(self) -> int:
        """0 for ok up to 5 for critical: sorts by badness."""
        return list(Severity).index(self)

    @classmethod
    def of_grade(cls, letter: str) -> Severity | None:
        """A -> ok, B -> low, C -> medium, D -> high, F -> critical; None for "-" (no executions)."""
        return _GRADES.get(letter)


_STYLES = {
    Severity.OK: "bold green",
    Severity.LOW: "green",
    Severity.MEDIUM: "yellow",
    Severity.WARNING: "yellow",
    Severity.HIGH: "bold red",
    Severity.CRITICAL: "bold white on red",
}
_GRADES = {
    "A": Severity.OK,
    "B": Severity.LOW,
    "C": Severity.MEDIUM,
    "D": Severity.HIGH,
    "F": Severity.CRITICAL,
}


class Result(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=False):
    """Base of every result (frozen, every field in the JSON): values are cleaned to strict JSON on construction."""

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            kind = type(value)
            if kind is float:  # the common case, checked inline: ~10k rows are built per drill-down
                if not math.isfinite(value):
                    force_setattr(self, name, None)
            elif kind is list or kind is dict or kind is tuple or isinstance(value, np.generic):
                force_setattr(self, name, clean(value))


# ---- the report's parts -------------------------------------------------------------------------


class Basis(Result):
    """The time the window's data covers: what every per-hour and per-day figure is divided by
    (`analysis.coverage`; docs/ANALYSIS.md "Projections")."""

    from_: str = field(name="from")  # ISO 8601 UTC: where the covered time starts
    to: str  # ... and ends
    seconds: float  # the denominator of every rate (at least 1)
    frames: int  # raw frames it rests on
    burstiness: float | None  # CV of executions across 12 equal slices of the basis; > 1 is bursty
    confidence: float  # 0-1: sqrt(min(1, basis / 1 h)) x min(1, 1 / burstiness)
    note: str  # "from 14 min of data", for a person


class Window(Result):
    from_: str = field(name="from")  # ISO 8601 UTC, inclusive
    to: str  # ISO 8601 UTC, exclusive
    bucket_s: float  # width of one time bucket (series, sparklines, detectors)
    duration_s: float
    basis: Basis


class WorstComponent(Result):
    component: str
    slo_attainment: float | None
    p95_ms: float | None
    slo_p95_ms: float


class SubGrades(Result):
    slo: str  # letter from the fleet's SLO attainment
    errors: str  # letter from the error rate against its threshold
    worst_component: str  # letter from the worst component's own SLO attainment


class GradeDetail(Result, kw_only=True):
    """How the grade was reached. An empty window has only `rule` (the other fields are UNSET)."""

    slo_attainment: float | UnsetType | None = UNSET
    error_rate: float | UnsetType | None = UNSET
    error_rate_threshold: float | UnsetType = UNSET
    worst_component: WorstComponent | UnsetType | None = UNSET  # None: no component with enough frames
    grades: SubGrades | UnsetType = UNSET
    rule: str


class Folded(Result):
    """Names folded into a list's "(other)" row because the list keeps only `thresholds.max_rows` rows (0: none)."""

    components: int  # `components` (and every per-component finding)
    agent_components: int  # (agent_id, component) pairs of `agent_components`
    models: int  # (model, provider) pairs of `models`
    llm_agents: int  # agents of `llm.by_agent`
    llm_providers: int  # providers of `llm.by_provider`


class RequestStats(Result):
    """Requests: root spans (no parent in the window) with their whole tree, end to end (`analysis.requests`)."""

    requests: float  # weighted by the root's 1 / sample_rate
    rows: int
    requests_per_min: float
    success_rate: float | None  # share of roots that succeeded
    p50_ms: float | None  # end-to-end latency of the root span
    p95_ms: float | None
    p99_ms: float | None
    slo_p95_ms: float  # the end-to-end request SLO
    slo_attainment: float | None  # share of requests within it
    cost_per_request_usd: float | None  # the tree's cost per priced request; None when none could be priced
    unpriced_requests: float  # requests whose tree holds an LLM call that could not be priced


class RequestRow(RequestStats):
    component: str  # the root span's component


class Summary(Result):
    executions: float  # weighted by 1 / sample_rate, plus the unrecorded ones (`Report.unrecorded`) if any
    rows: int | None  # frames recorded
    success_rate: float | None
    error_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    total_cost_usd: float
    unpriced_llm_calls: float
    llm_calls: float
    grade: str  # A-F, "-" for an empty window
    grade_reason: str
    grade_detail: GradeDetail
    slo_attainment: float | None  # share of executions within their own component's p95 SLO
    throughput_per_min: float
    burn_usd_per_hour: float
    cost_status: Severity  # ok, warning or critical against the cost thresholds
    agents: int
    components: int  # distinct component names, before folding
    folded: Folded
    requests: RequestStats  # beside success_rate (executions): how the requests fared end to end


class Phases(Result):
    """Per phase: weighted mean ms (`phases`) or share of the mean total (`phase_shares`); None if unmeasured."""

    input_ms: float | None
    core_ms: float | None
    output_ms: float | None
    queue_ms: float | None


class StatRow(Result):
    """One component's statistics over the window (the fields every component row shares)."""

    component: str
    executions: float
    rows: int | None
    errors: float | None
    error_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    time_share: float  # of the fleet's total self time (sums to 1 over components)
    cost_usd: float | None  # None when it made LLM calls and none could be priced
    input_tokens: float | None
    output_tokens: float | None
    cache_read_tokens: float | None
    llm_calls: float | None
    unpriced_llm_calls: float | None
    executions_per_min: float
    slo_p95_ms: float  # the component's latency SLO
    slo_attainment: float | None  # share of its executions within that SLO
    phases: Phases
    mem_delta_mean_bytes: float | None
    mem_delta_p95_bytes: float | None
    mem_pressure_mean: float | None
    mean_self_ms: float | None  # self (exclusive) time: total minus the union of its children's intervals
    p95_self_ms: float | None
    own_errors: float | None  # failures not explained by a failed child (errors belong to the deepest failing span)


class ComponentRow(StatRow):
    trend: list[float | None]  # p95 ms per bucket, None where the bucket is empty
    # executions the recorder lost (account frames, `analysis.unrecorded`), included in `executions` and
    # `executions_per_min`; every other figure of the row is of the recorded executions only
    unrecorded: float = 0.0


class ComponentSummary(StatRow):
    """The drill-down's summary: the component row plus its critical-path share."""

    critical_path_share: float | None


class AgentComponentRow(Result):
    """StatRow per (agent_id, component), with agent_id first (a test keeps the other fields StatRow's)."""

    agent_id: str | None
    component: str
    executions: float
    rows: int | None
    errors: float | None
    error_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    time_share: float
    cost_usd: float | None
    input_tokens: float | None
    output_tokens: float | None
    cache_read_tokens: float | None
    llm_calls: float | None
    unpriced_llm_calls: float | None
    executions_per_min: float
    slo_p95_ms: float
    slo_attainment: float | None
    phases: Phases
    mem_delta_mean_bytes: float | None
    mem_delta_p95_bytes: float | None
    mem_pressure_mean: float | None
    mean_self_ms: float | None  # self (exclusive) time: total minus the union of its children's intervals
    p95_self_ms: float | None
    own_errors: float | None  # failures not explained by a failed child (errors belong to the deepest failing span)


class LlmRow(Result, kw_only=True):
    """LLM calls grouped by a key: `model` and `provider` (models), `provider`, `agent_id` or `component`
    (the `llm` breakdowns). The key fields a grouping does not use are UNSET and left out of the JSON."""

    model: str | UnsetType | None = UNSET
    provider: str | UnsetType | None = UNSET
    agent_id: str | UnsetType | None = UNSET
    component: str | UnsetType | None = UNSET
    calls: float
    input_tokens: float | None
    output_tokens: float | None
    cache_read_tokens: float | None
    cache_write_tokens: float | None
    reasoning_tokens: float | None
    cost_usd: float | None  # None when none of the calls could be priced
    cost_per_call: float | None
    unpriced_calls: float | None
    mean_context_utilization: float | None
    p95_ms: float | None
    p95_ttft_ms: float | None
    burn_usd_per_hour: float
    over_cost_per_operation: bool | UnsetType = UNSET  # by_component only: cost per call above the threshold


class LlmBreakdown(Result):
    by_provider: list[LlmRow]
    by_agent: list[LlmRow]
    by_component: list[LlmRow]
    burn_usd_per_hour: float
    cost_warning_per_hour: float
    cost_critical_per_hour: float
    status: Severity  # ok, warning or critical


class Bottleneck(Result):
    component: str
    kind: str  # critical_path, slo_p95, error_rate, queue, retry_waste, memory
    severity: Severity  # low, medium, high or critical
    evidence: str
    suggestion: str
    score: float  # severity rank (0-3) + impact (0-1): sorts worst first
    metrics: dict[str, float | None]  # the kind's raw numbers, by name


class Anomaly(Result):
    component: str  # "(all)" for the fleet
    metric: str
    from_: str = field(name="from")  # start of the first anomalous bucket
    to: str  # end of the last one
    direction: str  # up or down
    score: float  # |z|, or the shift in typical per-bucket noise sds
    method: str  # rolling_median_mad, fisher_exact or change_point
    baseline_value: float | None
    value: float | None
    change: float | None  # value - baseline_value, in the metric's unit (the effect size)
    relative_change: float | None  # change / baseline_value; None when the baseline is 0


class Trend(Result):
    component: str
    metric: str
    slope_per_hour: float
    p_value: float  # Mann-Kendall
    forecast_next_hour: float
    ci_low: float  # Theil-Sen 95 % interval of the slope
    ci_high: float
    unit: str
    level: float  # the series' median
    change: float  # slope x the hours the fit spans, in the metric's unit (the effect size)
    relative_change: float | None  # change / level; None when the level is 0


class DetailTrend(Result):
    """A trend in the component drill-down: the report's Trend in the drill-down's own (older) field order, plus the
    slope relative to the level that ranks it (kept so `analyze --format json` reads as before)."""

    component: str
    metric: str
    unit: str
    slope_per_hour: float
    p_value: float  # Mann-Kendall
    forecast_next_hour: float
    ci_low: float  # Theil-Sen 95 % interval of the slope
    ci_high: float
    level: float  # the series' median
    relative_slope: float  # slope_per_hour / level (0 when the level is 0)
    change: float  # slope x the hours the fit spans, in the metric's unit (the effect size)
    relative_change: float | None  # change / level; None when the level is 0

    @classmethod
    def of(cls, t: Trend) -> DetailTrend:
        relative = t.slope_per_hour / t.level if t.level else 0.0
        return cls(**msgspec.structs.asdict(t), relative_slope=relative)


class Comparison(Result):
    """One metric of the current window against a saved baseline."""

    component: str
    metric: str
    baseline: float | None
    current: float | None
    p_value: float | None  # None when a sample is empty
    test: str
    worse: bool
    change: float | None  # relative; None when the baseline is 0
    regressed: bool


class Regression(Result):
    component: str
    metric: str
    baseline: float | None
    current: float | None
    p_value: float | None
    test: str
    change: float | None


class Alternative(Result):
    """A further cheaper model a model_downgrade lists after its top candidate."""

    model: str
    provider: str
    est_savings_usd_per_day: float
    saving_share: float  # share of the mean call's price saved


class Recommendation(Result):
    kind: str  # model_downgrade, prompt_caching, retry_policy, parallelize, sampling, rate_limits
    component: str
    title: str
    rationale: str
    est_savings_usd_per_day: float
    est_latency_gain_ms: float | None  # None where the data cannot say
    confidence: float  # 0-1, heuristic
    model: str | UnsetType = UNSET  # model_downgrade, prompt_caching
    suggested_model: str | UnsetType = UNSET  # model_downgrade
    suggested_sample_rate: float | UnsetType = UNSET  # sampling
    est_frames_saved_per_day: int | UnsetType = UNSET  # sampling
    basis_s: float | None = None  # the time covered by data the per-day figures divide by (set by recommend.rank)
    basis_note: str | None = None  # "from 14 min of data"
    alternatives: list[Alternative] | UnsetType = UNSET  # model_downgrade: up to two more, best first
    provider: str | UnsetType = UNSET  # model_downgrade, rate_limits
    rate_limited_calls: float | UnsetType = UNSET  # rate_limits: calls refused (429, overloaded) in the window


class Flow(Result):
    from_: str = field(name="from")  # parent component
    to: str  # child component
    count: float
    probability: float  # P(child = to | parent = from)
    bytes: int | None  # the child's input bytes (what the parent handed down); None when not recorded
    transformation_ratio: float | None  # child output / input bytes
    information_loss: float | None  # max(0, 1 - ratio)


class Affinity(Result):
    from_: str = field(name="from")
    to: str  # the sibling that ran right after
    count: float
    probability: float  # P(next = to | from)


class CriticalPathShare(Result):
    component: str
    share: float  # of end-to-end trace time on the critical path


class CostPoint(Result):
    t: str  # bucket start, ISO 8601 UTC
    cost_usd: float


class ThresholdsUsed(Result):
    """`analysis.thresholds.Thresholds` as the report shows it (a test keeps the fields the same)."""

    latency_p95_ms: float | None
    latency_p95_ms_by_component: dict[str, float | None]
    error_rate: float
    memory_pressure: float
    cost_per_operation: float
    cost_warning_per_hour: float | None
    cost_critical_per_hour: float | None
    max_rows: int  # rows kept per per-name list; the rest fold into "(other)"
    llm_latency_p95_ms: float  # p95 SLO of an LLM call not named in latency_p95_ms_by_component
    request_latency_p95_ms: float  # end-to-end p95 SLO of a request
    prices: dict[str, dict[str, float | None]] = {}  # model -> custom USD/MTok prices (`[prices]`)


class LiveEstimation(Result):
    subsample_factor: int  # distribution statistics used 1 frame in this many (1 = every frame)


class SpanEstimation(Result):
    span_sample_scale: float  # span-tree counts are scaled by this (1 / fraction of traces kept)
    spans_analysed: int
    critical_path_traces: int


class Estimation(Result):
    subsample_factor: int
    span_sample_scale: float
    spans_analysed: int
    critical_path_traces: int


class UnrecordedCount(Result):
    """Executions the recorder lost, of one component or for one reason."""

    name: str
    executions: float


UNRECORDED_NOTE = "counted in executions; their latency, errors and cost are unknown"


class Unrecorded(Result):
    """Executions the recorder could not record in the window (its account frames: `analysis.unrecorded`)."""

    executions: float = 0.0  # weighted like the frames they stand for
    by_component: list[UnrecordedCount] = field(default_factory=list)  # most first
    by_reason: list[UnrecordedCount] = field(default_factory=list)  # buffer_full, store_unavailable, rejected...
    unmatched: float = 0.0  # of a component with no row in the components list (none recorded, or folded)
    note: str = UNRECORDED_NOTE


class LiveReport(Result):
    """What every tick needs (`build_live`)."""

    window: Window
    summary: Summary
    components: list[ComponentRow]
    models: list[LlmRow]
    cost_series: list[CostPoint]
    thresholds: ThresholdsUsed
    estimation: LiveEstimation
    requests: list[RequestRow]  # by root component, most requests first
    unrecorded: Unrecorded = field(default_factory=Unrecorded)  # set by `analysis.unrecorded.correct`


class Findings(Result):
    """The costly part (`build_slow`), possibly a few seconds older than the live part it is composed with."""

    agent_components: list[AgentComponentRow]
    llm: LlmBreakdown
    bottlenecks: list[Bottleneck]
    anomalies: list[Anomaly]
    trends: list[Trend]
    regressions: list[Regression]
    recommendations: list[Recommendation]
    flows: list[Flow]
    affinity: list[Affinity]
    critical_path: list[CriticalPathShare]
    estimation: SpanEstimation


class Report(Result):
    """The whole report (docs/ANALYSIS.md): `compose(LiveReport, Findings)`."""

    window: Window
    summary: Summary
    components: list[ComponentRow]
    agent_components: list[AgentComponentRow]
    models: list[LlmRow]
    llm: LlmBreakdown
    bottlenecks: list[Bottleneck]
    anomalies: list[Anomaly]
    trends: list[Trend]
    regressions: list[Regression]
    recommendations: list[Recommendation]
    flows: list[Flow]
    affinity: list[Affinity]
    critical_path: list[CriticalPathShare]
    cost_series: list[CostPoint]
    thresholds: ThresholdsUsed
    estimation: Estimation
    requests: list[RequestRow]
    unrecorded: Unrecorded = field(default_factory=Unrecorded)


# ---- the drill-down -----------------------------------------------------------------------------


class LatencyPoint(Result):
    t: str  # bucket start
    p50_ms: float | None
    p95_ms: float | None
    executions: int  # frames recorded in the bucket (0 when empty)


class HistogramBin(Result):
    lo_ms: float
    le_ms: float
    count: float  # weighted executions with lo_ms <= total_ms < le_ms (the last bin includes its top)


class ErrorType(Result):
    error_type: str  # "(unknown)" when not recorded
    count: float  # weighted
    rows: int
    share: float  # of the component's errors


class BaselineSummary(Result):
    """A saved baseline without its samples (`Baseline.summary()`)."""

    component: str
    created_at: str
    window_from: str
    window_to: str
    executions: float
    rows: int
    errors: float
    error_rows: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    error_rate: float | None
    cost_per_call_usd: float | None
    tokens_per_call: float | None
    version: int


class SlowTrace(Result):
    trace_id: str | None
    span_id: str | None
    agent_id: str | None
    total_ms: float
    success: bool
    error_type: str | None
    model: str | None
    cost_usd: float | None
    ts: str  # start, ISO 8601 UTC


class Detail(Result):
    """Everything about one component (`component_detail`); the lists are the report's rows for it."""

    component: str
    window: Window
    summary: ComponentSummary
    latency_series: list[LatencyPoint]
    histogram: list[HistogramBin]
    phases: Phases
    phase_shares: Phases
    errors: list[ErrorType]
    models: list[LlmRow]
    baseline: BaselineSummary | None
    comparison: list[Comparison]
    regressions: list[Comparison]
    bottlenecks: list[Bottleneck]
    anomalies: list[Anomaly]
    trends: list[DetailTrend]
    recommendations: list[Recommendation]
    callers: list[Flow]
    callees: list[Flow]
    next: list[Affinity]
    previous: list[Affinity]
    slowest_traces: list[SlowTrace]


class Span(Result):
    """One row of `span_tree`, depth-first in start order."""

    depth: int
    component: str
    span_id: str | None
    parent_span_id: str | None
    start_ms: float  # offset from the trace's first span
    total_ms: float
    success: bool
    agent_id: str | None
    error_type: str | None
    model: str | None
    cost_usd: float | None
    self_ms: float  # total minus the union of its children's intervals in this trace
    input_tokens: int | None
    output_tokens: int | None
