"""The real OpenTelemetry SDK and its OTLP/HTTP exporter (protobuf, plain and gzip) feeding `smythtop serve`:
every frame matches the span that was sent, field by field, and LLM spans are priced like recorder frames."""

from __future__ import annotations

from datetime import UTC, datetime

import genai_prices
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from serve_testlib import stored

from smythtop.serve import OtlpReceiver

CHATS = [  # (request model, response model, input, cache read, output, reasoning)
    ("gpt-4.1", "gpt-4.1-2025-04-14", 1200, 1000, 80, None),
    ("o3", "o3-2025-04-16", 500, 0, 300, 200),
    ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", 900, 400, 60, None),
]


def _send(receiver: OtlpReceiver, compression: Compression) -> list[ReadableSpan]:
    host, port = receiver.address
    sent = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "py-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(sent))
    exporter = OTLPSpanExporter(endpoint=f"http://{host}:{port}/v1/traces", compression=compression, timeout=10)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.serve.exporter")
    with tracer.start_as_current_span("invoke_agent planner", attributes={"gen_ai.operation.name": "invoke_agent"}):
        for model, answered, tokens_in, cached, tokens_out, reasoning in CHATS:
            attributes = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "anthropic" if model.startswith("claude") else "openai",
                "gen_ai.request.model": model,
                "gen_ai.response.model": answered,
                "gen_ai.usage.input_tokens": tokens_in,
                "gen_ai.usage.cache_read.input_tokens": cached,
                "gen_ai.usage.output_tokens": tokens_out,
                "gen_ai.response.finish_reasons": ("stop",),
                "http.request.resend_count": 2,
            }
            if reasoning is not None:
                attributes["gen_ai.usage.reasoning.output_tokens"] = reasoning
            with tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes):
                pass
        with tracer.start_as_current_span("execute_tool search") as tool:
            tool.set_attribute("error.type", "<class 'TimeoutError'>")
            tool.set_status(Status(StatusCode.ERROR, "search timed out"))
    provider.shutdown()
    return list(sent.get_finished_spans())


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip], ids=["plain", "gzip"])
def test_frames_match_the_spans_sent(receiver: OtlpReceiver, compression: Compression) -> None:
    spans = _send(receiver, compression)
    frames = {f["span_id"]: f for f in stored(receiver.root)}
    assert len(frames) == len(spans) == 5
    assert receiver.stats.spans_accepted == 5 and receiver.stats.spans_rejected == 0
    for span in spans:
        frame = frames[format(span.context.span_id, "016x")]
        assert frame["component"] == span.name
        assert frame["trace_id"] == format(span.context.trace_id, "032x")
        parent = format(span.parent.span_id, "016x") if span.parent else None
        assert frame["parent_span_id"] == parent
        assert frame["ts"] == span.start_time
        assert frame["total_ms"] == (span.end_time - span.start_time) / 1e6
        assert frame["agent_id"] == frame["agent_name"] == "py-agent"
        assert frame["tags"] == {"otel.scope": "tests.serve.exporter"}
        attrs = span.attributes
        assert frame["operation"] == attrs.get("gen_ai.operation.name")
        assert frame["success"] == (span.status.status_code != StatusCode.ERROR)
    by_name = {f["component"]: f for f in frames.values()}
    for model, answered, tokens_in, cached, tokens_out, reasoning in CHATS:
        frame = by_name[f"chat {model}"]
        assert (frame["model"], frame["response_model"]) == (model, answered)
        assert (frame["input_tokens"], frame["cache_read_tokens"], frame["output_tokens"]) == (
            tokens_in,
            cached,
            tokens_out,
        )
        assert frame["reasoning_tokens"] == reasoning  # absent: null, never 0
        assert frame["cache_write_tokens"] is None
        assert frame["retry_count"] == 2 and frame["finish_reason"] == "stop"
        provider = "anthropic" if model.startswith("claude") else "openai"
        assert frame["provider"] == provider
        usage = genai_prices.Usage(input_tokens=tokens_in, cache_read_tokens=cached, output_tokens=tokens_out)
        when = datetime.fromtimestamp(frame["ts"] / 1e9, UTC)
        price = genai_prices.calc_price(usage, model, provider_id=provider, genai_request_timestamp=when)
        assert frame["cost_usd"] == pytest.approx(float(price.total_price), rel=1e-12)
    tool = by_name["execute_tool search"]
    assert tool["success"] is False and tool["error_type"] == "TimeoutError"
    assert tool["cost_usd"] is None
