"""SmythtopSpanProcessor with the real OpenTelemetry SDK: spans made by a real tracer, frames read back from the
store and compared with what the spans said (known answers), costs with genai-prices' own `calc_price`."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import genai_prices
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

from smythtop import store
from smythtop.otel import SmythtopSpanProcessor

REPO = Path(__file__).resolve().parents[2]
CLAUDE = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.response.model": "claude-sonnet-4-5-20250929",
    "gen_ai.usage.input_tokens": 5200,
    "gen_ai.usage.output_tokens": 410,
    "gen_ai.usage.cache_read.input_tokens": 4000,
    "gen_ai.usage.cache_write.input_tokens": 1000,
    "gen_ai.response.finish_reasons": ("end_turn",),
    "http.request.resend_count": 1,
}


def _hex(n: int, width: int) -> str:
    return f"{n:0{width}x}"


def test_an_agent_trace_becomes_a_frame_tree(pipeline) -> None:
    p = pipeline()
    tracer = p.tracer("opentelemetry.instrumentation.demo")
    with tracer.start_as_current_span("invoke_agent Triage", attributes={"gen_ai.operation.name": "invoke_agent"}):
        with tracer.start_as_current_span("chat claude-sonnet-4-5", attributes=CLAUDE) as chat:
            pass
        http_tracer = p.tracer("opentelemetry.instrumentation.httpx")
        with (
            tracer.start_as_current_span("execute_tool lookup_order", attributes={"gen_ai.tool.name": "x"}),
            http_tracer.start_as_current_span("GET") as http,
        ):
            http.set_attribute("http.response.status_code", 200)
        with pytest.raises(RuntimeError), tracer.start_as_current_span("chat gpt-4.1") as failed:
            failed.set_attribute("gen_ai.request.model", "gpt-4.1")
            failed.set_attribute("gen_ai.provider.name", "openai")
            failed.set_attribute("http.response.status_code", 503)
            raise RuntimeError("upstream down")
    frames = {f["component"]: f for f in p.frames()}
    assert set(frames) == {"invoke_agent Triage", "chat claude-sonnet-4-5", "execute_tool lookup_order", "GET",
                           "chat gpt-4.1"}  # fmt: skip
    agent, tool = frames["invoke_agent Triage"], frames["execute_tool lookup_order"]
    llm, get, bad = frames["chat claude-sonnet-4-5"], frames["GET"], frames["chat gpt-4.1"]

    trace = _hex(chat.get_span_context().trace_id, 32)
    assert {f["trace_id"] for f in frames.values()} == {trace}
    assert agent["parent_span_id"] is None
    assert llm["parent_span_id"] == tool["parent_span_id"] == bad["parent_span_id"] == agent["span_id"]
    assert get["parent_span_id"] == tool["span_id"]
    assert llm["span_id"] == _hex(chat.get_span_context().span_id, 16)
    assert all(f["agent_id"] == "support-bot" == f["agent_name"] for f in frames.values())
    assert llm["ts"] == chat.start_time and llm["total_ms"] == pytest.approx((chat.end_time - chat.start_time) / 1e6)

    assert (agent["operation"], llm["operation"]) == ("invoke_agent", "chat")
    assert (llm["model"], llm["response_model"], llm["provider"]) == (
        "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "anthropic")  # fmt: skip
    assert (llm["input_tokens"], llm["output_tokens"], llm["cache_read_tokens"], llm["cache_write_tokens"]) == (
        5200, 410, 4000, 1000)  # fmt: skip
    assert llm["reasoning_tokens"] is None  # not reported: unknown, not 0
    assert (llm["finish_reason"], llm["retry_count"], llm["success"]) == ("end_turn", 1, True)
    usage = genai_prices.Usage(input_tokens=5200, output_tokens=410, cache_read_tokens=4000, cache_write_tokens=1000)
    when = datetime.fromtimestamp(llm["ts"] / 1e9, UTC)
    price = genai_prices.calc_price(usage, "claude-sonnet-4-5", provider_id="anthropic", genai_request_timestamp=when)
    assert llm["cost_usd"] == pytest.approx(float(price.total_price), rel=1e-12)
    assert llm["tags"] == {"otel.scope": "opentelemetry.instrumentation.demo"}

    assert get["success"] is True and get["http_status"] is None and get["model"] is None and get["cost_usd"] is None
    assert get["tags"] == {"otel.scope": "opentelemetry.instrumentation.httpx"}
    assert (bad["success"], bad["error_type"], bad["http_status"], bad["model"]) == (
        False, "RuntimeError", 503, "gpt-4.1")  # fmt: skip
    assert agent["success"] is True  # the exception was caught inside the agent span
    assert p.processor.stats() == {"recorded": 5, "excluded": 0, "rejected": 0, "dropped": 0, "errors": 0}


def test_excluded_scopes_are_not_recorded(pipeline) -> None:
    p = pipeline({"capture": {"exclude_scopes": ["opentelemetry.instrumentation.*", "noisy.db"]}})
    for scope in ("opentelemetry.instrumentation.sqlite3", "noisy.db", "noisy.dbx", "my.agent"):
        with p.tracer(scope).start_as_current_span(f"span of {scope}"):
            pass
    assert [f["component"] for f in p.frames()] == ["span of noisy.dbx", "span of my.agent"]
    assert p.processor.excluded == 2


def test_spans_inside_track_join_the_tracked_tree(pipeline) -> None:
    p = pipeline()
    tracer = p.tracer()
    with (
        p.collector.track("Planner", agent_id="planner-1") as t,
        tracer.start_as_current_span("chat gpt-4.1") as root_span,
        tracer.start_as_current_span("POST"),
    ):
        pass
    with tracer.start_as_current_span("outside"):
        pass
    frames = {f["component"]: f for f in p.frames()}
    planner, chat, post, outside = frames["Planner"], frames["chat gpt-4.1"], frames["POST"], frames["outside"]
    assert chat["parent_span_id"] == planner["span_id"] == t.span_id
    assert chat["trace_id"] == post["trace_id"] == planner["trace_id"]
    assert post["parent_span_id"] == chat["span_id"] == _hex(root_span.get_span_context().span_id, 16)
    assert outside["trace_id"] != planner["trace_id"] and outside["parent_span_id"] is None
    assert chat["agent_id"] == post["agent_id"] == "planner-1"  # the tracked block's agent, not the resource's
    assert outside["agent_id"] == "support-bot"


def test_agent_id_from_the_config_wins_and_resource_instance_next(pipeline) -> None:
    p = pipeline({"global": {"agent_id": "configured"}}, {"service.name": "svc", "service.instance.id": "pod-2"})
    with p.tracer().start_as_current_span("s"):
        pass
    (f,) = p.frames()
    assert (f["agent_id"], f["agent_name"]) == ("configured", "svc")


def test_the_processor_never_raises_into_the_application(pipeline, caplog) -> None:
    p = pipeline()
    ctx = SpanContext(trace_id=1, span_id=2, is_remote=False, trace_flags=TraceFlags(1))
    backwards = ReadableSpan(name="backwards", context=ctx, start_time=2_000, end_time=1_000, status=Status())
    p.processor.on_end(backwards)  # start after end: refused, counted
    p.processor.on_end("not a span")  # type: ignore[arg-type]  # anything else: counted, logged once
    p.processor.on_end("not a span")  # type: ignore[arg-type]
    with p.tracer().start_as_current_span("still works"):
        pass
    assert [f["component"] for f in p.frames()] == ["still works"]
    assert (p.processor.rejected, p.processor.errors) == (1, 2)
    assert sum("span processor failed" in r.getMessage() for r in caplog.records) == 1


def test_spans_are_mapped_off_the_application_thread_and_recorded_at_close(root: Path) -> None:
    """on_end only queues; the recorder's flush (here the one close() makes) maps and records."""
    from smythtop.recorder import Collector

    collector = Collector({"global": {"flush_interval_s": 3600}}, store=root)
    provider = TracerProvider()
    processor = SmythtopSpanProcessor(collector)
    provider.add_span_processor(processor)
    with provider.get_tracer("t").start_as_current_span("queued", attributes={"gen_ai.usage.input_tokens": 3}):
        pass
    assert processor.recorded == 0 and len(processor._pending) == 1
    collector.close()
    assert processor.recorded == 1
    assert store.read_wal(root)["input_tokens"].to_list() == [3]


