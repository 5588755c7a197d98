"""Cost and context window from genai-prices, in the flush thread only.

genai-prices takes about 0.2 s to import and about 70 us per price, so agents never pay for it on
their own threads: the flush thread imports it on the first frame that needs it. A model is looked up
once per (provider, model) with the public `calc_price`; later prices call the cached `ModelInfo`'s
own `calc_price`, at the frame's timestamp (prices can depend on the date and time of day).

Token semantics match: genai-prices' `input_tokens` includes cache reads and writes, like OTel's, so
frames pass straight through without double counting cached tokens.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("smythtop.recorder")

_MISSING = object()


class Pricer:
    """Fills cost_usd, context_window and context_utilization of LLM frames; counts what it cannot."""

    def __init__(self) -> None:
        self._models: dict[tuple[str | None, str], Any] = {}  # -> (ModelInfo, Provider) or None if unknown
        self._gp: Any = None
        self.priced = 0
        self.unpriced = 0  # unknown model or provider: cost_usd stays null, never 0
        self.errors = 0  # known model, but usage it could not price
        self.unknown_models: set[tuple[str | None, str]] = set()

    def _genai_prices(self) -> Any:
        if self._gp is None:
            import genai_prices

            self._gp = genai_prices
        return self._gp

    def model_info(self, model: str, provider: str | None, usage: Any) -> Any:
        """(ModelInfo, Provider) for a model, or None when genai-prices does not know it."""
        key = (provider, model)
        found = self._models.get(key, _MISSING)
        if found is not _MISSING:
            return found
        gp = self._genai_prices()
        found = None
        for provider_id in (provider, None) if provider else (None,):
            try:
                calc = gp.calc_price(usage, model, provider_id=provider_id)
            except LookupError:
                continue  # an unknown provider id may still name a model genai-prices can place
            except (ValueError, TypeError, ArithmeticError) as exc:
                self.errors += 1
                raise PricingError(f"genai-prices cannot price {model}: {exc}") from None
            found = (calc.model, calc.provider)
            break
        self._models[key] = found
        if found is None:
            self.unknown_models.add(key)
        return found

    def price(self, frame: dict[str, Any], *, track_costs: bool = True) -> None:
        """Price one frame in place. Leaves cost_usd None (and counts) when it cannot be priced."""
        model = frame.get("model")
        input_tokens = frame.get("input_tokens")
        output_tokens = frame.get("output_tokens")
        if not isinstance(model, str) or (input_tokens is None and output_tokens is None):
            return
        if frame.get("cost_usd") is not None and frame.get("context_window") is not None:
            return
        cache_read = frame.get("cache_read_tokens") or 0
        cache_write = frame.get("cache_write_tokens") or 0
        if input_tokens is not None and input_tokens < cache_read + cache_write:
            self.errors += 1
            raise PricingError(
                "input_tokens must include cache_read_tokens and cache_write_tokens (OpenTelemetry semantics; "
                "Anthropic reports them apart, so add them, or use t.llm_response())"
            )
        usage = self._usage(frame)
        found = self.model_info(model, frame.get("provider"), usage)
        if found is None:
            self.unpriced += 1
            return
        info, provider = found
        if frame.get("context_window") is None and info.context_window:
            frame["context_window"] = info.context_window
        window = frame.get("context_window")
        if window and input_tokens is not None and frame.get("context_utilization") is None:
            utilization = input_tokens / window
            if utilization <= 1.0:  # above 1 the listed window is out of date: leave it unknown
                frame["context_utilization"] = utilization
        if not track_costs or frame.get("cost_usd") is not None:
            return
        when = datetime.fromtimestamp(frame["ts"] / 1e9, UTC)
        try:
            calc = info.calc_price(usage, provider, genai_request_timestamp=when)
        except (ValueError, TypeError, ArithmeticError) as exc:
            self.errors += 1
            raise PricingError(f"genai-prices cannot price {model}: {exc}") from None
        frame["cost_usd"] = float(calc.total_price)
        self.priced += 1

    def _usage(self, frame: dict[str, Any]) -> Any:
        values = {
            "input_tokens": frame.get("input_tokens"),
            "output_tokens": frame.get("output_tokens"),
            "cache_read_tokens": frame.get("cache_read_tokens"),
            "cache_write_tokens": frame.get("cache_write_tokens"),
            "cache_write_1h_tokens": frame.get("cache_write_1h_tokens"),
            "output_reasoning_tokens": frame.get("reasoning_tokens"),
        }
        return self._genai_prices().Usage(**{k: v for k, v in values.items() if v})


class PricingError(ValueError):
    """A frame whose usage cannot be priced; it is still written, with cost_usd null."""
