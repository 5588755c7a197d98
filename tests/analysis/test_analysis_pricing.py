"""Prices the analysis uses: genai-prices' catalogue for model_downgrade (walked for every current flagship of
OpenAI, Anthropic and Google), and custom prices applied to unpriced frames when they are read."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest
from analysis_testlib import MIN, T0_NS, frames
from genai_prices import Usage, calc_price
from genai_prices.types import ModelPrice
from msgspec import to_builtins
from smythtop.analysis import coverage, pricing, recommend
from smythtop.analysis.detail import component_detail, span_tree
from smythtop.analysis.report import build_report
from smythtop.analysis.thresholds import CustomPrice, Thresholds
from smythtop.analysis.window import Window

# The flagships each provider lists now; every one must be in the walk below (so a walk that skipped them, or an
# empty catalogue, fails) and must get a downgrade.
FLAGSHIPS = {
    "openai": ("gpt-4o", "gpt-4.1", "gpt-5", "gpt-5.5", "o3"),
    "anthropic": ("claude-opus-4-5", "claude-sonnet-4-5", "claude-opus-5"),
    "google": ("gemini-2.5-pro", "gemini-3.1-pro-preview"),
}
MEAN_IN, MEAN_OUT, P99_IN = 2_000, 120, 6_000
WINDOW = Window(T0_NS, T0_NS + 3600 * 10**9, 60 * 10**9, 60, coverage.whole(T0_NS, T0_NS + 3600 * 10**9))


def _usd(model: str, provider: str, tin: int, tout: int) -> float:
    return float(calc_price(Usage(input_tokens=tin, output_tokens=tout), model, provider_id=provider).total_price)


def test_catalogue_lists_the_providers_models_through_the_one_internal_call() -> None:
    """Fails loudly when a genai-prices upgrade moves `data_snapshot.get_snapshot().providers`."""
    openai = {ref.model: ref for ref in pricing.catalogue("openai")}
    assert len(openai) > 20 and all(ref.provider == "openai" for ref in openai.values())
    assert openai["gpt-4o"].context_window == 128_000 and not openai["gpt-4o"].deprecated
    # what the catalogue lists is what the public API prices
    for model in ("gpt-4o", "gpt-4.1-mini", "o3"):
        assert calc_price(Usage(input_tokens=1), model, provider_id="openai").model.id == model
    assert pricing.catalogue("no-such-provider") == ()


@pytest.mark.parametrize(
    ("model", "family", "generation"),
    [
        ("claude-sonnet-4-5", "claude", 4.5),
        ("claude-3-5-haiku-20241022", "claude", 3.5),
        ("claude-opus-4-1-20250805", "claude", 4.1),
        ("gpt-4o", "gpt", 4.0),
        ("gpt-4.1-nano", "gpt", 4.1),
        ("o3-mini", "o", 3.0),
        ("gpt-oss-120b", "gpt-oss", 0.0),
        ("gpt-oss-20b", "gpt-oss", 0.0),
        ("llama-3.1-8b-instruct", "llama", 3.1),
        ("gemma-4-26b-a4b-it", "gemma", 4.0),
        ("gemini-2.5-flash-lite", "gemini", 2.5),
        ("gemini-flash-1.5-8b", "gemini", 1.5),
    ],
)
def test_family_and_generation_read_from_the_id(model: str, family: str, generation: float) -> None:
    assert (pricing.family(model), pricing.generation(model)) == (family, generation)


def _llm_rows(models: list[tuple[str, str]]) -> pl.DataFrame:
    """One over-provisioned component per model: 100 calls, short outputs, low context utilisation."""
    n = 100
    return pl.DataFrame(
        [
            {"component": f"{provider}/{model}", "model": model, "provider": provider, "rows": n, "llm_calls": n,
             "input_tokens": MEAN_IN * n, "output_tokens": MEAN_OUT * n, "cache_read_tokens": 0,
             "cache_write_tokens": 0, "reasoning_tokens": 0, "mean_context_utilization": 0.01,
             "input_tokens_p99": float(P99_IN)}
            for model, provider in models
        ]
    )  # fmt: skip


def _has_cheaper(model: str, provider: str) -> bool:
    """Independently of the recommender: does the catalogue hold a stable chat model of the provider that holds
    the p99 input and costs at least 20 % less on the mean call?"""
    own = _usd(model, provider, MEAN_IN, MEAN_OUT)
    for ref in pricing.catalogue(provider):
        if ref.model == model or not pricing.is_candidate(ref) or ref.context_window < P99_IN:
            continue
        try:
            cost = _usd(ref.model, provider, MEAN_IN, MEAN_OUT)
        except LookupError:
            continue
        if 0 < cost <= own * 0.8 and _usd(ref.model, provider, 0, 1000) > 0:
            return True
    return False


def test_catalogue_walk_every_current_flagship_with_a_cheaper_model_gets_a_downgrade() -> None:
    walked: list[tuple[str, str]] = []
    for provider, flagships in FLAGSHIPS.items():
        current = [r.model for r in pricing.catalogue(provider) if pricing.is_candidate(r)]
        walked += [(m, provider) for m in dict.fromkeys([*flagships, *current]) if _has_cheaper(m, provider)]
    for provider, flagships in FLAGSHIPS.items():
        assert {m for m in flagships} <= {m for m, p in walked if p == provider}, "a flagship has no cheaper model?"
    recs = {r.component: r for r in recommend.model_downgrades(_llm_rows(walked), WINDOW)}
    missing = [f"{p}/{m}" for m, p in walked if f"{p}/{m}" not in recs]
    assert not missing, f"no downgrade found for {missing}"
    for model, provider in walked:
        rec = recs[f"{provider}/{model}"]
        suggested = [rec.suggested_model, *[a.model for a in rec.alternatives]]
        assert len(suggested) == len(set(suggested)) <= 3 and model not in suggested
        own = _usd(model, provider, MEAN_IN, MEAN_OUT)
        for other in suggested:
            assert _usd(other, provider, MEAN_IN, MEAN_OUT) <= own * 0.8
            ref = pricing.resolve(other, provider)
            assert ref is not None and ref.provider == provider and ref.context_window >= P99_IN


def test_downgrade_prefers_the_same_family_then_newer_generations() -> None:
    (rec,) = recommend.model_downgrades(_llm_rows([("claude-opus-4-5", "anthropic")]), WINDOW)
    own_generation = pricing.generation("claude-opus-4-5")
    top = rec.suggested_model
    assert pricing.family(top) == "claude" and pricing.generation(top) >= own_generation
    # nothing newer in the family was cheap enough and left out
    limit = 0.8 * _usd("claude-opus-4-5", "anthropic", MEAN_IN, MEAN_OUT)
    newer = [
        r.model for r in pricing.catalogue("anthropic")
        if pricing.is_candidate(r) and pricing.generation(r.model) > pricing.generation(top)
        and _usd(r.model, "anthropic", MEAN_IN, MEAN_OUT) <= limit
    ]  # fmt: skip
    assert newer == []


def test_downgrade_skips_models_whose_context_window_is_too_small() -> None:
    rows = _llm_rows([("gpt-4.1", "openai")]).with_columns(input_tokens_p99=pl.lit(300_000.0))
    (rec,) = recommend.model_downgrades(rows, WINDOW)
    for model in [rec.suggested_model, *[a.model for a in rec.alternatives]]:
        assert pricing.resolve(model, "openai").context_window >= 300_000
    assert "gpt-4o-mini" not in [rec.suggested_model, *[a.model for a in rec.alternatives]]  # 128K window


# ---- custom prices at read time -----------------------------------------------------------------------------

ACME = CustomPrice(input_mtok=2.0, output_mtok=6.0, cache_read_mtok=0.5, cache_write_mtok=2.5,
                   cache_write_1h_mtok=4.0, reasoning_mtok=8.0)  # fmt: skip
USAGES = (  # hand-built: plain, cached input, cache writes with a 1-hour part, reasoning
    {"input_tokens": 1_000, "output_tokens": 200},
    {"input_tokens": 10_000, "output_tokens": 100, "cache_read_tokens": 8_000},
    {"input_tokens": 9_000, "output_tokens": 50, "cache_write_tokens": 6_000, "cache_write_1h_tokens": 4_000},
    {"input_tokens": 500, "output_tokens": 900, "reasoning_tokens": 700},
)


def _genai_prices_bill(price: CustomPrice, usage: dict[str, int]) -> float:
    """genai-prices' own rule on a ModelPrice built from the custom price (fallbacks spelled out)."""
    model_price = ModelPrice(
        input_mtok=Decimal(str(price.input_mtok)),
        output_mtok=Decimal(str(price.output_mtok)),
        cache_read_mtok=Decimal(str(price.cache_read_mtok if price.cache_read_mtok is not None else price.input_mtok)),
        cache_write_mtok=Decimal(str(price.cache_write_mtok or price.input_mtok)),
        cache_write_1h_mtok=Decimal(str(price.cache_write_1h_mtok or price.cache_write_mtok or price.input_mtok)),
        output_reasoning_mtok=Decimal(str(price.reasoning_mtok or price.output_mtok)),
    )
    gp = {("output_reasoning_tokens" if k == "reasoning_tokens" else k): v for k, v in usage.items()}
    return float(model_price.calc_price(Usage(**gp))["total_price"])


