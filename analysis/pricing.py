"""Prices for the analysis: genai-prices for what a token mix costs on a model and which cheaper models of the
same provider exist (the model_downgrade candidates), and the config's custom prices for frames stored without
a cost (priced when they are read, so a price added later re-prices history).

genai-prices resolves a model reference with pydantic-backed match rules (~150 us a call), so results are
cached per (model, provider, usage); the analysis prices a handful of mean calls, never each frame.

Its public API (`calc_price`, `Usage`, the `PriceCalculation` it returns) prices a call and names the model
and provider it matched; it has no way to list a provider's models. `catalogue` is the one function that
reads the bundled snapshot (`data_snapshot.get_snapshot().providers`) for that; tests/analysis/test_analysis_pricing.py
fails loudly if an upgrade of genai-prices moves it.

Candidates are ranked by a model id's family and generation, read from the id because genai-prices has no
such fields: the family is the id's words before its version with tier words dropped ("claude-sonnet-4-5" and
"claude-haiku-4-5" are both "claude", "o3" is "o", "gpt-oss-120b" is "gpt-oss"); the generation is the
version number ("claude-3-5-haiku" 3.5, "gpt-4.1-nano" 4.1, "gpt-4o" 4).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

import polars as pl
from smythtop.analysis.thresholds import CustomPrice

MTOK = 1_000_000
# Ids of models that do something other than chat or text completion (embeddings, speech, images, search,
# agents with tools), and ids that are not a stable model to switch to (previews, experiments, moving
# "latest" aliases, fine-tunes): never offered as a cheaper model.
_NOT_A_CANDIDATE = re.compile(
    r"embed|tts|whisper|transcri|audio|realtime|live|image|dall-e|moderation|search|computer-use|research|codex"
    r"|robotics|cyber|rosalind|vision|instruct|translate|preview|-exp\b|latest|(?:^|[:.])ft[:-]"
)
# Words that name a size or tier inside a family, not the family: dropped when reading the family from an id.
_TIER_WORDS = frozenset(
    ("opus", "sonnet", "haiku", "fable", "mythos", "pro", "flash", "lite", "mini", "nano", "turbo", "chat", "it")
)
# The first version number: 1-2 digits not followed by a size unit ("20b", "8b" are sizes; 8 digits a date),
# optionally a one-digit minor after "." or "-" ("claude-3-5-haiku-20241022" -> 3.5).
_VERSION = re.compile(r"(?<![\d.])(\d{1,2})(?!\d)(?![bkm](?:-|$))(?:[.-](\d)(?!\d)(?![bkm](?:-|$)))?")


@dataclass(frozen=True)
class Usage:
    """A mean call's tokens (OTel semantics: input includes cache reads and writes, output includes
    reasoning)."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True)
class ModelRef:
    provider: str
    model: str
    context_window: int | None
    deprecated: bool = False


@dataclass(frozen=True)
class Candidate:
    """A cheaper model for a mean call, with its price and how it ranks (`rank_key`: lower is better)."""

    ref: ModelRef
    cost: float
    rank_key: tuple[bool, bool, float, float]


def _gp_usage(usage: Usage) -> Any:
    from genai_prices import Usage as GPUsage

    values = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "output_reasoning_tokens": usage.reasoning_tokens,
    }
    return GPUsage(**{k: v for k, v in values.items() if v})


def _calc(usage: Usage, model: str, provider: str | None) -> Any:
    """genai-prices' PriceCalculation, or None when it does not know the model or cannot price the usage."""
    from genai_prices import calc_price

    try:
        return calc_price(_gp_usage(usage), model, provider_id=provider or None)
    except (LookupError, ValueError, ArithmeticError):
        return None


@lru_cache(maxsize=1024)
def resolve(model: str, provider: str | None) -> ModelRef | None:
    """The provider and model genai-prices knows this reference as, or None."""
    calc = _calc(Usage(0, 0), model, provider)
    if calc is None:
        return None
    return ModelRef(calc.provider.id, calc.model.id, calc.model.context_window, bool(calc.model.deprecated))


@lru_cache(maxsize=8192)
def price(model: str, provider: str | None, usage: Usage) -> float | None:
    """USD for one call with this usage (tier prices chosen by this call's own input), or None when
    genai-prices cannot price it."""
    calc = _calc(usage, model, provider)
    return float(calc.total_price) if calc is not None else None


@lru_cache(maxsize=512)
def cache_prices(model: str, provider: str | None) -> tuple[Decimal | None, Decimal | None]:
    """($/MTok cache read, $/MTok cache write) as genai-prices lists them now; None where not offered."""
    calc = _calc(Usage(0, 0), model, provider)
    if calc is None:
        return None, None

    def flat(value: object) -> Decimal | None:
        return getattr(value, "base", value) if value is not None else None  # TieredPrices -> its base price

    return flat(calc.model_price.cache_read_mtok), flat(calc.model_price.cache_write_mtok)


@lru_cache(maxsize=64)
def catalogue(provider: str) -> tuple[ModelRef, ...]:
    """Every model genai-prices lists for a provider id (empty for an unknown id). The one read of genai-prices'
    internals: its public API prices a named model but cannot list models."""
    from genai_prices import data_snapshot

    for p in data_snapshot.get_snapshot().providers:
        if p.id == provider:
            return tuple(ModelRef(p.id, m.id, m.context_window, bool(m.deprecated)) for m in p.models)
    return ()


