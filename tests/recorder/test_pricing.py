"""Cost and context window come from genai-prices, priced in the flush thread; unknown models stay
unpriced (null, counted), never $0."""

from __future__ import annotations

from pathlib import Path

import pytest
from genai_prices import Usage, calc_price
from recorder_testlib import read_frames

from smythtop.recorder import VirtualClock

T0 = 1_760_000_000 * 10**9


def price(model: str, provider: str, **usage: int) -> float:
    return float(calc_price(Usage(**usage), model, provider_id=provider).total_price)


def test_cost_matches_genai_prices_with_cached_tokens(make, root: Path) -> None:
    c = make()
    with c.track("Assistant", agent_id="a") as t:
        t.llm(
            "claude-sonnet-4-5",
            "anthropic",
            input_tokens=12_000,  # OTel: includes the cached 9,000 read and 1,000 written
            cache_read_tokens=9_000,
            cache_write_tokens=1_000,
            output_tokens=800,
            reasoning_tokens=300,
            ttft_ms=420.0,
            quality=0.8,
        )
    with c.track("Planner", agent_id="a") as t:
        t.llm("gpt-4.1-mini", "openai", input_tokens=5_000, cache_read_tokens=4_096, output_tokens=200)
    c.flush()
    rows = {r["component"]: r for r in read_frames(root)}
    a = rows["Assistant"]
    expected = price(
        "claude-sonnet-4-5",
        "anthropic",
        input_tokens=12_000,
        cache_read_tokens=9_000,
        cache_write_tokens=1_000,
        output_tokens=800,
        output_reasoning_tokens=300,
    )
    assert a["cost_usd"] == pytest.approx(expected, rel=1e-9)
    # Cached tokens are cheaper, not counted twice: all 12,000 at the full input price would cost more.
    full = price("claude-sonnet-4-5", "anthropic", input_tokens=12_000, output_tokens=800)
    assert a["cost_usd"] < full
    assert (a["input_tokens"], a["cache_read_tokens"], a["output_tokens"]) == (12_000, 9_000, 800)
    assert a["context_window"] == 200_000 and a["context_utilization"] == pytest.approx(12_000 / 200_000)
    assert (a["ttft_ms"], a["quality"]) == (420.0, 0.8)
    p = rows["Planner"]
    expected = price("gpt-4.1-mini", "openai", input_tokens=5_000, cache_read_tokens=4_096, output_tokens=200)
    assert p["cost_usd"] == pytest.approx(expected, rel=1e-9) and p["context_window"] == 1_000_000
    assert c.stats()["priced"] == 2


def test_unknown_model_is_unpriced_and_counted_never_zero(make, root: Path) -> None:
    c = make()
    for _ in range(3):
        with c.track("LocalLLM", agent_id="a") as t:
            t.llm("acme-internal-13b", "self-hosted", input_tokens=1_000, output_tokens=100)
    c.flush()
    rows = read_frames(root)
    assert len(rows) == 3
    assert all(r["cost_usd"] is None and r["context_window"] is None for r in rows)
    assert all(r["input_tokens"] == 1_000 and r["model"] == "acme-internal-13b" for r in rows)  # re-priceable
    stats = c.stats()
    assert stats["unpriced"] == 3 and stats["unknown_models"] == ["self-hosted/acme-internal-13b"]


def test_unknown_provider_id_falls_back_to_the_model(make, root: Path) -> None:
    c = make()
    with c.track("LLM", agent_id="a") as t:
        t.llm("gpt-4o-mini", "azure-east", input_tokens=2_000, output_tokens=100)
    c.flush()
    (row,) = read_frames(root)
    assert row["cost_usd"] == pytest.approx(price("gpt-4o-mini", "openai", input_tokens=2_000, output_tokens=100))


def test_price_at_the_frames_own_time(make, root: Path) -> None:
    clock = VirtualClock(T0)
    c = make(clock=clock)
    with c.track("LLM", agent_id="a") as t:
        t.llm("gpt-4.1", "openai", input_tokens=3_000, output_tokens=300)
    c.flush()
    (row,) = read_frames(root)
    assert row["ts"] == T0
    from datetime import UTC, datetime

    when = datetime.fromtimestamp(T0 / 1e9, UTC)
    calc = calc_price(Usage(input_tokens=3_000, output_tokens=300), "gpt-4.1", provider_id="openai",
                      genai_request_timestamp=when)  # fmt: skip
    assert row["cost_usd"] == pytest.approx(float(calc.total_price))


