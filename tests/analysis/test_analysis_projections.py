"""Projections divide by the time covered by data, and trends and anomalies need an effect size: known answers."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from analysis_testlib import MIN, T0, T0_NS, frames
from msgspec import to_builtins
from smythtop.analysis import anomalies, coverage, series, trends
from smythtop.analysis.report import build_report
from smythtop.analysis.window import make_window, prepare

S = 1_000_000_000


def _measure(starts_s: list[float], window: tuple[float | None, float | None], ms: float = 100.0) -> coverage.Coverage:
    starts = T0_NS + (np.asarray(starts_s) * S).astype(np.int64)
    lo, hi = (None if b is None else T0_NS + int(b * S) for b in window)
    frame = pl.DataFrame({"t": starts, "w": np.ones(starts.size), "total_ms": np.full(starts.size, ms)})
    return coverage.measure(frame, lo, hi)


def test_evenly_spaced_frames_cover_their_own_period_whatever_the_window() -> None:
    starts = [10.0 * i for i in range(60, 72)]  # 12 frames 10 s apart: 120 s of data at 600..720 s
    for window in ((0, 900), (-3600, 3600), (None, None), (None, 900), (0, None)):
        c = _measure(starts, window)
        assert (c.start_ns - T0_NS, c.end_ns - T0_NS, c.frames) == (600 * S, 720 * S, 12), window
        assert c.seconds == 120.0 and c.note == "from 2 min of data"


def test_data_that_fills_an_explicit_window_covers_all_of_it() -> None:
    # a steady stream running before and after [0, 600): the empty edges are shorter than the longest gap
    c = _measure([3.0 + 7.0 * i for i in range(85)], (0, 600))
    assert (c.start_ns, c.end_ns) == (T0_NS, T0_NS + 600 * S) and c.seconds == 600.0


def test_one_frame_covers_its_duration_and_an_empty_window_nothing() -> None:
    c = _measure([50.0], (0, 900), ms=2500.0)
    assert c.seconds == 2.5 and c.burstiness is None and 0 < c.confidence < 0.05
    empty = coverage.measure(pl.DataFrame({"t": [], "w": []}, schema={"t": pl.Int64, "w": pl.Float64}), 0, 10)
    assert (empty.frames, empty.confidence, empty.note) == (0, 0.0, "no data")


def test_confidence_falls_with_a_short_or_bursty_basis() -> None:
    hour = _measure([1.0 * i for i in range(3600)], (0, 3600))
    assert hour.confidence == 1.0 and hour.burstiness == pytest.approx(0.0, abs=0.01)
    quarter = _measure([1.0 * i for i in range(900)], (0, 3600))
    assert quarter.confidence == pytest.approx(0.5, abs=0.01)  # sqrt(15 min / 1 h)
    # two minutes of heavy traffic and a trickle over the rest of the hour: one slice holds nearly everything
    bursty = _measure([1200 + 0.1 * i for i in range(1200)] + [60.0 * i for i in range(60)], (0, 3600))
    assert bursty.seconds == 3600.0 and bursty.bursty and bursty.burstiness > 3
    assert bursty.confidence == round(1 / bursty.burstiness, 2) and bursty.note == "from 60 min of bursty data"


# ---- the same data, three windows: the same projections -------------------------------------------

DATA_START = T0_NS + 10 * MIN
DATA_S = 12 * 60
GAP_S = 5


def _fleet() -> pl.DataFrame:
    """12 minutes of traces every 5 s: a low-utilisation gpt-4o classifier (model_downgrade), a long-prompt
    Claude answer (prompt_caching), a failing extractor with LLM cost (retry_policy); the answer's price per
    call doubles over the 12 minutes, so the cost per hour has a real trend."""
    rows = []
    for i in range(DATA_S // GAP_S):
        t = DATA_START + i * GAP_S * S
        grow = 1 + i / (DATA_S // GAP_S)
        rows += [
            {"ts": t, "component": "agent_run", "total_ms": 3000.0},
            {"ts": t + 10_000_000, "component": "classifier", "total_ms": 700.0 + i % 7, "model": "gpt-4o",
             "provider": "openai", "input_tokens": 900 + (i % 3) * 100, "output_tokens": 20, "cost_usd": 0.003,
             "context_utilization": 0.008},
            {"ts": t + 800_000_000, "component": "answer", "total_ms": 1900.0 + i % 11,
             "model": "claude-sonnet-4-5", "provider": "anthropic", "input_tokens": 8000 + (i % 4) * 500,
             "output_tokens": 400, "cache_read_tokens": 0, "cost_usd": 0.03 * grow, "context_utilization": 0.04},
            {"ts": t + 2_800_000_000, "component": "extract", "total_ms": 150.0, "success": i % 3 != 0,
             "model": "gpt-4o-mini", "provider": "openai", "input_tokens": 300, "output_tokens": 50,
             "cost_usd": 0.0001},
        ]  # fmt: skip
    return frames(rows)


WINDOWS = {
    "15 min": (T0 + timedelta(minutes=8), T0 + timedelta(minutes=23)),
    "1 h": (T0 - timedelta(minutes=20), T0 + timedelta(minutes=40)),
    "whole store": (None, None),
}


def _projections(report: dict) -> dict:
    """Every per-hour, per-minute and per-day figure of a report, by name."""
    s = report["summary"]
    out = {"burn": s["burn_usd_per_hour"], "throughput": s["throughput_per_min"],
           "llm burn": report["llm"]["burn_usd_per_hour"]}  # fmt: skip
    out |= {f"model {m['model']} $/h": m["burn_usd_per_hour"] for m in report["models"]}
    out |= {f"llm component {m['component']} $/h": m["burn_usd_per_hour"] for m in report["llm"]["by_component"]}
    out |= {f"{c['component']} /min": c["executions_per_min"] for c in report["components"]}
    for r in report["recommendations"]:
        out |= {f"{r['kind']} {r['component']} $/day": r["est_savings_usd_per_day"],
                f"{r['kind']} {r['component']} conf": r["confidence"],
                f"{r['kind']} {r['component']} basis": r["basis_s"]}  # fmt: skip
    return out


def test_the_same_data_gives_the_same_projections_in_a_15_minute_a_1_hour_and_the_whole_store_window() -> None:
    fleet = _fleet()
    reports = {
        name: to_builtins(build_report(fleet, window_from=lo, window_to=hi)) for name, (lo, hi) in WINDOWS.items()
    }
    durations = {name: r["window"]["duration_s"] for name, r in reports.items()}
    # window-based rates would differ 5x between these (the bug: $23, $94 and $822 a day for one saving)
    assert durations == pytest.approx({"15 min": 900.0, "1 h": 3600.0, "whole store": DATA_S - GAP_S + 2.8})
    bases = [r["window"]["basis"] for r in reports.values()]
    assert all(b == bases[0] for b in bases) and bases[0]["seconds"] == pytest.approx(DATA_S, abs=0.2)
    assert bases[0]["note"] == "from 12 min of data" and bases[0]["confidence"] == pytest.approx(0.45, abs=0.01)
    want = _projections(reports["whole store"])
    kinds = {r["kind"] for r in reports["whole store"]["recommendations"]}
    assert {"model_downgrade", "prompt_caching"} <= kinds  # retry_policy needs retries (issue 10): none here
    assert want["classifier /min"] == pytest.approx(144 / 12, rel=1e-3)  # 144 calls in 12 minutes
    for name in ("15 min", "1 h"):
        got = _projections(reports[name])
        assert got.keys() == want.keys(), name
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-4), (name, key)
    # the cost forecast is a trend fit on each window's own buckets: the same within the fit's noise
    forecasts = {
        name: next(t for t in r["trends"] if t["component"] == "(all)" and t["metric"] == "cost_usd_per_hour")
        for name, r in reports.items()
    }
    first = forecasts["whole store"]["forecast_next_hour"]
    assert all(f["forecast_next_hour"] == pytest.approx(first, rel=0.05) for f in forecasts.values()), forecasts


def test_cost_per_hour_is_not_spread_over_the_empty_part_of_the_window() -> None:
    start, end = WINDOWS["1 h"]
    df, win = prepare(_fleet(), start, end)
    per_bucket = df.group_by("b").agg(rows=pl.len(), executions=pl.col("w").sum(), errors=pl.lit(0.0),
                                      p95_ms=pl.lit(None, pl.Float64), p50_ms=pl.lit(None, pl.Float64),
                                      cost_usd=pl.col("cost_usd").sum(), priced_calls=pl.len().cast(pl.Float64),
                                      llm_calls=pl.len().cast(pl.Float64), input_tokens=pl.lit(0.0),
                                      output_tokens=pl.lit(0.0))  # fmt: skip
    s = series.build(per_bucket, win, series.ALL)
    covered = ~np.isnan(s.cost_per_hour)
    assert np.flatnonzero(covered).tolist() == list(range(30, 42))  # the 12 one-minute buckets the data covers
    burn = float(df["cost_usd"].sum()) / win.basis_hours
    assert float(np.mean(s.cost_per_hour[covered])) == pytest.approx(burn, rel=0.02)


# ---- effect sizes ------------------------------------------------------------------------------------

N = 60


def _latency_series(p95: np.ndarray, rows: float = 1e5) -> series.Series:
    nan = np.full(N, np.nan)
    return series.Series("svc", rows=np.full(N, rows), executions=np.full(N, rows),
                         values={"latency_p95_ms": p95, "error_rate": nan.copy(), "cost_per_call_usd": nan.copy(),
                                 "tokens_per_call": nan.copy()},
                         cost_per_hour=None, p50_ms=p95 / 3)  # fmt: skip


def _error_series(rate: np.ndarray, rows: float = 1e6) -> series.Series:
    s = _latency_series(np.full(N, np.nan), rows)
    s.values["error_rate"] = rate
    return s


WIN = make_window(T0_NS, T0_NS + N * MIN)


def test_a_flat_series_with_tiny_noise_has_no_trend_and_a_30_percent_ramp_has_one() -> None:
    rng = np.random.default_rng(1)
    noise = 1 + rng.normal(0, 0.002, N)
    flat = _latency_series(100.0 * noise)
    drift = _latency_series(100.0 * (1 + 0.02 * np.arange(N) / N) * noise)  # +2 %: clear, but too small
    fitted = trends.fit(np.asarray(WIN.bucket_hours()), drift.values["latency_p95_ms"], 1.5, 0.0, np.inf)
    assert fitted is not None and fitted["p_value"] < 1e-6 and fitted["ci_low"] > 0  # Mann-Kendall is sure of it
    assert trends.trends([flat, drift], WIN, 0.05) == []
    ramp = _latency_series(100.0 * (1 + 0.3 * np.arange(N) / (N - 1)) * noise)
    (t,) = to_builtins(trends.trends([ramp], WIN, 0.05))
    assert t["metric"] == "latency_p95_ms" and t["relative_change"] == pytest.approx(0.3 / 1.15, rel=0.05)
    assert t["change"] == pytest.approx(30.0, rel=0.05) and t["ci_low"] > 0


def test_a_zero_slope_is_never_a_trend_however_small_its_p_value() -> None:
    """The issue's case: slope +0, interval 0..0, p = 0.004 (errors only in the last buckets)."""
    rate = np.zeros(N)
    rate[-8:] = 0.2
    fitted = trends.fit(np.asarray(WIN.bucket_hours()), rate, 1.5, 0.0, 1.0)
    assert fitted is not None and fitted["slope_per_hour"] == 0.0 and fitted["p_value"] < 0.05
    assert trends.trends([_error_series(rate)], WIN, 0.05) == []