def family(model: str) -> str:
    """The model family an id names ("claude", "gpt", "o", "gemini", "gpt-oss")."""
    words: list[str] = []
    for word in model.lower().split("/")[-1].split("-"):
        if any(ch.isdigit() for ch in word):
            if not words:
                words.append(re.match(r"[a-z]*", word).group(0))  # type: ignore[union-attr]
            break
        if word not in _TIER_WORDS:
            words.append(word)
    return "-".join(w for w in words if w) or model.lower()


def generation(model: str) -> float:
    """The version an id names (3.5 for "claude-3-5-haiku"), 0 when it names none."""
    match = _VERSION.search(model.lower())
    if match is None:
        return 0.0
    return float(f"{match.group(1)}.{match.group(2) or 0}")


def is_candidate(ref: ModelRef) -> bool:
    """A stable chat model to switch to: current, not specialised, with a known context window."""
    return not ref.deprecated and ref.context_window is not None and not _NOT_A_CANDIDATE.search(ref.model)


_OUTPUT_ONLY = Usage(0, MTOK)  # a call that only writes: priced above $0 by every chat model


def cheaper_models(
    model: str, provider: str | None, usage: Usage, max_input: int, min_saving: float
) -> list[Candidate]:
    """Models of the same provider that cost at least `min_saving` (a share) less than `model` on this mean call
    and whose context window holds `max_input` tokens, best first: the same family, then generations not older
    than the current model's, then the newest generation, then the largest saving."""
    own = resolve(model, provider)
    current = price(model, provider, usage)
    if own is None or not current:
        return []
    own_family, own_generation = family(own.model), generation(own.model)
    found = []
    for ref in catalogue(own.provider):
        if ref.model == own.model or not is_candidate(ref) or (ref.context_window or 0) < max_input:
            continue
        if resolve(ref.model, ref.provider) != ref:  # an id that matches another model's rule is not this model
            continue
        cost = price(ref.model, ref.provider, usage)
        if cost is None or cost > current * (1 - min_saving) or not price(ref.model, ref.provider, _OUTPUT_ONLY):
            continue  # not cheaper enough, or no output price (not a chat model: free would be a wrong answer)
        gen = generation(ref.model)
        key = (family(ref.model) != own_family, gen < own_generation, -gen, cost)
        found.append(Candidate(ref, cost, key))
    return sorted(found, key=lambda c: (c.rank_key, c.ref.model))


# ---- custom prices, applied when frames are read -------------------------------------------------------------


def _tokens(name: str) -> pl.Expr:
    return pl.col(name).fill_null(0).cast(pl.Float64)


_RATES = ("input", "output", "cache_read", "cache_write", "cache_write_1h", "reasoning")
_PRICE = "_custom_price"  # a temporary struct column: the frame's model's six rates


def rates(price: CustomPrice) -> dict[str, float]:
    """The six USD/MTok rates of a custom price, each missing one replaced by the rate of the tokens it covers."""
    cache_write = price.cache_write_mtok if price.cache_write_mtok is not None else price.input_mtok
    return {
        "input": price.input_mtok,
        "output": price.output_mtok,
        "cache_read": price.cache_read_mtok if price.cache_read_mtok is not None else price.input_mtok,
        "cache_write": cache_write,
        "cache_write_1h": price.cache_write_1h_mtok if price.cache_write_1h_mtok is not None else cache_write,
        "reasoning": price.reasoning_mtok if price.reasoning_mtok is not None else price.output_mtok,
    }


def read_time_priced(frames: pl.LazyFrame, prices: Mapping[str, CustomPrice]) -> pl.LazyFrame:
    """Frames whose null `cost_usd` is filled from `prices` where their model has one (and tokens). Frames with a
    stored cost keep it; a model without a price stays null (unpriced), never $0. So does a frame whose tokens
    contradict each other (cached input above input, reasoning above output, 1-hour writes above writes).

    The rule is genai-prices' (input includes cache reads and writes, which are charged at their own prices;
    output includes reasoning), written as polars expressions because calling genai-prices' own
    `ModelPrice.calc_price` per frame costs ~100 us, minutes on a large store; tests check the two agree. The
    model's rates are looked up once per frame as one struct (one string hash per frame, not six)."""
    if not prices:
        return frames
    table = pl.Series([rates(p) for p in prices.values()], dtype=pl.Struct({r: pl.Float64 for r in _RATES}))
    rate = {r: pl.col(_PRICE).struct.field(r) for r in _RATES}
    cr, cw, cw1h = _tokens("cache_read_tokens"), _tokens("cache_write_tokens"), _tokens("cache_write_1h_tokens")
    tin, tout, rs = _tokens("input_tokens"), _tokens("output_tokens"), _tokens("reasoning_tokens")
    usd = (
        (tin - cr - cw) * rate["input"]
        + cr * rate["cache_read"]
        + (cw - cw1h) * rate["cache_write"]
        + cw1h * rate["cache_write_1h"]
        + (tout - rs) * rate["output"]
        + rs * rate["reasoning"]
    ) / MTOK
    wanted = (
        pl.col("cost_usd").is_null()
        & (pl.col("input_tokens").is_not_null() | pl.col("output_tokens").is_not_null())
        & (tin >= cr + cw)
        & (tout >= rs)
        & (cw >= cw1h)
    )
    return (
        frames.with_columns(pl.col("model").replace_strict(list(prices), table, default=None).alias(_PRICE))
        .with_columns(cost_usd=pl.when(wanted).then(usd).otherwise(pl.col("cost_usd")))
        .drop(_PRICE)
    )
