"""Per-bucket metric series (numpy arrays over the window's buckets) that the detectors and trends read.

A bucket with too few frames for a metric holds NaN, not a noisy value. The gates count raw recorded frames,
never weighted ones (one frame at sample_rate 0.1 weighs 10 but is still one sample): MIN_ROWS_P95 frames for
latency p95 (a p95 of fewer is little more than the bucket's maximum), MIN_ROWS for error rate (the detector's
exact test allows for small counts), MIN_CALLS LLM calls for cost and tokens per call.

Cost per hour divides each bucket's cost by the part of the bucket the data covers (`Window.coverage`), and is
NaN where the data covers less than half a bucket: an hour of window with two minutes of data is not two
minutes of spend followed by 58 minutes of $0/h.

The effect-size minimums that trends and anomalies share live here too: a finding must be statistically
clear AND large enough to matter. MIN_RELATIVE_CHANGE (10 %) for latency, cost and tokens: five times the
per-bucket percentiles' 2 % resolution, and about the smallest latency or spend change anyone acts on.
For error rate the minimum is absolute, ERROR_CHANGE_SHARE (a fifth) of the error-rate threshold: the width of
the grade's best band, so a change below it cannot move the error sub-grade by more than a letter (a relative
minimum is meaningless near a 0 % rate).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
from smythtop.analysis.window import Window

MIN_ROWS = 5
MIN_ROWS_P95 = 20
MIN_CALLS = 10
ALL = "(all)"  # the component name of fleet-wide series
MIN_RELATIVE_CHANGE = 0.10
ERROR_CHANGE_SHARE = 0.2


def large_enough(metric: str, change: float, level: float, error_rate_threshold: float) -> bool:
    """Whether a change from `level` is at least the documented minimum effect for the metric."""
    if metric == "error_rate":
        return abs(change) >= ERROR_CHANGE_SHARE * error_rate_threshold
    return level != 0 and abs(change / level) >= MIN_RELATIVE_CHANGE


@dataclass
class Series:
    component: str
    rows: np.ndarray  # frames per bucket (unweighted: what the noise depends on)
    executions: np.ndarray  # weighted
    values: dict[str, np.ndarray] = field(default_factory=dict)  # metric -> per-bucket value or NaN
    cost_per_hour: np.ndarray | None = None  # USD/hour in each bucket (0 where nothing ran)
    p50_ms: np.ndarray | None = None  # latency p50 where latency_p95_ms is set: the latency spread, for its noise


_COLUMNS = ("b", "rows", "executions", "errors", "p95_ms", "p50_ms", "cost_usd", "priced_calls", "llm_calls",
            "input_tokens", "output_tokens")  # fmt: skip


def _arrays(frame: pl.DataFrame) -> dict[str, np.ndarray]:
    """The rollup's columns as float arrays (nulls NaN; `b` as int), converted once for every component."""
    out = {c: frame[c].cast(pl.Float64).fill_null(np.nan).to_numpy() for c in _COLUMNS[1:]}
    return out | {"b": frame["b"].to_numpy()}


def _dense(cols: dict[str, np.ndarray], column: str, n: int, fill: float = np.nan) -> np.ndarray:
    out = np.full(n, fill, dtype=np.float64)
    out[cols["b"]] = cols[column]
    return out


def build(per_bucket: pl.DataFrame, window: Window, component: str) -> Series:
    """Series for one component's rows of a (component, b) rollup, or for a (b) rollup (fleet-wide)."""
    return _build(_arrays(per_bucket), window, _spans_ns(window), component)


def _spans_ns(window: Window) -> tuple[np.ndarray, np.ndarray]:
    """Each bucket's length, and how much of it the data covers (ns)."""
    buckets = range(window.n_buckets)
    spans = np.array([window.bucket_end_ns(b) - window.bucket_start_ns(b) for b in buckets], dtype=float)
    return spans, np.array([window.covered_ns(b) for b in buckets], dtype=float)


def _build(cols: dict[str, np.ndarray], window: Window, spans: tuple[np.ndarray, np.ndarray], component: str) -> Series:
    n = window.n_buckets
    spans_ns, covered_ns = spans
    rows = _dense(cols, "rows", n, 0.0)
    execs = _dense(cols, "executions", n, 0.0)
    errors = _dense(cols, "errors", n, 0.0)
    p95 = _dense(cols, "p95_ms", n)
    p50 = _dense(cols, "p50_ms", n)
    cost = _dense(cols, "cost_usd", n, 0.0)
    priced = _dense(cols, "priced_calls", n, 0.0)
    calls = _dense(cols, "llm_calls", n, 0.0)
    tokens = _dense(cols, "input_tokens", n, 0.0) + _dense(cols, "output_tokens", n, 0.0)
    # A bucket cut short by the window's end (the live edge) is not comparable: long executions that started
    # in it may not have been recorded yet. Detectors and trends skip it; sparklines still show it.
    full = spans_ns >= window.bucket_ns / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        # Raw LLM calls: the rollup keeps only weighted call counts, so scale the bucket's raw/weighted frame
        # ratio onto them (exact when the bucket's frames share one sample_rate, as a component's usually do).
        raw_share = np.where(execs > 0, rows / execs, 0.0)
        raw_calls, raw_priced = calls * raw_share, priced * raw_share
        lat_ok = (rows >= MIN_ROWS_P95) & full
        values = {
            "latency_p95_ms": np.where(lat_ok, p95, np.nan),
            "error_rate": np.where((rows >= MIN_ROWS) & full & (execs > 0), errors / execs, np.nan),
            "cost_per_call_usd": np.where(full & (raw_priced >= MIN_CALLS - 1e-9), cost / priced, np.nan),
            "tokens_per_call": np.where(full & (raw_calls >= MIN_CALLS - 1e-9), tokens / calls, np.nan),
        }
    with np.errstate(invalid="ignore", divide="ignore"):
        per_hour = np.where(covered_ns >= window.bucket_ns / 2, cost / (covered_ns / 3.6e12), np.nan)
    return Series(component, rows, execs, values, per_hour, np.where(lat_ok, p50, np.nan))


def by_component(per_bucket: pl.DataFrame, window: Window) -> list[Series]:
    """One Series per component of a (component, b) rollup, in name order.

    The rollup is converted to numpy once and sliced per component: per-component polars calls cost ~1 ms each
    (ten columns), which at `max_rows` components was most of the findings' time."""
    ordered = per_bucket.sort("component", "b")
    cols, spans = _arrays(ordered), _spans_ns(window)
    groups = ordered.group_by("component", maintain_order=True).len()
    ends = np.cumsum(groups["len"].to_numpy())
    return [
        _build({c: v[end - size : end] for c, v in cols.items()}, window, spans, name)
        for name, size, end in zip(groups["component"].to_list(), groups["len"].to_list(), ends.tolist(), strict=True)
    ]
