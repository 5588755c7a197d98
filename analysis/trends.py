"""Trends over time: a Theil-Sen slope (robust to outliers) against bucket time in hours, not sample index.

The p-value is the Mann-Kendall test (Kendall's tau of value against time), Theil-Sen's natural companion;
the confidence interval is Theil-Sen's 95 % interval of the slope. The forecast is the fitted line at the
middle of the hour after the window (so for cost/hour it is the expected burn rate over the next hour),
clipped to the metric's range.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from smythtop.analysis.results import Trend
from smythtop.analysis.series import Series

MIN_POINTS = 6
METRICS = {  # metric -> (unit, lower bound, upper bound)
    "latency_p95_ms": ("ms", 0.0, math.inf),
    "error_rate": ("ratio", 0.0, 1.0),
    "cost_usd_per_hour": ("USD/h", 0.0, math.inf),
}


def fit(hours: np.ndarray, y: np.ndarray, horizon_h: float, lo: float, hi: float) -> dict | None:
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
    return {
        "slope_per_hour": float(slope),
        "p_value": p_value if not math.isnan(p_value) else 1.0,
        "forecast_next_hour": float(forecast),
        "ci_low": float(low),
        "ci_high": float(high),
        "level": level,
    }


def trends(series: list[Series], bucket_hours: list[float], window_hours: float) -> list[Trend]:
    """Latency p95, error rate and cost/hour trends of every series; significant and steep first."""
    hours = np.asarray(bucket_hours)
    horizon = window_hours + 0.5
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
            if result is None:
                continue
            relative_slope = result["slope_per_hour"] / result["level"] if result["level"] else 0.0
            key = (result["p_value"] >= 0.05, -abs(relative_slope), s.component, metric)
            out.append((key, Trend(component=s.component, metric=metric, unit=unit, **result)))
    out.sort(key=lambda kt: kt[0])
    return [t for _, t in out]
