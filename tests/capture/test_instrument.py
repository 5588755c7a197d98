"""smythtop.instrument() with the real openai and anthropic SDKs against the local stub: frame by frame against
what the stub logged as served (models, tokens, cost, retries, TTFT, failures, parents)."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import genai_prices
import openai
import pytest
from llm_stub import LLMStub, Served, Usage

import smythtop
from smythtop.capture import Instrumentation
from smythtop.recorder import Collector

MSG = [{"role": "user", "content": "hi"}]
Frames = Callable[[], list[dict[str, Any]]]


def oa(stub: LLMStub, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=stub.openai_url, api_key="x", **kw)


def an(stub: LLMStub, **kw: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=stub.anthropic_url, api_key="x", **kw)


def llm_frames(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["operation"] == "chat"]


def expected_cost(served: Served, model: str, provider: str) -> float:
    u = served.otel
    assert u is not None
    usage = genai_prices.Usage(
        input_tokens=u.input_tokens,
        output_tokens=u.output_tokens,
        cache_read_tokens=u.cache_read_tokens or None,
        cache_write_tokens=u.cache_write_tokens or None,
        cache_write_1h_tokens=u.cache_write_1h_tokens or None,
        output_reasoning_tokens=u.reasoning_tokens or None,
    )
    return float(genai_prices.calc_price(usage, model, provider_id=provider).total_price)


def check_against_served(frame: dict[str, Any], served: Served, provider: str) -> None:
    """A successful frame holds exactly what the stub served, in OTel terms, priced by genai-prices."""
    u = served.otel
    assert u is not None
    assert frame["model"] == served.model and frame["response_model"] == served.response_model
    assert frame["provider"] == provider and frame["success"] is True
    assert frame["input_tokens"] == u.input_tokens and frame["output_tokens"] == u.output_tokens
    assert frame["cache_read_tokens"] == (u.cache_read_tokens or None)
    assert frame["cache_write_tokens"] == (u.cache_write_tokens or None)
    assert frame["cache_write_1h_tokens"] == (u.cache_write_1h_tokens or None)
    assert frame["reasoning_tokens"] == (u.reasoning_tokens or None)
    assert frame["finish_reason"] == served.finish_reason
    assert frame["cost_usd"] == pytest.approx(expected_cost(served, served.model or "", provider), rel=1e-9)
    assert frame["component"] == f"chat {served.model}"
    assert (frame["ttft_ms"] is not None) == served.stream
    if frame["ttft_ms"] is not None:
        assert 0 < frame["ttft_ms"] <= frame["total_ms"]


def test_openai_chat_and_responses_match_what_was_served(
    llm_stub: LLMStub, collector: Collector, inst: Instrumentation, frames: Frames
) -> None:
    llm_stub.usage = Usage(input_tokens=2000, output_tokens=300, cache_read_tokens=1200, reasoning_tokens=64)
    client = oa(llm_stub, max_retries=4)
    with collector.track("agent") as agent:
        llm_stub.fail(429, 503)
        done = client.chat.completions.create(model="gpt-4.1", messages=MSG)
        streamed = list(
            client.chat.completions.create(
                model="gpt-4.1", messages=MSG, stream=True, stream_options={"include_usage": True}
            )
        )
        resp = client.responses.create(model="gpt-4.1-mini", input="hi")
        with client.responses.stream(model="gpt-4.1-mini", input="hi") as s:
            final = s.get_final_response()
    # the SDK's own results pass through unchanged
    assert done.choices[0].message.content == "Hello from the stub." and streamed[-1].usage is not None
    assert resp.output_text == final.output_text == "Hello from the stub."

    rows = frames()
    calls = llm_frames(rows)
    served = llm_stub.by_input()
    assert len(calls) == 4 == len(served)
    agent_row = next(r for r in rows if r["component"] == "agent")
    for frame in calls:
        check_against_served(frame, served[frame["input_tokens"]], "openai")
        assert frame["parent_span_id"] == agent_row["span_id"] == agent.span_id
        assert frame["trace_id"] == agent_row["trace_id"]
    assert [f["retry_count"] for f in calls] == [2, 0, 0, 0]  # the stub failed the first call twice
    assert [f["tags"]["api"] for f in calls] == ["chat.completions", "chat.completions", "responses", "responses"]


def test_anthropic_messages_convert_input_to_include_the_cache(
    llm_stub: LLMStub, collector: Collector, inst: Instrumentation, frames: Frames
) -> None:
    llm_stub.usage = Usage(
        input_tokens=5000, output_tokens=400, cache_read_tokens=3000, cache_write_tokens=1000, cache_write_1h_tokens=400
    )
    client = an(llm_stub)
    with collector.track("agent"):
        msg = client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=MSG)
        raw_events = [
            e.type for e in client.messages.create(model="claude-sonnet-4-5", max_tokens=9, messages=MSG, stream=True)
        ]
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=MSG) as s:
            text = s.get_final_text()
    assert msg.usage.input_tokens == 5000 + llm_stub.log()[0].n - 4000  # the raw count excludes the cache
    assert raw_events[0] == "message_start" and raw_events[-1] == "message_stop" and text == "Hello from the stub."
    calls = llm_frames(frames())
    served = llm_stub.by_input()
    assert len(calls) == 3
    for frame in calls:
        check_against_served(frame, served[frame["input_tokens"]], "anthropic")
        assert frame["retry_count"] == 0
    # the one-hour writes are priced above the five-minute ones: leaving them out would under-price the call
    one = calls[0]
    flat = genai_prices.Usage(input_tokens=one["input_tokens"], output_tokens=400, cache_read_tokens=3000,
                              cache_write_tokens=1000)  # fmt: skip
    assert one["cost_usd"] > float(
        genai_prices.calc_price(flat, "claude-sonnet-4-5", provider_id="anthropic").total_price
    )


def test_failures_keep_model_provider_status_and_retries(
    llm_stub: LLMStub, collector: Collector, inst: Instrumentation, frames: Frames
) -> None:
    llm_stub.fail(500, 500, 500, model="gpt-4.1")
    with pytest.raises(openai.InternalServerError):
        oa(llm_stub, max_retries=2).chat.completions.create(model="gpt-4.1", messages=MSG)
    llm_stub.fail(400, model="claude-sonnet-4-5")
    with pytest.raises(anthropic.BadRequestError):
        an(llm_stub).messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=MSG)
    dead = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="x", max_retries=1, timeout=5)
    with pytest.raises(openai.APIConnectionError):
        dead.chat.completions.create(model="gpt-4.1-nano", messages=MSG)

    by_model = {f["model"]: f for f in llm_frames(frames())}
    oa_fail, an_fail, conn = by_model["gpt-4.1"], by_model["claude-sonnet-4-5"], by_model["gpt-4.1-nano"]
    assert (oa_fail["success"], oa_fail["error_type"], oa_fail["http_status"]) == (False, "InternalServerError", 500)
    assert oa_fail["retry_count"] == 2 and oa_fail["provider"] == "openai"
    assert (an_fail["error_type"], an_fail["http_status"], an_fail["retry_count"]) == ("BadRequestError", 400, 0)
    assert an_fail["provider"] == "anthropic"
    assert (conn["error_type"], conn["http_status"], conn["retry_count"]) == ("APIConnectionError", None, 1)
    for f in (oa_fail, an_fail, conn):
        assert f["input_tokens"] is None and f["cost_usd"] is None  # unknown, never 0


def test_stream_without_include_usage_has_unknown_tokens_and_the_request_is_unchanged(
    llm_stub: LLMStub, inst: Instrumentation, frames: Frames
) -> None:
    chunks = list(oa(llm_stub).chat.completions.create(model="gpt-4.1", messages=MSG, stream=True))
    assert all(c.usage is None for c in chunks)
    assert llm_stub.log()[0].include_usage is False  # nothing added to the user's request
    (frame,) = llm_frames(frames())
    assert frame["input_tokens"] is None and frame["output_tokens"] is None and frame["cost_usd"] is None
    assert frame["tags"]["usage_missing"] == "no_include_usage"
    assert frame["ttft_ms"] is not None and frame["finish_reason"] == "stop" and frame["success"] is True


def test_streams_closed_or_dropped_half_way_are_recorded(
    llm_stub: LLMStub, inst: Instrumentation, frames: Frames
) -> None:
    client = oa(llm_stub)
    kw: dict[str, Any] = {"messages": MSG, "stream": True, "stream_options": {"include_usage": True}}
    with client.chat.completions.create(model="gpt-4.1", **kw) as closed:
        next(iter(closed))
    dropped = client.chat.completions.create(model="gpt-4.1-mini", **kw)
    for _ in zip(range(2), dropped, strict=False):
        pass
    del dropped
    never_read = client.chat.completions.create(model="gpt-4.1-nano", **kw)
    del never_read
    gc.collect()
    with an(llm_stub).messages.stream(model="claude-haiku-4-5", max_tokens=9, messages=MSG) as s:
        next(iter(s.text_stream))
    by_model = {f["model"]: f for f in llm_frames(frames())}
    assert set(by_model) == {"gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "claude-haiku-4-5"}
    for f in by_model.values():
        assert f["tags"]["stream"] == "unfinished" and f["tags"]["usage_missing"] == "stream_unfinished"
        assert f["input_tokens"] is None and f["success"] is True
        assert (f["ttft_ms"] is None) == (f["model"] == "gpt-4.1-nano")  # never read: no first event


def test_threads_and_asyncio_each_call_under_its_own_parent(
    llm_stub: LLMStub, collector: Collector, inst: Instrumentation, frames: Frames
) -> None:
    llm_stub.chunk_delay_s = 0.001  # streams overlap
    client = oa(llm_stub)
    parents: dict[str, str] = {}  # model -> span id of the track() it was called in
    lock = threading.Lock()

    def job(i: int) -> None:
        model = f"gpt-4.1-t{i}"
        with collector.track("worker") as t:
            with lock:
                parents[model] = t.span_id
            if i % 2:
                client.chat.completions.create(model=model, messages=MSG)
            else:
                for _ in client.chat.completions.create(
                    model=model, messages=MSG, stream=True, stream_options={"include_usage": True}
                ):
                    pass

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(job, range(8)))

    async def main() -> None:
        aclient = openai.AsyncOpenAI(base_url=llm_stub.openai_url, api_key="x")
        aanth = anthropic.AsyncAnthropic(base_url=llm_stub.anthropic_url, api_key="x")

        async def task(i: int) -> None:
            model = f"claude-t{i}" if i % 2 else f"gpt-4.1-a{i}"
            with collector.track("task") as t:
                parents[model] = t.span_id
                if i % 2:
                    async with aanth.messages.stream(model=model, max_tokens=9, messages=MSG) as s:
                        await s.get_final_message()
                else:
                    await aclient.chat.completions.create(model=model, messages=MSG)

        # closed in this loop: a client left open was closed by the GC inside a later test's event loop (a
        # Pilot test of the same xdist worker then failed with "Event loop is closed")
        async with aclient, aanth:
            await asyncio.gather(*(task(i) for i in range(8)))

    asyncio.run(asyncio.wait_for(main(), 60))
    calls = llm_frames(frames())
    assert len(calls) == 16
    served = llm_stub.by_input()
    for f in calls:
        assert f["parent_span_id"] == parents[f["model"]]
        s = served[f["input_tokens"]]
        assert s.model == f["model"] and (f["ttft_ms"] is not None) == s.stream


def test_instrument_twice_is_harmless_and_uninstrument_restores(
    llm_stub: LLMStub, collector: Collector, frames: Frames
) -> None:
    originals = (openai.OpenAI.request, openai.AsyncOpenAI.request, anthropic.Anthropic.request)
    h = smythtop.instrument(collector)
    try:
        assert smythtop.instrument() is h and h.sdks.keys() == {"openai", "anthropic"}
        assert openai.OpenAI.request is not originals[0]
        oa(llm_stub).chat.completions.create(model="gpt-4.1", messages=MSG)
    finally:
        h.uninstrument()
    assert (openai.OpenAI.request, openai.AsyncOpenAI.request, anthropic.Anthropic.request) == originals
    oa(llm_stub).chat.completions.create(model="gpt-4.1", messages=MSG)
    assert len(llm_frames(frames())) == 1  # one frame: the call made while instrumented
    assert smythtop.instrument(collector) is not h  # a fresh handle after uninstrument
    smythtop.instrument().uninstrument()


def test_a_capture_fault_is_counted_and_the_sdk_result_passes_through(
    llm_stub: LLMStub, inst: Instrumentation, frames: Frames, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    from smythtop.capture import apis

    def broken(resp: Any) -> str:
        raise RuntimeError("reader bug")

    monkeypatch.setitem(
        apis.APIS, "chat.completions", dataclasses.replace(apis.APIS["chat.completions"], finish=broken)
    )
    client = oa(llm_stub)
    results = [client.chat.completions.create(model="gpt-4.1", messages=MSG) for _ in range(3)]
    assert all(r.choices[0].message.content == "Hello from the stub." for r in results)
    assert inst.internal_errors == 3
    assert sum("reader bug" in r.getMessage() for r in caplog.records) == 1  # logged once
    calls = llm_frames(frames())
    assert len(calls) == 3 and all(f["retry_count"] == 0 and f["success"] for f in calls)


def test_call_name_from_the_config(llm_stub: LLMStub, root: Any, frames: Frames) -> None:
    c = Collector({"capture": {"call_name": "{provider}/{model}"}}, store=root)
    h = smythtop.instrument(c)
    try:
        an(llm_stub).messages.create(model="claude-haiku-4-5", max_tokens=9, messages=MSG)
        assert c.flush()
    finally:
        h.uninstrument()
        c.close()
    from smythtop import store

    names = store.scan(root).select("component").collect().to_series().to_list()
    assert names == ["anthropic/claude-haiku-4-5"]


def test_an_sdk_that_is_missing_or_unrecognised_is_skipped(
    collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smythtop.capture import sdks as mod

    with monkeypatch.context() as m:
        m.setitem(sys.modules, "anthropic", None)  # `import anthropic` raises ImportError: as if not installed
        h = smythtop.instrument(collector)
        assert set(h.sdks) == {"openai"} and h.internal_errors == 0
        h.uninstrument()
    strange = mod.Sdk("json", "json", (("/x", "messages"),))  # installed, but not a Stainless SDK
    monkeypatch.setattr(mod, "SDKS", (mod.SDKS[0], strange))
    h = smythtop.instrument(collector)
    try:
        assert set(h.sdks) == {"openai"} and h.internal_errors == 1
    finally:
        h.uninstrument()


def test_import_smythtop_loads_neither_sdk() -> None:
    """The SDKs are the agent's own: smythtop imports them only when instrument() runs."""
    code = (
        "import sys, smythtop, smythtop.capture; f = smythtop.instrument; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'openai', 'anthropic', 'httpx2', 'genai_prices'}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_stream_read_elsewhere_stays_the_child_of_where_it_was_called(
    llm_stub: LLMStub, collector: Collector, inst: Instrumentation, frames: Frames
) -> None:
    """The call's frame is begun, not entered: what runs while its stream is open does not nest under it."""
    kw: dict[str, Any] = {"messages": MSG, "stream": True, "stream_options": {"include_usage": True}}
    with collector.track("Caller") as caller:
        stream = oa(llm_stub).chat.completions.create(model="gpt-4.1", **kw)
    with collector.track("Reader") as reader:
        with collector.track("Tool") as tool:
            pass
        for _ in stream:
            pass
    (call,) = llm_frames(frames())
    assert call["parent_span_id"] == caller.span_id and call["input_tokens"] is not None
    assert tool.parent_span_id == reader.span_id