def test_error_rate_trends_need_a_fifth_of_the_threshold_in_absolute_change() -> None:
    ramp = 0.05 + 0.005 * np.arange(N) / (N - 1)  # +0.5 point: 10 % relative, but under 1 point
    assert trends.trends([_error_series(ramp)], WIN, 0.05) == []
    (t,) = trends.trends([_error_series(ramp)], WIN, 0.02)  # a stricter budget makes half a point matter
    assert t.metric == "error_rate" and t.change == pytest.approx(0.005, rel=0.05)


def test_a_5_percent_spike_on_huge_counts_is_not_an_anomaly_but_200_percent_is() -> None:
    rate = np.full(N, 0.05)
    for bump, expected in ((0.05 * 1.05, []), (0.05 * 3, [("error_rate", "fisher_exact", "up")])):
        rate[45] = bump
        s = _error_series(rate.copy())
        sd, df = anomalies.noise("error_rate", s.values["error_rate"], s)
        scores = dict((b, z) for b, z, _ in anomalies.spike_scores("error_rate", s.values["error_rate"], s, sd, df))
        assert scores[45] >= anomalies.SPIKE_Z  # statistically certain either way, on a million frames
        found = anomalies.detect([s], WIN, 0.05)
        assert [(a.metric, a.method, a.direction) for a in found] == expected
    (a,) = found
    assert a.change == pytest.approx(0.10) and a.relative_change == pytest.approx(2.0)


def test_a_5_percent_latency_shift_on_huge_counts_is_not_an_anomaly_but_200_percent_is() -> None:
    rng = np.random.default_rng(2)
    noise = 1 + rng.normal(0, 0.001, N)
    for factor, reported in ((1.05, False), (3.0, True)):
        p95 = 100.0 * np.where(np.arange(N) >= 40, factor, 1.0) * noise
        s = _latency_series(p95)
        y = np.log(p95)
        sd, _ = anomalies.noise("latency_p95_ms", y, s)
        assert anomalies.level_shifts(y, float(np.median(sd)))  # the rank test finds both shifts
        found = anomalies.detect([s], WIN, 0.05)
        assert bool(found) is reported, (factor, found)
    assert found[0].method == "change_point" and found[0].relative_change == pytest.approx(2.0, rel=0.01)
