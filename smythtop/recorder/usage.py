"""Token usage read from a provider's response, with genai-prices' `extract_usage`, in the flush thread.

genai-prices knows each provider's response shape and normalises it to OTel semantics: Anthropic's
`input_tokens` excludes cache reads and writes, so it adds them back, and its `cache_creation` splits the
writes into 5-minute and 1-hour ones (the 1-hour part is kept: it is billed at a higher price); Google's
output includes thinking tokens. We only map its `Usage` onto frame fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smythtop.recorder.pricing import PricingError

# Flavours tried in order when the caller does not name one: the first that fits the data wins.
FLAVOURS = ("default", "chat", "responses", "anthropic")
_USAGE_KEYS = {
    "input_tokens": "input_tokens",
    "output_tokens": "output_tokens",
    "cache_read_tokens": "cache_read_tokens",
    "cache_write_tokens": "cache_write_tokens",
    "cache_write_1h_tokens": "cache_write_1h_tokens",  # Anthropic's one-hour writes, priced above the 5-minute ones
    "output_reasoning_tokens": "reasoning_tokens",
}
_MODEL_KEYS = ("model", "modelVersion")


def response_data(response: Any) -> Mapping[str, Any]:
    """A response as a mapping: dicts as they are, SDK objects (pydantic) through model_dump()."""
    if isinstance(response, Mapping):
        return response
    dump = getattr(response, "model_dump", None)
    if callable(dump):
        return dump()
    to_dict = getattr(response, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    raise PricingError(f"cannot read usage from a {type(response).__name__}: pass a dict or an SDK response")


def usage_fields(response: Any, provider: str | None, api_flavor: str | None) -> dict[str, Any]:
    """Frame fields (model, provider, token counts) from one response."""
    import genai_prices

    data = response_data(response)
    if not provider:
        provider = _guess_provider(data)
    flavours = (api_flavor,) if api_flavor else FLAVOURS
    model = next((data[k] for k in _MODEL_KEYS if isinstance(data.get(k), str)), None)
    # Without the model keys: extract_usage looks the model up and fails for one it does not know (a fine-tuned or
    # new model), and its tokens would be lost; the Pricer prices known models and counts the others.
    anonymous = {k: v for k, v in data.items() if k not in _MODEL_KEYS}
    errors: list[str] = []
    for flavour in flavours:
        try:
            extracted = genai_prices.extract_usage(anonymous, provider_id=provider, api_flavor=flavour)
        except (ValueError, LookupError, TypeError, KeyError) as exc:
            errors.append(f"{flavour}: {exc}")
            continue
        fields: dict[str, Any] = {"provider": provider}
        if model is not None:
            fields["model"] = model
        usage = extracted.usage
        for key, field in _USAGE_KEYS.items():
            value = usage.reported_value(key)
            if value or key in ("input_tokens", "output_tokens"):
                fields[field] = int(value)
        return fields
    raise PricingError(f"no usage found in the {provider} response ({'; '.join(errors)[:300]})")


def _guess_provider(data: Mapping[str, Any]) -> str:
    """Which provider's shape this is, from the keys only Google or Anthropic use."""
    if "usageMetadata" in data:
        return "google"
    usage = data.get("usage")
    if isinstance(usage, Mapping) and ("cache_creation_input_tokens" in usage or data.get("type") == "message"):
        return "anthropic"
    if isinstance(data.get("model"), str) and data["model"].startswith("claude"):
        return "anthropic"
    return "openai"
