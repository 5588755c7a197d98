"""The span -> frame table (smythtop.capture.genai), on hand-made spans with known answers: each generation of
attribute names, which name wins, absent and unusable values, errors, ids and times, and the way back."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from smythtop.store.schema import validate

from smythtop.capture.genai import (
    ATTRIBUTES,
    TAGS,
    UNNAMED,
    SpanError,
    SpanIn,
    clean_error_type,
    frame_to_attributes,
    span_to_frame,
)

REPO = Path(__file__).resolve().parents[2]
T0 = 1_764_633_600_000_000_000  # 2025-12-02 00:00 UTC, ns
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
PARENT = "53995c3f42cd8ad8"


def span(attributes: dict[str, Any] | None = None, **kwargs: Any) -> SpanIn:
    base: dict[str, Any] = {
        "name": "chat gpt-4.1",
        "start_ns": T0,
        "end_ns": T0 + 1_250_000_000,
        "trace_id": TRACE,
        "span_id": SPAN,
        "parent_span_id": PARENT,
        "attributes": attributes or {},
        "resource": {"service.name": "support-bot"},
    }
    base.update(kwargs)
    return SpanIn(**base)


def frame(attributes: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    f = span_to_frame(span(attributes, **kwargs))
    validate(f)  # every frame the table makes is one the store accepts
    return f


CURRENT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.response.model": "claude-sonnet-4-5-20250929",
    "gen_ai.usage.input_tokens": 1500,
    "gen_ai.usage.output_tokens": 300,
    "gen_ai.usage.cache_read.input_tokens": 1000,
    "gen_ai.usage.cache_write.input_tokens": 200,
    "gen_ai.usage.reasoning.output_tokens": 120,
    "gen_ai.response.finish_reasons": ("end_turn",),
    "gen_ai.response.time_to_first_chunk": 0.25,
    "http.request.resend_count": 2,
    "gen_ai.conversation.id": "conv-7",
}
EXPECTED = {
    "operation": "chat",
    "provider": "anthropic",
    "model": "claude-sonnet-4-5",
    "response_model": "claude-sonnet-4-5-20250929",
    "input_tokens": 1500,
    "output_tokens": 300,
    "cache_read_tokens": 1000,
    "cache_write_tokens": 200,
    "reasoning_tokens": 120,
    "finish_reason": "end_turn",
    "ttft_ms": 250.0,
    "retry_count": 2,
}


def test_current_genai_names() -> None:
    f = frame(CURRENT, scope="com.anthropic.sdk.python")
    assert {k: f.get(k) for k in EXPECTED} == EXPECTED
    assert f["ts"] == T0 and f["total_ms"] == 1250.0 and f["success"] is True
    assert (f["trace_id"], f["span_id"], f["parent_span_id"]) == (TRACE, SPAN, PARENT)
    assert f["component"] == "chat gpt-4.1"
    assert f["tags"] == {"otel.scope": "com.anthropic.sdk.python", "conversation_id": "conv-7"}


def test_older_genai_names() -> None:
    """v1.36 and before: gen_ai.system, cache_creation, prompt/completion tokens."""
    f = frame(
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4.1",
            "gen_ai.usage.prompt_tokens": 900,
            "gen_ai.usage.completion_tokens": 50,
            "gen_ai.usage.cache_creation.input_tokens": 64,
        }
    )
    assert (f["provider"], f["model"], f["input_tokens"], f["output_tokens"]) == ("openai", "gpt-4.1", 900, 50)
    assert f["cache_write_tokens"] == 64


def test_openllmetry_names() -> None:
    f = frame(
        {
            "gen_ai.system": "Anthropic",
            "gen_ai.request.model": "claude-3-5-haiku",
            "llm.request.type": "chat",
            "gen_ai.usage.prompt_tokens": 300,
            "gen_ai.usage.cache_read_input_tokens": 100,
            "gen_ai.usage.cache_creation_input_tokens": 50,
            "gen_ai.usage.reasoning_tokens": 7,
        }
    )
    assert (f["provider"], f["operation"]) == ("anthropic", "chat")
    assert (f["cache_read_tokens"], f["cache_write_tokens"], f["reasoning_tokens"]) == (100, 50, 7)


@pytest.mark.parametrize(
    ("kind", "operation"),
    [
        ("LLM", "chat"),
        ("EMBEDDING", "embeddings"),
        ("TOOL", "execute_tool"),
        ("AGENT", "invoke_agent"),
        ("CHAIN", None),
    ],
)
def test_openinference_names(kind: str, operation: str | None) -> None:
    f = frame(
        {
            "openinference.span.kind": kind,
            "llm.model_name": "gpt-4o-mini",
            "llm.provider": "openai",
            "llm.token_count.prompt": 40,
            "llm.token_count.completion": 8,
            "llm.token_count.total": 48,
            "llm.token_count.prompt_details.cache_read": 16,
            "llm.token_count.prompt_details.cache_write": 4,
            "llm.token_count.completion_details.reasoning": 3,
            "session.id": "s-1",
        },
        name="ChatOpenAI",
    )
    assert f.get("operation") == operation
    assert (f["model"], f["provider"], f["input_tokens"], f["output_tokens"]) == ("gpt-4o-mini", "openai", 40, 8)
    assert (f["cache_read_tokens"], f["cache_write_tokens"], f["reasoning_tokens"]) == (16, 4, 3)
    assert f["tags"]["conversation_id"] == "s-1"
    assert f["component"] == "ChatOpenAI"


def test_current_names_win_over_older_ones_whatever_the_attribute_order() -> None:
    attrs = {
        "llm.provider": "google",
        "gen_ai.system": "gcp.vertex_ai",
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.usage.cache_creation.input_tokens": 1,
        "gen_ai.usage.cache_write.input_tokens": 2,
        "llm.request.type": "completion",
        "gen_ai.operation.name": "embeddings",
    }
    for ordering in (attrs, dict(reversed(list(attrs.items())))):
        f = frame(ordering)
        assert (f["provider"], f["cache_write_tokens"], f["operation"]) == ("aws", 2, "embeddings")


def test_an_unusable_preferred_value_falls_back_to_the_next_name() -> None:
    f = frame({"gen_ai.usage.input_tokens": "many", "gen_ai.usage.prompt_tokens": 12})
    assert f["input_tokens"] == 12


@pytest.mark.parametrize(
    ("otel", "provider"),
    [("gcp.vertex_ai", "google"), ("gcp.gen_ai", "google"), ("azure.ai.openai", "azure"), ("x_ai", "x-ai"),
     ("mistral_ai", "mistral"), ("ibm.watsonx.ai", "ibm.watsonx.ai")],
)  # fmt: skip
def test_providers_become_genai_prices_ids(otel: str, provider: str) -> None:
    assert frame({"gen_ai.provider.name": otel})["provider"] == provider


def test_absent_or_unusable_counts_are_null_never_zero() -> None:
    f = frame(
        {
            "gen_ai.request.model": "gpt-4.1",
            "gen_ai.usage.output_tokens": -3,
            "gen_ai.usage.cache_read.input_tokens": True,
            "gen_ai.usage.reasoning.output_tokens": 2.5,
            "http.request.resend_count": "2",
            "gen_ai.response.time_to_first_chunk": float("nan"),
            "gen_ai.response.finish_reasons": (),
        }
    )
    for field in ("input_tokens", "output_tokens", "cache_read_tokens", "reasoning_tokens", "retry_count", "ttft_ms"):
        assert field not in f, field
    assert "finish_reason" not in f
    assert frame({"gen_ai.usage.input_tokens": 0})["input_tokens"] == 0  # a reported zero stays zero
    assert frame({"gen_ai.usage.input_tokens": 7.0})["input_tokens"] == 7  # an integral double is a count


def test_huge_values_are_cut_or_dropped_so_the_frame_stays_valid() -> None:
    f = frame({"gen_ai.request.model": "m" * 5000, "gen_ai.usage.input_tokens": 2**60}, name="x" * 1000)
    assert len(f["model"]) == 256 and len(f["component"]) == 256
    assert "input_tokens" not in f
    assert frame(name="")["component"] == UNNAMED


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<class 'openai.InternalServerError'>", "InternalServerError"),
        ("openai.RateLimitError", "RateLimitError"),
        ("rate_limit_error", "rate_limit_error"),
        ("TimeoutError", "TimeoutError"),
        ("java.net.SocketTimeoutException", "SocketTimeoutException"),
        ("  ", None),
    ],
)
def test_error_type_is_cleaned_to_a_short_name(raw: str, clean: str | None) -> None:
    assert clean_error_type(raw) == clean


def test_failures() -> None:
    f = frame(
        {
            "gen_ai.request.model": "gpt-4.1",
            "gen_ai.provider.name": "openai",
            "error.type": "<class 'openai.RateLimitError'>",
            "http.response.status_code": 429,
        },
        status_error=True,
    )
    assert (f["success"], f["error_type"], f["http_status"], f["model"]) == (False, "RateLimitError", 429, "gpt-4.1")
    # error.type alone marks a failure (the conventions set it only then)
    assert frame({"error.type": "timeout"})["success"] is False
    # status ERROR without error.type: the exception event names it
    f = frame(status_error=True, exception_type="httpx.ConnectError")
    assert (f["success"], f["error_type"]) == (False, "ConnectError")
    # a successful span keeps no HTTP status (the contract keeps the status of a failed call)
    f = frame({"http.response.status_code": 200, "error.type": None})
    assert f["success"] is True and "http_status" not in f and "error_type" not in f
    assert frame({"http.status_code": 503}, status_error=True)["http_status"] == 503  # the older name


def test_ids_and_times() -> None:
    assert "parent_span_id" not in frame(parent_span_id=None)
    assert "parent_span_id" not in frame(parent_span_id="0" * 16)
    assert "parent_span_id" not in frame(parent_span_id="")
    for bad in (
        {"trace_id": "0" * 32},
        {"trace_id": "XYZ"},
        {"span_id": "abc"},
        {"span_id": "G" * 16},
        {"parent_span_id": "123"},
        {"end_ns": T0 - 1},
        {"start_ns": 0},
        {"end_ns": T0 + 200 * 86_400 * 10**9},
    ):
        with pytest.raises(SpanError):
            span_to_frame(span(**bad))


def test_agent_id_and_name() -> None:
    res = {"service.name": "support-bot", "service.instance.id": "pod-3"}
    f = span_to_frame(span(resource=res))
    assert (f["agent_id"], f["agent_name"]) == ("support-bot", "support-bot")
    assert span_to_frame(span(resource={"service.instance.id": "pod-3"}))["agent_id"] == "pod-3"
    assert span_to_frame(span(resource=res), agent_id="configured")["agent_id"] == "configured"
    f = span_to_frame(span(resource={"service.name": "unknown_service:python"}), default_agent_id="otlp")
    assert f["agent_id"] == "otlp" and "agent_name" not in f
    f = span_to_frame(span(resource={}))
    assert "agent_id" not in f  # Collector.record fills in its default


def test_response_model_prices_a_span_without_a_request_model() -> None:
    f = frame({"gen_ai.response.model": "gpt-4.1-2025-04-14"})
    assert f["model"] == f["response_model"] == "gpt-4.1-2025-04-14"


def test_no_other_attribute_reaches_the_frame() -> None:
    """Message text and arbitrary attributes are never kept (smythtop stores no prompts)."""
    f = frame({"gen_ai.input.messages": "secret prompt", "http.url": "https://x", "db.statement": "SELECT 1"})
    assert "secret prompt" not in repr(f) and "SELECT" not in repr(f)


def test_frame_to_attributes_is_the_inverse_on_the_preferred_names() -> None:
    f = frame(CURRENT)
    attrs = frame_to_attributes(f)
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.usage.cache_write.input_tokens"] == 200
    assert attrs["gen_ai.response.finish_reasons"] == ["end_turn"]
    assert attrs["gen_ai.response.time_to_first_chunk"] == 0.25
    assert attrs["gen_ai.conversation.id"] == "conv-7"
    back = span_to_frame(span(attrs, scope="com.anthropic.sdk.python"))
    assert {k: back.get(k) for k in EXPECTED} == EXPECTED
    assert frame_to_attributes({"provider": "google"}) == {"gen_ai.provider.name": "gcp.gen_ai"}
    failed = frame({"error.type": "<class 'openai.APIError'>", "http.response.status_code": 500})
    assert frame_to_attributes(failed) == {"error.type": "APIError", "http.response.status_code": 500}


def test_format_md_lists_exactly_the_table() -> None:
    """docs/FORMAT.md's mapping section names every attribute of the table, and no other."""
    text = (REPO / "docs" / "FORMAT.md").read_text()
    section = text.split("## 9. OpenTelemetry spans", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([\w.]+)` \| (.+?) \|", section, re.MULTILINE)
    documented = {(field, name) for field, names in rows for name in re.findall(r"`([a-z0-9_.]+)`", names)}
    table = {(row.field, name) for row in ATTRIBUTES for name in row.names}
    table |= {(f"tags.{tag}", name) for tag, names in TAGS for name in names}
    assert documented == table
