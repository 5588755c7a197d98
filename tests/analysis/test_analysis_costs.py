"""Cost totals and recommendation figures against genai-prices called directly."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from analysis_testlib import MIN, T0_NS, frames
from genai_prices import Usage, calc_price
from msgspec import to_builtins
from smythtop.analysis.report import build_report

MODELS = (("gpt-4o", "openai"), ("claude-sonnet-4-5", "anthropic"), ("gemini-2.5-flash", "google"))


def _llm_rows(rng: np.random.Generator, n: int) -> list[dict]:
    rows = []
    for i in range(n):
        model, provider = MODELS[i % len(MODELS)]
        tin = int(rng.integers(200, 5000))
        tout = int(rng.integers(20, 800))
        cached = int(tin * rng.uniform(0, 0.5))
        price = calc_price(Usage(input_tokens=tin, output_tokens=tout, cache_read_tokens=cached), model,
                           provider_id=provider)  # fmt: skip
        rows.append({
            "ts": T0_NS + i * MIN // 10, "component": f"llm_{i % 2}", "total_ms": float(rng.integers(200, 3000)),
            "model": model, "provider": provider, "input_tokens": tin, "output_tokens": tout,
            "cache_read_tokens": cached, "cost_usd": float(price.total_price),
            "context_utilization": tin / 128_000, "sample_rate": 0.5 if i % 5 == 0 else 1.0,
        })  # fmt: skip
    return rows


def test_cost_totals_equal_genai_prices_weighted() -> None:
    rng = np.random.default_rng(5)
    rows = _llm_rows(rng, 300)
    rows.append({"ts": T0_NS, "component": "llm_0", "total_ms": 100.0, "model": "in-house-llm-7",
                 "provider": "acme", "input_tokens": 100, "output_tokens": 10, "cost_usd": None})  # fmt: skip
    report = to_builtins(build_report(frames(rows)))
    expected = Decimal(0)
    per_model: dict[str, Decimal] = {}
    for r in rows[:-1]:
        price = calc_price(
            Usage(input_tokens=r["input_tokens"], output_tokens=r["output_tokens"],
                  cache_read_tokens=r["cache_read_tokens"]), r["model"], provider_id=r["provider"],
        ).total_price * Decimal(1 / r["sample_rate"])  # fmt: skip
        expected += price
        per_model[r["model"]] = per_model.get(r["model"], Decimal(0)) + price
    assert report["summary"]["total_cost_usd"] == pytest.approx(float(expected), rel=1e-9)
    assert report["summary"]["unpriced_llm_calls"] == 1.0
    models = {m["model"]: m for m in report["models"]}
    for model, cost in per_model.items():
        assert models[model]["cost_usd"] == pytest.approx(float(cost), rel=1e-9)
        assert models[model]["burn_usd_per_hour"] == pytest.approx(
            float(cost) / (report["window"]["basis"]["seconds"] / 3600), rel=1e-9
        )
    unpriced = models["in-house-llm-7"]
    assert unpriced["cost_usd"] is None and unpriced["unpriced_calls"] == 1.0 and unpriced["calls"] == 1.0
    assert [m["model"] for m in report["models"]][-1] == "in-house-llm-7"  # most expensive first
    costs = [m["cost_usd"] or 0.0 for m in report["models"]]
    assert costs == sorted(costs, reverse=True)
    assert sum(b["cost_usd"] for b in report["cost_series"]) == pytest.approx(float(expected), rel=1e-9)


def test_model_downgrade_is_priced_on_the_mean_call_with_genai_prices() -> None:
    rows = [
        {"ts": T0_NS + i * MIN // 4, "component": "classifier", "total_ms": 800.0, "model": "gpt-4o",
         "provider": "openai", "input_tokens": 900 + (i % 3) * 100, "output_tokens": 20, "cost_usd": 0.003,
         "context_utilization": 0.008}
        for i in range(240)
    ]  # fmt: skip
    report = to_builtins(build_report(frames(rows)))
    rec = next(r for r in report["recommendations"] if r["kind"] == "model_downgrade")
    assert rec["component"] == "classifier" and rec["provider"] == "openai"
    mean = Usage(input_tokens=1000, output_tokens=20)
    own = calc_price(mean, "gpt-4o", provider_id="openai").total_price

    def per_day(model: str) -> float:  # 240 calls 15 s apart: an hour of data, not the 3585 s from first to last
        per_call = own - calc_price(mean, model, provider_id="openai").total_price
        return float(per_call) * 240 * 24

    assert rec["est_savings_usd_per_day"] == pytest.approx(per_day(rec["suggested_model"]), rel=1e-3)
    assert 1 <= len(rec["alternatives"]) <= 2
    for alt in rec["alternatives"]:
        assert alt["est_savings_usd_per_day"] == pytest.approx(per_day(alt["model"]), rel=1e-3)
        assert alt["saving_share"] >= 0.2 and alt["model"] in rec["rationale"]
    assert 0 < rec["confidence"] <= 1


def test_prompt_caching_uses_cache_read_prices_and_counts_cache_writes() -> None:
    rows = [
        {"ts": T0_NS + i * MIN // 4, "component": "rag_answer", "total_ms": 2000.0, "model": "claude-sonnet-4-5",
         "provider": "anthropic", "input_tokens": 8000 + (i % 4) * 500, "output_tokens": 400,
         "cache_read_tokens": 0, "cost_usd": 0.03, "context_utilization": 0.04}
        for i in range(240)
    ]  # fmt: skip
    report = to_builtins(build_report(frames(rows)))
    rec = next(r for r in report["recommendations"] if r["kind"] == "prompt_caching")
    mean_in, prefix = 8750, 8000
    now = calc_price(Usage(input_tokens=mean_in, output_tokens=400), "claude-sonnet-4-5", provider_id="anthropic")
    cached = calc_price(
        Usage(input_tokens=mean_in, output_tokens=400, cache_read_tokens=prefix),
        "claude-sonnet-4-5",
        provider_id="anthropic",
    )
    write = calc_price(Usage(input_tokens=prefix, cache_write_tokens=prefix), "claude-sonnet-4-5",
                       provider_id="anthropic").total_price - calc_price(
        Usage(input_tokens=prefix), "claude-sonnet-4-5", provider_id="anthropic").total_price  # fmt: skip
    days = report["window"]["basis"]["seconds"] / 86400
    expected = float(now.total_price - cached.total_price) * 240 / days - 288 * float(write)
    assert rec["est_savings_usd_per_day"] == pytest.approx(expected, rel=1e-3)
    assert "8,000-token" in rec["title"]


def test_recommendations_sorted_by_dollars_then_ms() -> None:
    rows = [
        {"ts": T0_NS + i * MIN // 4, "component": "classifier", "total_ms": 800.0, "model": "gpt-4o",
         "provider": "openai", "input_tokens": 1000, "output_tokens": 20, "cost_usd": 0.003}
        for i in range(240)
    ] + [
        {"ts": T0_NS + i * MIN // 4, "component": "flaky", "total_ms": 500.0, "success": i % 3 != 0,
         "retry_count": int(i % 3 == 0)}  # a retry policy exists: every failure was retried once, in vain
        for i in range(240)
    ]  # fmt: skip
    recs = to_builtins(build_report(frames(rows)).recommendations)
    kinds = [r["kind"] for r in recs]
    assert "model_downgrade" in kinds and "retry_policy" in kinds
    keys = [(r["est_savings_usd_per_day"], r["est_latency_gain_ms"] or 0.0) for r in recs]
    assert keys == sorted(keys, reverse=True)
    retry = next(r for r in recs if r["kind"] == "retry_policy")
    assert retry["est_latency_gain_ms"] == pytest.approx(500.0 * 80 / 240, abs=1e-3)


def test_rate_limits_per_model_and_provider_with_the_time_they_cost() -> None:
    rows = []
    for i in range(200):
        ts = T0_NS + i * MIN // 10
        # openai: every 10th call refused with 429 (by HTTP status), every 25th failed with a 500 (not a limit)
        status = 429 if i % 10 == 0 else (500 if i % 25 == 1 else None)
        rows.append(
            {
                "ts": ts,
                "component": "planner" if i % 20 else "router",
                "total_ms": 3000.0 if status == 429 else 800.0,
                "success": status is None,
                "http_status": status,
                "model": "gpt-4o",
                "provider": "openai",
                "input_tokens": 500,
                "output_tokens": 50,
                "error_type": "RateLimitError" if status == 429 else ("APIError" if status else None),
            }
        )
        # anthropic: overloaded by 529 or, in frames without a status, by error type; sampled at 0.5
        kind = ("overloaded_error", 529) if i % 8 == 0 else (("rate_limit_error", None) if i % 8 == 1 else None)
        rows.append(
            {
                "ts": ts,
                "component": "writer",
                "total_ms": 2000.0 if kind else 1000.0,
                "success": kind is None,
                "error_type": kind and kind[0],
                "http_status": kind and kind[1],
                "model": "claude-sonnet-4-5",
                "provider": "anthropic",
                "input_tokens": 500,
                "output_tokens": 50,
                "sample_rate": 0.5,
            }
        )
        # a tool's failures are not an LLM's rate limit
        rows.append({"ts": ts, "component": "search", "total_ms": 10.0, "success": i % 5 != 0,
                     "http_status": 429 if i % 5 == 0 else None})  # fmt: skip
        # refused calls recorded without a model: counted for their agent's component's one model (summariser),
        # not for a component that calls two (mixer)
        refused = i % 4 == 0
        for comp, model in (("summariser", "gpt-4.1-mini"), ("mixer", ("gpt-4.1-mini", "gpt-4.1-nano")[i % 2])):
            rows.append({"ts": ts, "component": comp, "total_ms": 400.0, "success": not refused,
                         "error_type": "RateLimitError" if refused else None, "model": None if refused else model,
                         "provider": None if refused else "openai", "input_tokens": None if refused else 300,
                         "output_tokens": None if refused else 30})  # fmt: skip
    report = build_report(frames(rows))
    recs = {r.model: r for r in report.recommendations if r.kind == "rate_limits"}
    assert set(recs) == {"gpt-4o", "claude-sonnet-4-5", "gpt-4.1-mini"}
    mini = recs["gpt-4.1-mini"]
    assert mini.component == "summariser" and mini.rate_limited_calls == 50 and mini.provider == "openai"
    assert "error type" in mini.rationale and "mixer" not in mini.rationale
    openai = recs["gpt-4o"]
    assert openai.provider == "openai" and openai.rate_limited_calls == 20
    assert openai.component == "planner"  # 10 of the 20 refusals fell on planner calls (i % 20 != 0), 10 on router
    assert openai.est_latency_gain_ms == pytest.approx(20 * 3000.0 / 200)
    assert "10.0%" in openai.rationale and "60.0 s" in openai.rationale
    anthropic = recs["claude-sonnet-4-5"]
    assert anthropic.rate_limited_calls == 2 * 50  # 50 frames, each weighing 1/0.5
    assert anthropic.est_latency_gain_ms == pytest.approx(100 * 2000.0 / 400)
    assert anthropic.component == "writer" and "HTTP status/error type" in anthropic.rationale
