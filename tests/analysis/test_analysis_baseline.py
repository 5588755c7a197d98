"""Baselines: JSON round trip, and regressions with their p-values."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_testlib import MIN, T0_NS, frames
from msgspec import to_builtins
from smythtop.analysis.baseline import Baseline, establish_baseline
from smythtop.analysis.detail import component_detail
from smythtop.analysis.report import build_report


def _llm(rng: np.random.Generator, n: int, start: int, model: str, price_in: float, price_out: float,
         ms: float = 900.0, fail: float = 0.01) -> list[dict]:  # fmt: skip
    rows = []
    for i in range(n):
        tin, tout = int(rng.integers(800, 1200)), int(rng.integers(100, 300))
        took = float(rng.lognormal(np.log(ms), 0.2))
        rows.append({"ts": start + i * MIN // 10, "component": "answer", "total_ms": took,
                     "model": model, "provider": "openai", "input_tokens": tin, "output_tokens": tout,
                     "cost_usd": tin * price_in + tout * price_out, "success": bool(rng.random() > fail)})  # fmt: skip
    return rows


def test_baseline_json_round_trip() -> None:
    rng = np.random.default_rng(0)
    base = establish_baseline(frames(_llm(rng, 200, T0_NS, "gpt-4o-mini", 0.15e-6, 0.6e-6)), "answer")
    again = Baseline.from_json(base.to_json())
    assert again == base
    assert base.rows == 200 and len(base.latency_sample) == 200 and len(base.cost_sample) == 200
    assert base.p50_ms <= base.p95_ms <= base.p99_ms
    with pytest.raises(ValueError, match="baseline"):
        Baseline.from_json('{"version": 99}')
    with pytest.raises(ValueError, match="no frames"):
        establish_baseline(frames(_llm(rng, 5, T0_NS, "gpt-4o", 1e-6, 1e-6)), "nope")


def test_model_switch_shows_as_cost_regression_with_small_p() -> None:
    rng = np.random.default_rng(1)
    before = _llm(rng, 300, T0_NS, "gpt-4o-mini", 0.15e-6, 0.6e-6)
    base = establish_baseline(frames(before), "answer")
    after = _llm(rng, 300, T0_NS + 100 * MIN, "gpt-4o", 2.5e-6, 10e-6)
    report = to_builtins(build_report(frames(after), baselines={"answer": base}))
    cost = [r for r in report["regressions"] if r["metric"] == "cost_per_call_usd"]
    assert cost, report["regressions"]
    assert cost[0]["p_value"] < 0.01
    assert cost[0]["current"] > 10 * cost[0]["baseline"]
    assert cost[0]["change"] > 9
    assert not any(r["metric"] == "latency_p95_ms" for r in report["regressions"])  # same latency


def test_latency_and_error_regressions_and_no_false_alarm() -> None:
    rng = np.random.default_rng(2)
    base = establish_baseline(frames(_llm(rng, 400, T0_NS, "gpt-4o", 2.5e-6, 10e-6)), "answer")
    same = build_report(frames(_llm(rng, 400, T0_NS + 100 * MIN, "gpt-4o", 2.5e-6, 10e-6)),
                        baselines={"answer": base})  # fmt: skip
    assert same.regressions == []
    worse = _llm(rng, 400, T0_NS + 200 * MIN, "gpt-4o", 2.5e-6, 10e-6, ms=1400.0, fail=0.15)
    detail = to_builtins(component_detail(frames(worse), "answer", baseline=base))
    metrics = {r["metric"]: r for r in detail["regressions"]}
    assert metrics["latency_p95_ms"]["p_value"] < 1e-6 and metrics["latency_p95_ms"]["test"] == "mann_whitney_u"
    assert metrics["error_rate"]["p_value"] < 1e-6 and metrics["error_rate"]["test"] == "two_proportion_z"
    assert {r["metric"] for r in detail["comparison"]} == {"latency_p95_ms", "error_rate", "cost_per_call_usd"}