def _acme_rows(model: str = "acme-finetune-v3") -> list[dict]:
    return [
        {"ts": T0_NS + i * MIN, "component": "answer", "total_ms": 900.0, "model": model, "provider": "self-hosted",
         "cost_usd": None, "trace_id": f"t{i}", "span_id": f"s{i}", **USAGES[i % len(USAGES)]}
        for i in range(40)
    ]  # fmt: skip


@pytest.mark.parametrize("price", [ACME, CustomPrice(input_mtok=1.5, output_mtok=3.0)])
def test_custom_prices_follow_genai_prices_rules(price: CustomPrice) -> None:
    lf = frames(_acme_rows()).lazy()
    got = pricing.read_time_priced(lf, {"acme-finetune-v3": price}).collect()["cost_usd"].to_list()
    expected = [_genai_prices_bill(price, USAGES[i % len(USAGES)]) for i in range(40)]
    assert got == pytest.approx(expected, rel=1e-12)


def test_read_time_prices_fill_only_unpriced_frames_of_priced_models() -> None:
    rows = _acme_rows()
    rows[0] = rows[0] | {"cost_usd": 0.123}  # a stored cost is kept
    rows[1] = rows[1] | {"input_tokens": 100, "cache_read_tokens": 500}  # contradictory tokens: stays unpriced
    rows += [{"ts": T0_NS, "component": "other", "total_ms": 1.0, "model": "unknown-llm", "input_tokens": 10,
              "output_tokens": 1}, {"ts": T0_NS, "component": "tool", "total_ms": 1.0}]  # fmt: skip
    out = pricing.read_time_priced(frames(rows).lazy(), {"acme-finetune-v3": ACME}).collect()["cost_usd"]
    assert out[0] == 0.123 and out[1] is None and out[2] > 0
    assert out[-2] is None and out[-1] is None  # unpriced stays null, never $0


