"""Baselines of one component, and the tests that say whether the current window regressed against one.

A baseline keeps summary numbers (sample size, p50/p95/p99, error rate, cost and tokens per call) and two
representative samples: SAMPLE_SIZE weighted quantiles (at probabilities (i + 0.5) / m) of latency and of
per-call cost. The current window is reduced the same way, and the two are compared with

- latency: Mann-Whitney U (two-sided) on the latency samples;
- error rate: the two-proportion z-test on frame counts (unweighted: sampling must not inflate n);
- cost per call: Mann-Whitney U on the per-call cost samples, plus the relative change of the mean.

A regression is a significant change (p < ALPHA) in the bad direction.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime

import numpy as np
import polars as pl
from smythtop.analysis.pricing import read_time_priced
from smythtop.analysis.results import Comparison
from smythtop.analysis.thresholds import CustomPrice
from smythtop.analysis.window import conform, iso, prepare

SAMPLE_SIZE = 1000
ALPHA = 0.05
BASELINE_VERSION = 1


@dataclass(frozen=True)
class Baseline:
    component: str
    created_at: str
    window_from: str
    window_to: str
    executions: float  # weighted
    rows: int
    errors: float  # weighted
    error_rows: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    error_rate: float
    cost_per_call_usd: float | None
    tokens_per_call: float | None
    latency_sample: list[float] = field(default_factory=list)
    cost_sample: list[float] = field(default_factory=list)
    version: int = BASELINE_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Baseline:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != BASELINE_VERSION:
            raise ValueError(f"not a v{BASELINE_VERSION} smythtop baseline")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(f"malformed baseline: {exc}") from None

    def summary(self) -> dict:
        """The baseline without its samples (what a person reads)."""
        out = asdict(self)
        out.pop("latency_sample")
        out.pop("cost_sample")
        return out


def quantile_sample(values: np.ndarray, weights: np.ndarray, m: int) -> np.ndarray:
    """m weighted quantiles at (i + 0.5) / m (inverted CDF): a fixed-size stand-in for the distribution."""
    if values.size == 0:
        return values
    order = np.argsort(values, kind="stable")
    v, cw = values[order], np.cumsum(weights[order])
    probs = (np.arange(m) + 0.5) / m
    idx = np.searchsorted(cw, probs * cw[-1], side="left")
    return v[np.minimum(idx, v.size - 1)]


@dataclass(frozen=True)
class ComponentSample:
    """What a baseline and a current window are reduced to before comparing."""

    executions: float
    rows: int
    errors: float
    error_rows: int
    latency: np.ndarray  # quantile sample
    cost: np.ndarray  # quantile sample of per-call cost
    mean_ms: float
    cost_per_call: float | None
    tokens_per_call: float | None
    window_from: str
    window_to: str

    def percentile(self, q: float) -> float:
        """From the quantile sample: exact to 1/SAMPLE_SIZE in probability."""
        return float(np.quantile(self.latency, q, method="inverted_cdf")) if self.latency.size else math.nan


def sample_component(df: pl.DataFrame, component: str, window_from: str, window_to: str) -> ComponentSample | None:
    """Reduce one component's prepared frames (with `w`) to a ComponentSample, or None if it has none."""
    part = df.filter(pl.col("component") == component)
    if part.height == 0:
        return None
    agg = part.select(
        executions=pl.col("w").sum(),
        errors=pl.col("w").filter(~pl.col("success")).sum(),
        error_rows=(~pl.col("success")).sum(),
        dur=(pl.col("total_ms") * pl.col("w")).sum(),
        cost=(pl.col("cost_usd") * pl.col("w")).sum(),
        priced=pl.col("w").filter(pl.col("cost_usd").is_not_null()).sum(),
        tokens=((pl.col("input_tokens").fill_null(0) + pl.col("output_tokens").fill_null(0)) * pl.col("w"))
        .filter(pl.col("model").is_not_null())
        .sum(),
        calls=pl.col("w").filter(pl.col("model").is_not_null()).sum(),
    ).row(0, named=True)
    m = min(part.height, SAMPLE_SIZE)
    latency = quantile_sample(part["total_ms"].to_numpy(), part["w"].to_numpy(), m)
    priced = part.filter(pl.col("cost_usd").is_not_null())
    cost = quantile_sample(priced["cost_usd"].to_numpy(), priced["w"].to_numpy(), min(priced.height, SAMPLE_SIZE))
    return ComponentSample(
        executions=float(agg["executions"]),
        rows=part.height,
        errors=float(agg["errors"] or 0.0),
        error_rows=int(agg["error_rows"]),
        latency=latency,
        cost=cost,
        mean_ms=float(agg["dur"]) / float(agg["executions"]),
        cost_per_call=float(agg["cost"]) / float(agg["priced"]) if agg["priced"] else None,
        tokens_per_call=float(agg["tokens"]) / float(agg["calls"]) if agg["calls"] else None,
        window_from=window_from,
        window_to=window_to,
    )


