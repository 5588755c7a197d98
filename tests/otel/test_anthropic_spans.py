"""The real `anthropic` SDK's own OpenTelemetry spans (scope com.anthropic.sdk.python, given our TracerProvider
through the client's `open_telemetry` option) against the local LLM stub, feeding SmythtopSpanProcessor. These
spans carry cache reads and writes (one-hour writes too), retries, TTFT on streams and the HTTP status of a failed
call, so every one of those fields is compared with the stub's log, and the cost with genai-prices' `calc_price`
on the usage the stub served."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import anthropic
import genai_prices
import pytest
from llm_stub import Usage

MESSAGES = [{"role": "user", "content": "Summarise the ticket."}]
USAGE = Usage(input_tokens=5000, output_tokens=300, cache_read_tokens=3000, cache_write_tokens=1000,
              cache_write_1h_tokens=400)  # fmt: skip


def _price(served: Any, when_ns: int) -> float:
    u = served.otel
    usage = genai_prices.Usage(
        input_tokens=u.input_tokens,
        output_tokens=u.output_tokens,
        cache_read_tokens=u.cache_read_tokens,
        cache_write_tokens=u.cache_write_tokens,
        cache_write_1h_tokens=u.cache_write_1h_tokens,
    )
    when = datetime.fromtimestamp(when_ns / 1e9, UTC)
    return float(
        genai_prices.calc_price(usage, served.model, provider_id="anthropic", genai_request_timestamp=when).total_price
    )


def test_calls_retries_streams_and_failures_match_the_stub(pipeline, llm_stub) -> None:
    llm_stub.usage = USAGE
    p = pipeline()
    client = anthropic.Anthropic(
        base_url=llm_stub.anthropic_url, api_key="test", max_retries=3, open_telemetry={"tracer_provider": p.provider}
    )
    client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES)
    llm_stub.fail(429, 529)
    client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES)
    with client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=MESSAGES) as stream:
        for _event in stream:
            pass
    llm_stub.fail(500, 500, 500, 500)
    with pytest.raises(anthropic.InternalServerError):
        client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES)

    async def in_tasks() -> None:
        aclient = anthropic.AsyncAnthropic(
            base_url=llm_stub.anthropic_url, api_key="test", open_telemetry={"tracer_provider": p.provider}
        )
        async with aclient:
            await asyncio.gather(
                *(aclient.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=MESSAGES) for _ in range(3))
            )

    asyncio.run(in_tasks())

    frames = p.frames()
    served = llm_stub.by_input()
    ok = [f for f in frames if f["success"]]
    assert len(ok) == 6 == len(served)
    statuses = [s.status for s in llm_stub.log()]
    for frame in ok:
        s = served[frame["input_tokens"]]
        assert (frame["model"], frame["response_model"], frame["provider"], frame["operation"]) == (
            s.model, s.response_model, "anthropic", "chat")  # fmt: skip
        got = (frame["input_tokens"], frame["output_tokens"], frame["cache_read_tokens"], frame["cache_write_tokens"],
               frame["cache_write_1h_tokens"])  # fmt: skip
        assert got == (s.otel.input_tokens, s.otel.output_tokens, 3000, 1000, 400)
        assert frame["finish_reason"] == s.finish_reason == "end_turn"
        assert frame["cost_usd"] == pytest.approx(_price(s, frame["ts"]), rel=1e-12)
        assert (frame["ttft_ms"] is not None) == s.stream
        assert frame["http_status"] is None and frame["tags"]["otel.scope"] == "com.anthropic.sdk.python"
    retried = [f for f in ok if f["retry_count"]]
    assert len(retried) == 1 and retried[0]["retry_count"] == 2 == statuses.count(429) + statuses.count(529)
    assert sum(f["retry_count"] is None for f in ok) == 5  # no retry: the SDK leaves resend_count out

    (failed,) = [f for f in frames if not f["success"]]
    assert (failed["model"], failed["provider"], failed["http_status"], failed["retry_count"]) == (
        "claude-sonnet-4-5", "anthropic", 500, 3)  # fmt: skip
    assert failed["error_type"] == "api_error" and failed["input_tokens"] is None and failed["cost_usd"] is None
    assert statuses.count(500) == 4