def test_report_and_detail_price_unpriced_frames_from_the_config_at_read_time() -> None:
    rows = _acme_rows()
    unpriced = to_builtins(build_report(frames(rows)))
    assert unpriced["summary"]["unpriced_llm_calls"] == 40 and unpriced["summary"]["total_cost_usd"] == 0.0
    (model_row,) = unpriced["models"]
    assert model_row["cost_usd"] is None

    th = Thresholds(prices={"acme-finetune-v3": ACME})
    report = to_builtins(build_report(frames(rows), thresholds=th))
    expected = sum(_genai_prices_bill(ACME, USAGES[i % len(USAGES)]) for i in range(40))
    assert report["summary"]["total_cost_usd"] == pytest.approx(expected, rel=1e-9)
    assert report["summary"]["unpriced_llm_calls"] == 0
    (model_row,) = report["models"]
    assert model_row["cost_usd"] == pytest.approx(expected, rel=1e-9) and model_row["unpriced_calls"] == 0
    assert report["thresholds"]["prices"]["acme-finetune-v3"]["input_mtok"] == 2.0
    assert sum(p["cost_usd"] for p in report["cost_series"]) == pytest.approx(expected, rel=1e-9)

    detail = component_detail(frames(rows), "answer", thresholds=th)
    assert detail.summary.cost_usd == pytest.approx(expected, rel=1e-9)
    assert sum(m.cost_usd for m in detail.models) == pytest.approx(expected, rel=1e-9)
    assert sum(t.cost_usd for t in detail.slowest_traces) > 0
    (span,) = span_tree(frames(rows), "t2", prices=th.prices)  # the trace screen
    assert span.cost_usd == pytest.approx(_genai_prices_bill(ACME, USAGES[2]), rel=1e-12)
    assert span_tree(frames(rows), "t2")[0].cost_usd is None


def test_invalid_custom_prices_are_refused() -> None:
    with pytest.raises(ValueError, match=r"prices\['x'\].output_mtok"):
        Thresholds(prices={"x": CustomPrice(input_mtok=1.0, output_mtok=-1.0)})