def establish_baseline(
    frames: pl.DataFrame | pl.LazyFrame,
    component: str,
    *,
    created_at: datetime | None = None,
    prices: Mapping[str, CustomPrice] | None = None,
) -> Baseline:
    """The baseline of `component` over all the frames given (window them before calling); frames stored without a
    cost are priced from `prices` (the config's `[prices]`) as the report prices them."""
    df, win = prepare(read_time_priced(conform(frames), prices or {}))
    s = sample_component(df, component, iso(win.start_ns), iso(win.end_ns))
    if s is None:
        raise ValueError(f"no frames for component {component!r}")
    stamp = created_at or datetime.now().astimezone()
    return Baseline(
        component=component,
        created_at=stamp.isoformat(timespec="seconds"),
        window_from=s.window_from,
        window_to=s.window_to,
        executions=s.executions,
        rows=s.rows,
        errors=s.errors,
        error_rows=s.error_rows,
        p50_ms=s.percentile(0.5),
        p95_ms=s.percentile(0.95),
        p99_ms=s.percentile(0.99),
        mean_ms=s.mean_ms,
        error_rate=s.errors / s.executions,
        cost_per_call_usd=s.cost_per_call,
        tokens_per_call=s.tokens_per_call,
        latency_sample=[float(v) for v in s.latency],
        cost_sample=[float(v) for v in s.cost],
    )


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p of the pooled two-proportion z-test."""
    from scipy import stats

    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (x2 / n2 - x1 / n1) / se
    return float(2 * stats.norm.sf(abs(z)))


def _mwu(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    if a.size == 0 or b.size == 0:
        return math.nan
    if np.ptp(np.concatenate([a, b])) == 0:
        return 1.0
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def compare(baseline: Baseline, current: ComponentSample) -> list[Comparison]:
    """Every metric of the current window against the baseline, with its test and p-value."""
    base_lat = np.asarray(baseline.latency_sample)
    base_cost = np.asarray(baseline.cost_sample)
    cur_p95 = current.percentile(0.95)
    rows = [
        {
            "component": baseline.component,
            "metric": "latency_p95_ms",
            "baseline": baseline.p95_ms,
            "current": cur_p95,
            "p_value": _mwu(base_lat, current.latency),
            "test": "mann_whitney_u",
            "worse": cur_p95 > baseline.p95_ms,
        },
        {
            "component": baseline.component,
            "metric": "error_rate",
            "baseline": baseline.error_rate,
            "current": current.errors / current.executions if current.executions else 0.0,
            "p_value": two_proportion_p(baseline.error_rows, baseline.rows, current.error_rows, current.rows),
            "test": "two_proportion_z",
            "worse": current.errors / max(current.executions, 1e-12) > baseline.error_rate,
        },
    ]
    if baseline.cost_per_call_usd is not None and current.cost_per_call is not None:
        rows.append(
            {
                "component": baseline.component,
                "metric": "cost_per_call_usd",
                "baseline": baseline.cost_per_call_usd,
                "current": current.cost_per_call,
                "p_value": _mwu(base_cost, current.cost),
                "test": "mann_whitney_u",
                "worse": current.cost_per_call > baseline.cost_per_call_usd,
            }
        )
    for r in rows:
        r["change"] = (r["current"] - r["baseline"]) / r["baseline"] if r["baseline"] else None
        r["regressed"] = bool(r["worse"] and not math.isnan(r["p_value"]) and r["p_value"] < ALPHA)
    return [Comparison(**r) for r in rows]