def test_a_model_genai_prices_does_not_know_keeps_its_tokens_unpriced(
    llm_stub: LLMStub, inst: Instrumentation, frames: Frames
) -> None:
    oa(llm_stub).chat.completions.create(model="ft:gpt-4.1:acme::x1", messages=MSG)
    (frame,) = llm_frames(frames())
    served = llm_stub.log()[0]
    assert served.otel is not None and frame["input_tokens"] == served.otel.input_tokens
    assert frame["cache_read_tokens"] == served.otel.cache_read_tokens and frame["cost_usd"] is None


def test_a_fault_while_folding_stream_events_leaves_the_stream_whole(
    llm_stub: LLMStub, inst: Instrumentation, frames: Frames, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smythtop.capture import apis

    def broken(state: Any, event: Any) -> None:
        raise KeyError("fold bug")

    monkeypatch.setitem(apis.APIS, "chat.completions", dataclasses.replace(apis.APIS["chat.completions"], event=broken))
    kw: dict[str, Any] = {"messages": MSG, "stream": True, "stream_options": {"include_usage": True}}
    chunks = list(oa(llm_stub).chat.completions.create(model="gpt-4.1", **kw))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the stub."
    assert inst.internal_errors == len(chunks)
    (frame,) = llm_frames(frames())
    assert frame["success"] is True and frame["ttft_ms"] is not None and frame["input_tokens"] is None
