"""genai-prices lookups for recommendations: what a token mix costs on a model, and which cheaper sibling
models of the same provider exist.

genai-prices resolves a model reference with pydantic-backed match rules (~100 us a call), so results are
cached per (model, provider, usage); the analysis prices a handful of mean calls, never each frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

# Tier words, largest first. A cheaper sibling swaps a tier word for a later one in the same ladder
# ("claude-sonnet-4-5" -> "claude-haiku-4-5", "gemini-2.5-pro" -> "gemini-2.5-flash"), or adds/moves the
# OpenAI size suffix ("gpt-4.1" -> "gpt-4.1-mini" -> "gpt-4.1-nano"). genai-prices decides which exist.
_LADDERS = (("opus", "sonnet", "haiku"), ("pro", "flash", "flash-lite"), ("large", "medium", "small"))
_SIZE_SUFFIXES = ("", "-mini", "-nano")


@dataclass(frozen=True)
class Usage:
    """A mean call's tokens (OTel semantics: input includes cache reads/writes; output includes reasoning)."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(frozen=True)
class ModelRef:
    provider: str
    model: str
    context_window: int | None


@lru_cache(maxsize=512)
def resolve(model: str, provider: str | None) -> ModelRef | None:
    """The provider and model genai-prices knows this reference as, or None."""
    from genai_prices import data_snapshot

    try:
        prov, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider or None, None)
    except LookupError:
        return None
    return ModelRef(prov.id, info.id, info.context_window)


@lru_cache(maxsize=4096)
def price(model: str, provider: str | None, usage: Usage) -> float | None:
    """USD for one call with this usage, or None when genai-prices cannot price it."""
    from genai_prices import Usage as GPUsage
    from genai_prices import calc_price

    ref = resolve(model, provider)
    if ref is None:
        return None
    gp_usage = GPUsage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens or None,
        cache_write_tokens=usage.cache_write_tokens or None,
    )
    try:
        result = calc_price(gp_usage, ref.model, provider_id=ref.provider)
    except (LookupError, ValueError):
        return None
    return float(result.total_price)


@lru_cache(maxsize=512)
def cache_prices(model: str, provider: str | None) -> tuple[Decimal | None, Decimal | None]:
    """($/MTok cache read, $/MTok cache write) as genai-prices lists them now; None where not offered."""
    from datetime import UTC, datetime

    from genai_prices import data_snapshot

    ref = resolve(model, provider)
    if ref is None:
        return None, None
    _, info = data_snapshot.get_snapshot().find_provider_model(ref.model, None, ref.provider, None)
    prices = info.get_prices(datetime.now(UTC))

    def flat(value: object) -> Decimal | None:
        return getattr(value, "base", value) if value is not None else None  # TieredPrices -> its base price

    return flat(prices.cache_read_mtok), flat(prices.cache_write_mtok)


def _candidates(model: str) -> list[str]:
    name = model.lower()
    out: list[str] = []
    for ladder in _LADDERS:
        for i, word in enumerate(ladder):
            pattern = re.compile(rf"(?<![a-z]){re.escape(word)}(?![a-z-]*lite)(?![a-z])")
            if pattern.search(name):
                out += [pattern.sub(smaller, name, count=1) for smaller in ladder[i + 1 :]]
                break
    size = re.search(r"-(mini|nano)(?=$|-)", name)
    current = f"-{size.group(1)}" if size else ""
    base = name[: size.start()] if size else name
    out += [base + suffix for suffix in _SIZE_SUFFIXES[_SIZE_SUFFIXES.index(current) + 1 :]]
    return [c for c in dict.fromkeys(out) if c != name]


def cheaper_siblings(model: str, provider: str | None) -> list[ModelRef]:
    """Smaller models of the same provider that genai-prices knows, by tier word or size suffix."""
    own = resolve(model, provider)
    if own is None:
        return []
    found: dict[str, ModelRef] = {}
    for cand in _candidates(model):
        ref = resolve(cand, own.provider)
        if ref is not None and ref.provider == own.provider and ref.model != own.model:
            found.setdefault(ref.model, ref)
    return list(found.values())
