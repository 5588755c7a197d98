"""Trends over time: a Theil-Sen slope (robust to outliers) against bucket time in hours, not sample index.

The p-value is the Mann-Kendall test (Kendall's tau of value against time), Theil-Sen's natural companion;
the confidence interval is Theil-Sen's 95 % interval of the slope. The forecast is the fitted line at the
middle of the hour after the data (the end of the window's coverage, not of its empty part), so for cost/hour
it is the expected burn rate over the next hour, clipped to the metric's range.

A trend is reported only when it is both clear and large: Mann-Kendall p < ALPHA, a 95 % interval that
excludes zero (so never a slope of +0 with an interval of 0..0: Kendall's tau can be significant on a series
of mostly tied zeros whose median slope is exactly 0), and a change over the span of the fit (slope x hours
from the first to the last valid bucket) of at least the metric's minimum effect (`series.large_enough`: 10 %
of the level for latency and cost, a fifth of the error-rate threshold for error rate).
"""

from __future__ import annotations

import math

import numpy as np
from smythtop.analysis.results import Trend
from smythtop.analysis.series import ERROR_CHANGE_SHARE, MIN_RELATIVE_CHANGE, Series, large_enough
from smythtop.analysis.window import Window

MIN_POINTS = 6
ALPHA = 0.05
METRICS = {  # metric -> (unit, lower bound, upper bound)
    "latency_p95_ms": ("ms", 0.0, math.inf),
    "error_rate": ("ratio", 0.0, 1.0),
    "cost_usd_per_hour": ("USD/h", 0.0, math.inf),
}


def fit(hours: np.ndarray, y: np.ndarray, horizon_h: float, lo: float, hi: float) -> dict | None:
    from scipy import stats

    ok = ~np.isnan(y)
    if np.count_nonzero(ok) < MIN_POINTS:
        return None
    x, v = hours[ok], y[ok]
    if np.ptp(x) <= 0:
        return None
    slope, intercept, low, high = stats.theilslopes(v, x, alpha=0.95)
    # a constant series has no trend, and Kendall's tau is undefined for it
    p_value = 1.0 if np.ptp(v) == 0 else float(stats.kendalltau(x, v).pvalue)
    forecast = min(max(intercept + slope * horizon_h, lo), hi)
    level = float(np.median(v))
    change = float(slope * np.ptp(x))
    return {
        "slope_per_hour": float(slope),
        "p_value": p_value if not math.isnan(p_value) else 1.0,
        "forecast_next_hour": float(forecast),
        "ci_low": float(low),
        "ci_high": float(high),
        "level": level,
        "change": change,
        "relative_change": change / level if level else None,
    }


def reported(metric: str, result: dict, error_rate_threshold: float) -> bool:
    """Clear (p < ALPHA, interval excluding zero) and large (`series.large_enough`)."""
    clear = result["p_value"] < ALPHA and (result["ci_low"] > 0 or result["ci_high"] < 0)
    return clear and large_enough(metric, result["change"], result["level"], error_rate_threshold)


def _effect(metric: str, result: dict, error_rate_threshold: float) -> float:
    """The change in multiples of its metric's minimum: ranks trends of different metrics on one scale."""
    if metric == "error_rate":
        return abs(result["change"]) / (ERROR_CHANGE_SHARE * error_rate_threshold)
    return abs(result["relative_change"] or 0.0) / MIN_RELATIVE_CHANGE


def trends(series: list[Series], window: Window, error_rate_threshold: float) -> list[Trend]:
    """The reported latency p95, error rate and cost/hour trends of every series, largest effect first."""
    hours = np.asarray(window.bucket_hours())
    horizon = (window.coverage.end_ns - window.start_ns) / 3.6e12 + 0.5
    out: list[tuple[tuple, Trend]] = []
    for s in series:
        data = {
            "latency_p95_ms": s.values["latency_p95_ms"],
            "error_rate": s.values["error_rate"],
            "cost_usd_per_hour": s.cost_per_hour if s.cost_per_hour is not None else None,
        }
        for metric, y in data.items():
            if y is None or (metric == "cost_usd_per_hour" and not np.nansum(y) > 0):
                continue
            unit, lo, hi = METRICS[metric]
            result = fit(hours, y, horizon, lo, hi)
            if result is None or not reported(metric, result, error_rate_threshold):
                continue
            key = (-_effect(metric, result, error_rate_threshold), s.component, metric)
            out.append((key, Trend(component=s.component, metric=metric, unit=unit, **result)))
    out.sort(key=lambda kt: kt[0])
    return [t for _, t in out]