def test_a_full_queue_drops_the_oldest_spans_and_counts_them(root: Path) -> None:
    from smythtop.recorder import Collector

    collector = Collector({"global": {"flush_interval_s": 3600, "buffer_size": 8}}, store=root)
    provider = TracerProvider()
    processor = SmythtopSpanProcessor(collector)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("t")
    for i in range(200):  # past half the queue the flush thread is woken; faster than it drains, spans drop
        with tracer.start_as_current_span(f"s{i}"):
            pass
    provider.shutdown()
    try:
        written = store.read_wal(root)["component"].to_list()
        assert processor.recorded == len(written) and processor.recorded + processor.dropped == 200
        assert written[-1] == "s199"  # the newest are kept
    finally:
        collector.close()


def test_status_error_without_an_exception_event(pipeline) -> None:
    p = pipeline()
    with p.tracer().start_as_current_span("chat m", attributes={"error.type": "<class 'openai.APIStatusError'>"}) as s:
        s.set_status(Status(StatusCode.ERROR, "boom"))
    (f,) = p.frames()
    assert (f["success"], f["error_type"]) == (False, "APIStatusError")


def test_sdk_provider_shutdown_flushes_the_recorder(root: Path) -> None:
    from smythtop.recorder import Collector

    collector = Collector({"global": {"flush_interval_s": 3600}}, store=root)
    provider = TracerProvider()
    provider.add_span_processor(SmythtopSpanProcessor(collector))
    with provider.get_tracer("t").start_as_current_span("last words"):
        pass
    provider.shutdown()  # flushes: the frame is on disk though the flush thread would wait an hour
    try:
        assert store.read_wal(root)["component"].to_list() == ["last words"]
    finally:
        collector.close()


LIGHT = r"""
import sys
import smythtop
from smythtop import Collector
import smythtop.capture.genai
print(",".join(m for m in sys.modules if m.split(".")[0] == "opentelemetry"))
"""


def test_opentelemetry_is_imported_only_by_smythtop_otel() -> None:
    proc = subprocess.run([sys.executable, "-c", LIGHT], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