def test_usage_read_from_provider_responses(make, root: Path) -> None:
    c = make()
    anthropic = {
        "type": "message",
        "model": "claude-haiku-4-5",
        "usage": {
            "input_tokens": 150,  # Anthropic: excludes the cache
            "cache_read_input_tokens": 2_000,
            "cache_creation_input_tokens": 500,
            "output_tokens": 320,
        },
    }
    openai_chat = {
        "model": "gpt-4.1",
        "usage": {
            "prompt_tokens": 3_000,  # OpenAI: includes the cache
            "completion_tokens": 400,
            "prompt_tokens_details": {"cached_tokens": 2_048},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }
    gemini = {
        "modelVersion": "gemini-2.5-flash",
        "usageMetadata": {"promptTokenCount": 1_000, "cachedContentTokenCount": 600, "candidatesTokenCount": 200,
                          "thoughtsTokenCount": 100, "totalTokenCount": 1_300},
    }  # fmt: skip
    for name, response in (("Anthropic", anthropic), ("OpenAI", openai_chat), ("Gemini", gemini)):
        with c.track(name, agent_id="a") as t:
            t.llm_response(response)
    c.flush()
    rows = {r["component"]: r for r in read_frames(root)}
    a = rows["Anthropic"]
    assert (a["provider"], a["model"]) == ("anthropic", "claude-haiku-4-5")
    assert (a["input_tokens"], a["cache_read_tokens"], a["cache_write_tokens"]) == (2_650, 2_000, 500)
    assert a["cost_usd"] == pytest.approx(
        price(
            "claude-haiku-4-5",
            "anthropic",
            input_tokens=2_650,
            cache_read_tokens=2_000,
            cache_write_tokens=500,
            output_tokens=320,
        )
    )
    o = rows["OpenAI"]
    assert (o["input_tokens"], o["cache_read_tokens"], o["output_tokens"]) == (3_000, 2_048, 400)
    g = rows["Gemini"]
    assert (g["provider"], g["input_tokens"], g["output_tokens"], g["reasoning_tokens"]) == ("google", 1_000, 300, 100)
    assert all(r["cost_usd"] > 0 for r in rows.values())


def test_input_that_excludes_the_cache_is_refused_not_double_counted(make, root: Path) -> None:
    c = make()
    with c.track("LLM", agent_id="a") as t:  # Anthropic-style numbers passed as if OTel: input < cached
        t.llm("claude-haiku-4-5", "anthropic", input_tokens=150, cache_read_tokens=2_000, output_tokens=10)
    c.flush()
    (row,) = read_frames(root)
    assert row["cost_usd"] is None and row["input_tokens"] == 150  # kept, unpriced, counted
    assert c.stats()["pricing_errors"] == 1


def test_track_costs_off_keeps_tokens_and_context_window(make, root: Path) -> None:
    c = make({"llm": {"track_costs": False, "track_quality": False}})
    with c.track("LLM", agent_id="a") as t:
        t.llm("gpt-4.1", "openai", input_tokens=1_000, output_tokens=10, quality=0.5)
    c.flush()
    c.close()
    (row,) = read_frames(root)
    assert row["cost_usd"] is None and row["input_tokens"] == 1_000 and row["quality"] is None
    assert row["context_window"] == 1_000_000


# ---- the provider's bill, rule by rule, against genai-prices on the same hand-built usage -------------------


def one_call(make, root: Path, model: str, provider: str, **tokens: int) -> dict:
    """The frame of one LLM call recorded with these token counts, as stored."""
    c = make()
    with c.track("LLM", agent_id="a") as t:
        t.llm(model, provider, **tokens)
    c.flush()
    (row,) = read_frames(root)
    row["pricing_errors"] = c.stats()["pricing_errors"]
    return row


def test_cached_input_is_charged_at_the_cache_read_price_and_inside_input(make, root: Path) -> None:
    row = one_call(make, root, "claude-sonnet-4-5", "anthropic", input_tokens=10_000, cache_read_tokens=8_000,
                   output_tokens=100)  # fmt: skip
    # $3/MTok on the 2,000 uncached, $0.30/MTok on the 8,000 read, $15/MTok on the output (genai-prices' list)
    by_hand = (2_000 * 3 + 8_000 * 0.3 + 100 * 15) / 1e6
    billed = price("claude-sonnet-4-5", "anthropic", input_tokens=10_000, cache_read_tokens=8_000, output_tokens=100)
    assert row["cost_usd"] == pytest.approx(billed, rel=1e-12) == pytest.approx(by_hand, rel=1e-12)
    added_on_top = price("claude-sonnet-4-5", "anthropic", input_tokens=18_000, cache_read_tokens=8_000,
                         output_tokens=100)  # fmt: skip
    assert row["cost_usd"] < added_on_top


def test_one_hour_cache_writes_are_charged_at_the_one_hour_price(make, root: Path) -> None:
    c = make()
    with c.track("LLM", agent_id="a") as t:
        t.llm("claude-opus-4-5", "anthropic", input_tokens=6_000, cache_write_tokens=5_000,
              cache_write_1h_tokens=3_000, output_tokens=50)  # fmt: skip
    with c.track("LLM5m", agent_id="a") as t:
        t.llm("claude-opus-4-5", "anthropic", input_tokens=6_000, cache_write_tokens=5_000, output_tokens=50)
    c.flush()
    rows = {r["component"]: r for r in read_frames(root)}
    usage = {"input_tokens": 6_000, "cache_write_tokens": 5_000, "output_tokens": 50}
    one_hour = price("claude-opus-4-5", "anthropic", cache_write_1h_tokens=3_000, **usage)
    assert rows["LLM"]["cost_usd"] == pytest.approx(one_hour, rel=1e-12)
    assert rows["LLM"]["cache_write_1h_tokens"] == 3_000
    # 1,000 uncached at $5, 2,000 written for 5 min at $6.25, 3,000 for 1 h at $10, 50 out at $25 (per MTok)
    assert one_hour == pytest.approx((1_000 * 5 + 2_000 * 6.25 + 3_000 * 10 + 50 * 25) / 1e6, rel=1e-12)
    assert rows["LLM5m"]["cost_usd"] == pytest.approx(price("claude-opus-4-5", "anthropic", **usage), rel=1e-12)
    assert rows["LLM5m"]["cost_usd"] < rows["LLM"]["cost_usd"]


def test_one_hour_writes_above_the_writes_are_refused(make, root: Path) -> None:
    row = one_call(make, root, "claude-opus-4-5", "anthropic", input_tokens=6_000, cache_write_tokens=1_000,
                   cache_write_1h_tokens=3_000, output_tokens=50)  # fmt: skip
    assert row["cost_usd"] is None and row["pricing_errors"] == 1


def test_reasoning_tokens_are_charged_as_output(make, root: Path) -> None:
    row = one_call(make, root, "o3", "openai", input_tokens=1_000, output_tokens=900, reasoning_tokens=700)
    billed = price("o3", "openai", input_tokens=1_000, output_tokens=900, output_reasoning_tokens=700)
    assert row["cost_usd"] == pytest.approx(billed, rel=1e-12)
    assert row["cost_usd"] == pytest.approx(price("o3", "openai", input_tokens=1_000, output_tokens=900), rel=1e-12)
    assert row["cost_usd"] > price("o3", "openai", input_tokens=1_000, output_tokens=200)  # not left unpriced


def test_tier_prices_apply_per_request(make, root: Path) -> None:
    c = make()
    calls = ((150_000, 1_000), (250_000, 1_000))  # under and over claude-sonnet-4-5's 200K-token tier
    for tin, tout in calls:
        with c.track("LLM", agent_id="a") as t:
            t.llm("claude-sonnet-4-5", "anthropic", input_tokens=tin, output_tokens=tout)
    c.flush()
    rows = read_frames(root)
    each = [price("claude-sonnet-4-5", "anthropic", input_tokens=i, output_tokens=o) for i, o in calls]
    assert [r["cost_usd"] for r in rows] == pytest.approx(each, rel=1e-12)
    assert each[1] / 250_000 > each[0] / 150_000  # the long request paid the tier price
    summed = price("claude-sonnet-4-5", "anthropic", input_tokens=400_000, output_tokens=2_000)
    assert sum(r["cost_usd"] for r in rows) < summed  # the window's sum would put both in the tier


def test_anthropic_one_hour_cache_writes_read_from_the_response(make, root: Path) -> None:
    c = make()
    response = {
        "type": "message",
        "model": "claude-sonnet-4-5",
        "usage": {"input_tokens": 100, "output_tokens": 40, "cache_read_input_tokens": 1_000,
                  "cache_creation_input_tokens": 3_000,
                  "cache_creation": {"ephemeral_5m_input_tokens": 1_000, "ephemeral_1h_input_tokens": 2_000}},
    }  # fmt: skip
    with c.track("LLM", agent_id="a") as t:
        t.llm_response(response)
    c.flush()
    (row,) = read_frames(root)
    assert (row["input_tokens"], row["cache_write_tokens"], row["cache_write_1h_tokens"]) == (4_100, 3_000, 2_000)
    assert row["cost_usd"] == pytest.approx(
        price("claude-sonnet-4-5", "anthropic", input_tokens=4_100, output_tokens=40, cache_read_tokens=1_000,
              cache_write_tokens=3_000, cache_write_1h_tokens=2_000), rel=1e-12)  # fmt: skip
