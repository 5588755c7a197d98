"""The real `opentelemetry-instrumentation-openai-v2` over the real `openai` SDK, against the local LLM stub
(tests/llm_stub.py), feeding SmythtopSpanProcessor: every frame is compared with the answer the stub logged.

What this instrumentation reports (2.4b0, measured here): model, response model, provider, input and output tokens,
finish reasons (not on streams), and on failure `error.type` as a class repr. It reports no cached or reasoning
tokens, no retries and no HTTP status, so those fields must be null (unknown), never 0, and the cost is
genai-prices' price of exactly the usage the span carried.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import genai_prices
import openai
import pytest
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

MESSAGES = [{"role": "user", "content": "Where is my order?"}]


@pytest.fixture
def instrumented(pipeline) -> Iterator[Any]:
    p = pipeline()
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=p.provider)
    try:
        yield p
    finally:
        instrumentor.uninstrument()


def _price(frame: dict[str, Any]) -> float:
    usage = genai_prices.Usage(input_tokens=frame["input_tokens"], output_tokens=frame["output_tokens"])
    when = datetime.fromtimestamp(frame["ts"] / 1e9, UTC)
    calc = genai_prices.calc_price(usage, frame["model"], provider_id="openai", genai_request_timestamp=when)
    return float(calc.total_price)


def _check_success(frame: dict[str, Any], served: Any) -> None:
    assert frame["component"] == f"chat {served.model}"
    assert (frame["model"], frame["response_model"], frame["provider"]) == (
        served.model, served.response_model, "openai")  # fmt: skip
    assert (frame["input_tokens"], frame["output_tokens"]) == (served.otel.input_tokens, served.otel.output_tokens)
    assert frame["cache_read_tokens"] is None  # served 600 cached tokens, but the span does not say: unknown
    assert frame["reasoning_tokens"] is None and frame["retry_count"] is None
    assert frame["operation"] == "chat" and frame["success"] is True
    assert frame["cost_usd"] == pytest.approx(_price(frame), rel=1e-12)
    assert frame["tags"]["otel.scope"].startswith("opentelemetry")


def test_calls_retries_failures_and_streams_match_the_stub(instrumented, llm_stub) -> None:
    client = openai.OpenAI(base_url=llm_stub.openai_url, api_key="test", max_retries=3)
    client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    llm_stub.fail(429, 503)
    client.chat.completions.create(model="gpt-4.1-mini", messages=MESSAGES)  # two retries, then an answer
    llm_stub.fail(500, 500, 500, 500)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4.1", messages=MESSAGES)
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    for _chunk in stream:
        pass

    frames = instrumented.frames()
    served = llm_stub.by_input()
    ok = [f for f in frames if f["success"]]
    assert len(ok) == 3 == len(served)
    for frame in ok:
        _check_success(frame, served[frame["input_tokens"]])
    by_model = {f["model"]: f for f in ok}
    assert by_model["gpt-4.1"]["finish_reason"] == "stop"
    assert by_model["gpt-4o-mini"]["finish_reason"] is None  # not reported on streams by this instrumentation

    (failed,) = [f for f in frames if not f["success"]]
    assert (failed["model"], failed["provider"], failed["error_type"]) == ("gpt-4.1", "openai", "InternalServerError")
    assert failed["input_tokens"] is None and failed["cost_usd"] is None
    assert [s.status for s in llm_stub.log()].count(500) == 4  # the SDK's own retries are inside the one span
    assert instrumented.processor.stats()["errors"] == 0


def test_threads_and_asyncio(instrumented, llm_stub) -> None:
    """Concurrent calls from threads and from asyncio tasks: one frame each, matched to its own answer."""
    client = openai.OpenAI(base_url=llm_stub.openai_url, api_key="test")
    threads = [
        threading.Thread(target=client.chat.completions.create, kwargs={"model": "gpt-4.1", "messages": MESSAGES})
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)

    async def main() -> None:
        aclient = openai.AsyncOpenAI(base_url=llm_stub.openai_url, api_key="test")
        async with aclient:
            await asyncio.gather(
                *(aclient.chat.completions.create(model="gpt-4.1-mini", messages=MESSAGES) for _ in range(6))
            )

    asyncio.run(main())
    frames = instrumented.frames()
    served = llm_stub.by_input()
    assert len(frames) == 12 == len(served)
    assert len({f["input_tokens"] for f in frames}) == 12
    for frame in frames:
        _check_success(frame, served[frame["input_tokens"]])
    assert sorted(f["model"] for f in frames) == ["gpt-4.1"] * 6 + ["gpt-4.1-mini"] * 6
    assert len({f["trace_id"] for f in frames}) == 12  # twelve separate root spans
