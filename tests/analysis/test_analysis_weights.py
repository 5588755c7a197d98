"""Weighted counts and percentiles against numpy on the data expanded by weight."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from analysis_testlib import T0_NS, frames
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec import to_builtins
from smythtop.analysis import cube, weights
from smythtop.analysis.report import build_report
from smythtop.analysis.rollup import rollup
from smythtop.analysis.thresholds import Thresholds
from smythtop.analysis.window import prepare

RATES = np.array([1.0, 0.5, 0.25, 0.1])  # weights 1, 2, 4, 10: expanding by them is exact


def _rows(rng: np.random.Generator, n: int, component: str) -> list[dict]:
    ms = rng.lognormal(4.5, 0.9, n)
    rate = RATES[rng.integers(0, len(RATES), n)]
    ok = rng.random(n) > 0.1
    return [
        {"ts": T0_NS + i * 1_000_000, "component": component, "total_ms": float(m), "sample_rate": float(r),
         "success": bool(s)}
        for i, (m, r, s) in enumerate(zip(ms, rate, ok, strict=True))
    ]  # fmt: skip


def _tolerance(v: float) -> float:
    """The histogram's bound: one bin of width 1/K in ln(1 + x)."""
    return (1 + abs(v)) * (np.exp(1 / cube.K) - 1) + 1e-9


def test_weighted_percentiles_match_numpy_on_expanded_data() -> None:
    rng = np.random.default_rng(3)
    rows = _rows(rng, 4000, "alpha") + _rows(rng, 1500, "beta")
    df = frames(rows)
    report = to_builtins(build_report(df))
    for comp in ("alpha", "beta"):
        part = df.filter(pl.col("component") == comp)
        expanded = np.repeat(part["total_ms"].to_numpy(), (1 / part["sample_rate"].to_numpy()).round().astype(int))
        row = next(c for c in report["components"] if c["component"] == comp)
        assert row["executions"] == pytest.approx(len(expanded))
        for q, key in ((50, "p50_ms"), (95, "p95_ms"), (99, "p99_ms")):
            expected = float(np.percentile(expanded, q, method="inverted_cdf"))
            assert row[key] >= expected - 1e-9  # the bin's largest value: never below the true percentile
            assert row[key] - expected <= _tolerance(expected), (comp, key)
        errors = np.repeat(~part["success"].to_numpy(), (1 / part["sample_rate"].to_numpy()).round().astype(int))
        assert row["error_rate"] == pytest.approx(errors.mean())
    everything = np.repeat(df["total_ms"].to_numpy(), (1 / df["sample_rate"].to_numpy()).round().astype(int))
    assert report["summary"]["executions"] == pytest.approx(everything.size)
    p95 = float(np.percentile(everything, 95, method="inverted_cdf"))
    assert 0 <= report["summary"]["p95_ms"] - p95 <= _tolerance(p95)


def test_unweighted_sample_gives_the_ordinary_percentiles() -> None:
    values = np.arange(1, 61, dtype=float)  # 1..60 ms: neighbours differ by > 1 %, so each has its own bin
    df = frames({"ts": T0_NS + i, "component": "c", "total_ms": v} for i, v in enumerate(values))
    row = to_builtins(build_report(df).components[0])
    assert (row["p50_ms"], row["p95_ms"], row["p99_ms"]) == (30.0, 57.0, 60.0)
    assert row["mean_ms"] == pytest.approx(30.5)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 1e6, allow_nan=False), st.sampled_from([1.0, 0.5, 0.25, 0.2, 0.1])),
        min_size=1,
        max_size=60,
    ),
    st.sampled_from([0.01, 0.25, 0.5, 0.9, 0.99, 1.0]),
)
def test_histogram_quantile_property(pairs: list[tuple[float, float]], q: float) -> None:
    values = np.array([v for v, _ in pairs])
    w = np.array([1 / r for _, r in pairs])
    df = pl.DataFrame({"g": ["x"] * len(pairs), "v": values, "w": w})
    hist = weights.histogram(df, ["g"], "v", cube.K)
    got = weights.quantiles(hist, ["g"], (q,), ("p",)).collect()["p"][0]
    expected = float(np.percentile(np.repeat(values, np.round(w).astype(int)), q * 100, method="inverted_cdf"))
    assert expected - 1e-9 <= got <= expected + _tolerance(expected)


def test_sums_are_weighted_and_phases_are_weighted_means() -> None:
    rows = [
        {"ts": T0_NS, "component": "c", "total_ms": 100.0, "queue_ms": 10.0, "sample_rate": 0.5},
        {"ts": T0_NS + 1, "component": "c", "total_ms": 300.0, "queue_ms": 40.0, "sample_rate": 1.0},
        {"ts": T0_NS + 2, "component": "c", "total_ms": 50.0, "sample_rate": 1.0, "success": False},
    ]
    df, win = prepare(frames(rows))
    r = rollup(cube.build(df, win, Thresholds()), ["component"]).row(0, named=True)
    assert r["executions"] == 4.0
    assert r["errors"] == 1.0
    assert r["total_ms_sum"] == pytest.approx(100 * 2 + 300 + 50)
    assert r["queue_ms"] == pytest.approx((10 * 2 + 40) / 3)  # only frames that measured queue time
    assert r["slo_attainment"] == 1.0


def test_subsample_keeps_sums_exact_and_percentiles_close(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(8)
    rows = [
        {"ts": T0_NS + i * 1_000_000, "component": f"c{i % 3}", "total_ms": float(ms), "success": bool(i % 17),
         "model": "gpt-4o", "provider": "openai", "input_tokens": 100 + i % 50, "output_tokens": 10,
         "cost_usd": 0.001 * (1 + i % 7), "queue_ms": float(ms) / 10, "sample_rate": 0.5 if i % 5 == 0 else 1.0}
        for i, ms in enumerate(rng.lognormal(5, 0.5, 12_000))
    ]  # fmt: skip
    df = frames(rows)
    full = to_builtins(build_report(df))
    monkeypatch.setattr(cube, "SUBSAMPLE_ROWS", 1_500)
    part = to_builtins(build_report(df))
    assert full["estimation"]["subsample_factor"] == 1 and part["estimation"]["subsample_factor"] == 8
    for key in ("executions", "total_cost_usd", "success_rate", "slo_attainment", "llm_calls"):
        assert part["summary"][key] == pytest.approx(full["summary"][key], rel=1e-12), key
    for a, b in zip(full["components"], part["components"], strict=True):
        assert (a["component"], a["input_tokens"], a["errors"]) == (b["component"], b["input_tokens"], b["errors"])
        assert b["cost_usd"] == pytest.approx(a["cost_usd"], rel=1e-12)
        assert b["p95_ms"] == pytest.approx(a["p95_ms"], rel=0.1)
        assert b["phases"]["queue_ms"] == pytest.approx(a["phases"]["queue_ms"], rel=0.1)
