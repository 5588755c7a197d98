"""Anomaly detection and trends on series with a known answer."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from analysis_testlib import MIN, T0, T0_NS, frames, series_frames, window_of

from analysis import anomalies, series, trends
from analysis.report import build_report
from analysis.window import make_window

N_BUCKETS = 60


def _report(rows: list[dict]) -> dict:
    start, end = window_of(N_BUCKETS)
    return build_report(frames(rows), window_from=start, window_to=end)


def _lognormal_buckets(rng: np.random.Generator, medians: list[float], n: int = 60) -> list[np.ndarray]:
    return [rng.lognormal(np.log(m), 0.3, n) for m in medians]


def test_flat_noisy_series_gives_no_anomalies() -> None:
    for seed in range(3):
        rng = np.random.default_rng(seed)
        rows = series_frames("steady", _lognormal_buckets(rng, [120.0] * N_BUCKETS))
        rows += [
            {**r, "component": "steady_errors", "success": bool(rng.random() > 0.03)}
            for r in series_frames("x", _lognormal_buckets(rng, [50.0] * N_BUCKETS))
        ]
        report = _report(rows)
        assert report["anomalies"] == [], report["anomalies"][:3]


def test_level_shift_is_flagged_within_its_window() -> None:
    rng = np.random.default_rng(7)
    medians = [100.0] * 30 + [180.0] * 30
    report = _report(series_frames("api", _lognormal_buckets(rng, medians)))
    found = [a for a in report["anomalies"] if a["component"] == "api" and a["metric"] == "latency_p95_ms"]
    assert found, report["anomalies"]
    shift = found[0]
    assert shift["direction"] == "up"
    start = datetime.fromisoformat(shift["from"])
    shift_at = T0.timestamp() + 30 * 60
    assert abs(start.timestamp() - shift_at) <= 2 * 60  # within two buckets of the true shift
    assert datetime.fromisoformat(shift["to"]).timestamp() >= shift_at + 25 * 60
    assert shift["score"] >= anomalies.SHIFT_Z
    assert shift["value"] > shift["baseline_value"] * 1.5


def test_single_bucket_spike_is_one_anomaly_with_its_bucket() -> None:
    rng = np.random.default_rng(11)
    buckets = _lognormal_buckets(rng, [200.0] * N_BUCKETS)
    buckets[40] = buckets[40] * 6  # one bad minute
    report = _report(series_frames("db", buckets))
    found = [a for a in report["anomalies"] if a["component"] == "db" and a["metric"] == "latency_p95_ms"]
    assert len(found) == 1
    assert found[0]["from"].startswith("2026-01-01T00:40:00") and found[0]["to"].startswith("2026-01-01T00:41:00")
    assert found[0]["method"] == "rolling_median_mad" and found[0]["direction"] == "up"


def test_error_rate_jump_is_flagged() -> None:
    rng = np.random.default_rng(2)
    rows = []
    for b in range(N_BUCKETS):
        p = 0.02 if b < 35 else 0.30
        for j in range(80):
            rows.append({"ts": T0_NS + b * MIN + j * MIN // 80, "component": "pay", "total_ms": 100.0,
                         "success": bool(rng.random() > p)})  # fmt: skip
    found = [a for a in _report(rows)["anomalies"] if a["metric"] == "error_rate" and a["component"] == "pay"]
    assert found and found[0]["direction"] == "up"
    assert found[0]["from"].startswith("2026-01-01T00:3")


def test_theil_sen_slope_is_per_hour_over_time_not_index() -> None:
    rng = np.random.default_rng(4)
    # latency grows 60 ms per hour; buckets 10 minutes apart but with a 2-hour hole in the middle
    n = 36
    win = make_window(T0_NS, T0_NS + n * 10 * MIN)
    hours = np.array(win.bucket_hours())
    y = 500 + 60 * hours + rng.normal(0, 3, n)
    y[10:22] = np.nan
    s = series.Series("svc", rows=np.full(n, 100.0), executions=np.full(n, 100.0),
                      values={"latency_p95_ms": y, "error_rate": np.full(n, np.nan)},
                      cost_per_hour=None)  # fmt: skip
    (t,) = trends.trends([s], win.bucket_hours(), win.hours)
    assert t["metric"] == "latency_p95_ms"
    assert t["slope_per_hour"] == pytest.approx(60, rel=0.05)
    assert t["ci_low"] < 60 < t["ci_high"]
    assert t["p_value"] < 1e-6
    assert t["forecast_next_hour"] == pytest.approx(500 + 60 * (win.hours + 0.5), rel=0.02)


def test_report_trends_include_cost_per_hour_and_flat_has_high_p() -> None:
    rng = np.random.default_rng(9)
    rows = []
    for b in range(N_BUCKETS):
        for j in range(20):
            ts = T0_NS + b * MIN + j * MIN // 20
            rows.append({"ts": ts, "component": "llm", "total_ms": 100.0 + rng.normal(0, 5),
                         "model": "gpt-4o", "provider": "openai", "input_tokens": 100, "output_tokens": 10,
                         "cost_usd": 0.001 * (1 + b / 10)})  # fmt: skip
    report = _report(rows)
    cost = next(t for t in report["trends"] if t["component"] == "llm" and t["metric"] == "cost_usd_per_hour")
    per_hour_growth = 0.001 * 20 * 60 * (60 / 10)  # $/h = 1.2 * (1 + b/10), and b grows by 60 an hour
    assert cost["slope_per_hour"] == pytest.approx(per_hour_growth, rel=0.05)
    assert cost["p_value"] < 1e-6
    lat = next(t for t in report["trends"] if t["component"] == "llm" and t["metric"] == "latency_p95_ms")
    assert lat["p_value"] > 0.001
    assert all(set(t) >= {"component", "metric", "slope_per_hour", "p_value", "forecast_next_hour"}
               for t in report["trends"])  # fmt: skip
