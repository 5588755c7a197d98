"""Anomaly detection and trends on series with a known answer."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl
import pytest
from analysis_testlib import MIN, T0, T0_NS, frames, series_frames, window_of
from msgspec import to_builtins
from smythtop.analysis import anomalies, series, trends
from smythtop.analysis.report import build_report
from smythtop.analysis.window import make_window

N_BUCKETS = 60


def _report(rows: list[dict]) -> dict:
    start, end = window_of(N_BUCKETS)
    return to_builtins(build_report(frames(rows), window_from=start, window_to=end))


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
    (t,) = to_builtins(trends.trends([s], win, 0.05))
    assert t["metric"] == "latency_p95_ms"
    assert t["slope_per_hour"] == pytest.approx(60, rel=0.05)
    assert t["ci_low"] < 60 < t["ci_high"]
    assert t["p_value"] < 1e-6
    assert t["forecast_next_hour"] == pytest.approx(500 + 60 * (win.duration_s / 3600 + 0.5), rel=0.02)


def test_report_trends_include_cost_per_hour_and_not_flat_latency() -> None:
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
    assert not [t for t in report["trends"] if t["component"] == "llm" and t["metric"] == "latency_p95_ms"]
    assert all(set(t) >= {"component", "metric", "slope_per_hour", "p_value", "forecast_next_hour"}
               for t in report["trends"])  # fmt: skip


# Known answers on bucketed inputs: a (b)-rollup frame built directly from generated samples, run through the
# same gates (series.build) and detector the report uses. Percentiles are numpy's inverted_cdf, which the
# report's histogram percentiles match within 2 %.
SEEDS = range(20)


def _bucketed(
    rng: np.random.Generator,
    rows: int,
    *,
    sigma: float = 1.0,
    factor: np.ndarray | None = None,
    error_rate: float = 0.0,
    cost_factor: np.ndarray | None = None,
    sample_rate: float = 1.0,
) -> pl.DataFrame:
    """One component's per-bucket rollup: latency lognormal(3, sigma) * factor, Bernoulli errors, LLM calls
    with gamma-distributed cost * cost_factor and uniform token counts; `rows` raw frames per bucket."""
    n = N_BUCKETS
    lat = rng.lognormal(3.0, sigma, (n, rows)) * (np.ones(n) if factor is None else factor)[:, None]
    p50, p95, p99 = np.quantile(lat, [0.5, 0.95, 0.99], axis=1, method="inverted_cdf")
    w = 1.0 / sample_rate
    cost = rng.gamma(2.0, 0.001, (n, rows)).sum(axis=1) * (np.ones(n) if cost_factor is None else cost_factor)
    tokens = rng.integers(550, 1650, (n, rows)).sum(axis=1)
    return pl.DataFrame({
        "b": np.arange(n, dtype=np.int32), "rows": np.full(n, rows), "executions": np.full(n, rows * w),
        "errors": rng.binomial(rows, error_rate, n) * w, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
        "cost_usd": cost * w, "priced_calls": np.full(n, rows * w), "llm_calls": np.full(n, rows * w),
        "input_tokens": tokens * w, "output_tokens": np.zeros(n),
    })  # fmt: skip


def _detect(frame: pl.DataFrame, component: str = "svc") -> list[dict]:
    start, end = window_of(N_BUCKETS)
    win = make_window(T0_NS, T0_NS + N_BUCKETS * MIN)
    assert (win.n_buckets, win.bucket_ns) == (N_BUCKETS, MIN) and end > start
    return to_builtins(anomalies.detect([series.build(frame, win, component)], win, 0.05))


def _bucket_of(iso_ts: str) -> int:
    return round((datetime.fromisoformat(iso_ts).timestamp() - T0.timestamp()) / 60)


@pytest.mark.parametrize("sigma", [1.0, 1.5])
@pytest.mark.parametrize("rows", [5, 20, 100, 200])
def test_flat_lognormal_latency_and_costs_give_no_anomalies_in_any_seed(rows: int, sigma: float) -> None:
    flagged = {seed: _detect(_bucketed(np.random.default_rng(seed), rows, sigma=sigma)) for seed in SEEDS}
    assert {seed: a for seed, a in flagged.items() if a} == {}


@pytest.mark.parametrize("rows", [5, 20, 50, 100, 200])
def test_flat_five_percent_error_rate_gives_no_anomalies_in_any_seed(rows: int) -> None:
    flagged = {seed: _detect(_bucketed(np.random.default_rng(seed), rows, error_rate=0.05)) for seed in SEEDS}
    assert {seed: a for seed, a in flagged.items() if a} == {}


@pytest.mark.parametrize(("rows", "sigma"), [(100, 1.0), (200, 1.5)])
def test_latency_doubling_for_the_last_third_is_a_level_shift_at_its_start(rows: int, sigma: float) -> None:
    factor = np.where(np.arange(N_BUCKETS) >= 40, 2.0, 1.0)
    for seed in SEEDS:
        found = _detect(_bucketed(np.random.default_rng(seed), rows, sigma=sigma, factor=factor))
        lat = [a for a in found if a["metric"] == "latency_p95_ms"]
        assert lat, (seed, found)
        assert all(a["direction"] == "up" for a in found), (seed, found)
        assert lat[0]["method"] == "change_point" and abs(_bucket_of(lat[0]["from"]) - 40) <= 2, (seed, lat)
        assert lat[0]["value"] > 1.5 * lat[0]["baseline_value"]


def test_three_bucket_x3_latency_spike_is_found_in_18_of_20_seeds() -> None:
    factor = np.where((np.arange(N_BUCKETS) >= 40) & (np.arange(N_BUCKETS) < 43), 3.0, 1.0)
    hits = 0
    for seed in SEEDS:
        found = _detect(_bucketed(np.random.default_rng(seed), 100, factor=factor))
        assert all(40 <= _bucket_of(a["from"]) <= 42 and a["direction"] == "up" for a in found), (seed, found)
        hits += any(a["metric"] == "latency_p95_ms" for a in found)
    assert hits >= 18


def test_model_switch_doubling_cost_per_call_is_flagged() -> None:
    cost_factor = np.where(np.arange(N_BUCKETS) >= 30, 2.0, 1.0)
    for seed in SEEDS:
        found = _detect(_bucketed(np.random.default_rng(seed), 20, cost_factor=cost_factor))
        cost = [a for a in found if a["metric"] == "cost_per_call_usd"]
        assert cost and cost[0]["direction"] == "up" and abs(_bucket_of(cost[0]["from"]) - 30) <= 2, (seed, found)
        assert [a["metric"] for a in found] == ["cost_per_call_usd"]


def test_gates_count_raw_frames_not_weighted_ones() -> None:
    rng = np.random.default_rng(3)
    win = make_window(T0_NS, T0_NS + N_BUCKETS * MIN)
    sampled = series.build(_bucketed(rng, 4, sample_rate=0.1), win, "svc")  # 4 frames weighing 40 per bucket
    assert np.isnan(sampled.values["cost_per_call_usd"]).all()
    assert np.isnan(sampled.values["tokens_per_call"]).all()
    assert np.isnan(sampled.values["latency_p95_ms"]).all()
    full = series.build(_bucketed(rng, 40, sample_rate=0.1), win, "svc")
    assert not np.isnan(full.values["cost_per_call_usd"]).any()
    assert not np.isnan(full.values["latency_p95_ms"]).any()


def test_error_spike_is_an_exact_test_on_counts() -> None:
    rng = np.random.default_rng(5)
    frame = _bucketed(rng, 50, error_rate=0.05)
    frame = frame.with_columns(errors=pl.when(pl.col("b") == 45).then(pl.lit(15.0)).otherwise(pl.col("errors")))
    found = _detect(frame)
    assert [(a["metric"], a["method"], a["direction"], _bucket_of(a["from"])) for a in found] == [
        ("error_rate", "fisher_exact", "up", 45)
    ]


def test_a_change_far_beyond_the_noise_has_a_finite_score() -> None:
    """A t statistic in the thousands (a bucket 20 % off a series whose MAD noise is 0.01 %) turned into a z
    through the upper tail was infinite: a null score in the result, and sorting the anomalies raised."""
    n = 50
    y = np.log(np.full(n, 0.0116))
    y[-1] = np.log(0.0116 * 0.8)
    s = series.Series("svc", rows=np.full(n, 20_000.0), executions=np.full(n, 20_000.0),
                      values={"cost_per_call_usd": np.exp(y)}, cost_per_hour=None)  # fmt: skip
    scores = anomalies.spike_scores("cost_per_call_usd", y, s, np.full(n, 1e-4), 18.0)
    assert scores and all(np.isfinite(z) for _, z, _ in scores)
    assert scores[-1][1] < -10  # far below the SPIKE_Z line, and still a number
