"""The one mapping between OpenTelemetry spans and smythtop frames (docs/FORMAT.md, section "OpenTelemetry spans").

Every path that turns a span into a frame goes through `span_to_frame`: the in-process `smythtop.otel.
SmythtopSpanProcessor` and the OTLP receiver (`smythtop serve`). The mapping is data, not code: `ATTRIBUTES` is a
table of rows `(frame field, attribute names, kind)`. Reading a span, the first name present with a usable value
wins, in table order; so the current OTel GenAI names come first, then the older ones (v1.36 and before), then
OpenLLMetry's and OpenInference's. Writing (`frame_to_attributes`, for an OTLP export) uses the first row of each
field and its first name: one table serves both directions, so they cannot drift apart.

Transport-neutral API (this module imports neither opentelemetry nor the recorder):

    span = SpanIn(name="chat gpt-4.1", start_ns=..., end_ns=..., trace_id="<32 hex>", span_id="<16 hex>",
                  parent_span_id="<16 hex>" or None, attributes={...}, status_error=False, scope="opentelemetry...",
                  resource={"service.name": "support-bot"}, exception_type=None)
    frame = span_to_frame(span, default_agent_id="otlp")  # a dict that smythtop.store.schema.validate accepts

- Ids are lowercase hex strings (`bytes.hex()` of OTLP's bytes, `format(ctx.trace_id, "032x")` in the SDK). An
  all-zero or empty parent means a root span. A span with a malformed trace or span id, a start after its end, or a
  duration over the contract's limit raises `SpanError` (OTLP: reject that span, keep the others).
- An attribute with a value of the wrong type or out of range counts as absent (the span is still recorded): a
  count that is absent or unusable is null, never 0. Strings are cut to the contract's 256 characters.
- `cost_usd` is never read from the span: the recorder's `Pricer` (smythtop.recorder.pricing) prices the frame
  from its model and tokens with genai-prices, like every other frame. A serve path that writes to the store
  directly must call `Pricer().price(frame)` itself.
- `agent_id`: the `agent_id` argument (an explicit setting) wins, then the resource's `service.name` (the SDK's
  placeholder `unknown_service...` does not count), then its `service.instance.id`, then `default_agent_id`. If all
  are absent the key is left out and `Collector.record` fills in its own default. `agent_name` is `service.name`.
  `service.name` before the instance: the Python SDK sets a random UUID `service.instance.id` in every process,
  which would make every run a new, unreadable agent.
- The frame carries the instrumentation scope as the tag `otel.scope` and the conversation/session id as the tag
  `conversation_id`; no other attribute is kept, so no prompt or response text can reach the store.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

AttrValue = str | bool | int | float | Sequence[str] | Sequence[bool] | Sequence[int] | Sequence[float]

MAX_TEXT = 256  # the frame contract's limit for str fields (store.schema.MAX_ID_LEN)
MAX_TAG_VALUE = 1024  # the contract's limit for a tag value (store.schema.MAX_STR_LEN)
MAX_COUNT = 2**53  # the contract's limit for token counts
MAX_MS = 1e10  # the contract's limit for durations
NS_PER_MS = 1e6
UNNAMED = "(unnamed span)"  # a span with an empty name: the contract needs a component of 1-256 characters
SCOPE_TAG = "otel.scope"
_HEX = re.compile(r"[0-9a-f]+")
_CLASS_REPR = re.compile(r"<class '([^']*)'>")


class Kind(enum.Enum):
    """How an attribute value becomes a frame value (and back)."""

    TEXT = "text"  # a string, cut to MAX_TEXT
    COUNT = "count"  # a non-negative integer
    SECONDS = "seconds"  # seconds (a double) -> milliseconds
    FIRST_TEXT = "first_text"  # an array of strings (or one string) -> its first element
    STATUS = "status"  # an HTTP status code, 100-599
    PROVIDER = "provider"  # an OTel provider name -> the genai-prices provider id
    OPERATION = "operation"  # gen_ai.operation.name, as is
    SPAN_KIND = "span_kind"  # OpenInference's span kind -> an OTel operation (read only)
    REQUEST_TYPE = "request_type"  # OpenLLMetry's llm.request.type -> an OTel operation (read only)
    ERROR = "error"  # error.type, cleaned to a short name


@dataclass(frozen=True, slots=True)
class Row:
    """One frame field and the span attributes that carry it, preferred (and exported) name first."""

    field: str
    names: tuple[str, ...]
    kind: Kind


# The mapping. Order matters: per field, the first row and name present with a usable value wins.
# Token semantics are OTel's: input includes cache reads and writes, reasoning is part of output (docs/FORMAT.md).
ATTRIBUTES: tuple[Row, ...] = (
    Row("model", ("gen_ai.request.model", "llm.model_name", "embedding.model_name"), Kind.TEXT),
    Row("response_model", ("gen_ai.response.model",), Kind.TEXT),
    Row("provider", ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"), Kind.PROVIDER),
    Row("operation", ("gen_ai.operation.name",), Kind.OPERATION),
    Row("operation", ("openinference.span.kind",), Kind.SPAN_KIND),
    Row("operation", ("llm.request.type",), Kind.REQUEST_TYPE),
    Row(
        "input_tokens",
        ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
        Kind.COUNT,
    ),
    Row(
        "output_tokens",
        ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion"),
        Kind.COUNT,
    ),
    Row(
        "cache_read_tokens",
        (
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.cache_read_input_tokens",  # OpenLLMetry
            "llm.token_count.prompt_details.cache_read",
        ),
        Kind.COUNT,
    ),
    Row(
        "cache_write_tokens",
        (
            "gen_ai.usage.cache_write.input_tokens",  # current name
            "gen_ai.usage.cache_creation.input_tokens",  # v1.36 name
            "gen_ai.usage.cache_creation_input_tokens",  # OpenLLMetry
            "llm.token_count.prompt_details.cache_write",
        ),
        Kind.COUNT,
    ),
    Row(
        "reasoning_tokens",
        (
            "gen_ai.usage.reasoning.output_tokens",
            "gen_ai.usage.reasoning_tokens",  # OpenLLMetry
            "llm.token_count.completion_details.reasoning",
        ),
        Kind.COUNT,
    ),
    Row(
        "cache_write_1h_tokens",
        ("anthropic.usage.cache_creation.ephemeral_1h_input_tokens",),  # the anthropic SDK's own spans
        Kind.COUNT,
    ),
    Row(
        "finish_reason",
        ("gen_ai.response.finish_reasons", "llm.finish_reason", "anthropic.message.stop_reason"),
        Kind.FIRST_TEXT,
    ),
    Row("ttft_ms", ("gen_ai.response.time_to_first_chunk",), Kind.SECONDS),
    Row("retry_count", ("http.request.resend_count",), Kind.COUNT),
    Row("http_status", ("http.response.status_code", "http.status_code"), Kind.STATUS),
    Row("error_type", ("error.type",), Kind.ERROR),
)

# Tags kept from the span (tag key, attribute names). Identifiers only: never message text.
TAGS: tuple[tuple[str, tuple[str, ...]], ...] = (("conversation_id", ("gen_ai.conversation.id", "session.id")),)

# OTel provider names (gen_ai.provider.name, older gen_ai.system values, OpenInference's llm.provider) -> the
# genai-prices provider id, so a frame from a span is priced and grouped like one from the SDK patch. A name not
# listed passes through unchanged (the Pricer then tries the model alone). The first name of an id is exported.
PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gcp.gen_ai": "google",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "google": "google",
    "vertex_ai": "google",
    "gemini": "google",
    "aws.bedrock": "aws",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "az.ai.openai": "azure",
    "az.ai.inference": "azure",
    "azure": "azure",
    "x_ai": "x-ai",
    "xai": "x-ai",
    "mistral_ai": "mistral",
    "mistralai": "mistral",
    "deepseek": "deepseek",
    "groq": "groq",
    "cohere": "cohere",
    "perplexity": "perplexity",
}
_EXPORT_PROVIDER: dict[str, str] = {}
for _name, _id in PROVIDERS.items():
    _EXPORT_PROVIDER.setdefault(_id, _name)

# OpenInference span kinds and OpenLLMetry request types that name an OTel GenAI operation. Others (CHAIN,
# RERANKER, GUARDRAIL, ...) have no OTel operation: the field stays null and the span name says what it was.
SPAN_KINDS: dict[str, str] = {
    "LLM": "chat",
    "EMBEDDING": "embeddings",
    "TOOL": "execute_tool",
    "AGENT": "invoke_agent",
    "RETRIEVER": "retrieval",
}
REQUEST_TYPES: dict[str, str] = {"chat": "chat", "completion": "text_completion", "embedding": "embeddings"}


class SpanError(ValueError):
    """A span that cannot become a frame (bad ids or times). The OTLP receiver rejects it; others still count."""


@dataclass(frozen=True, slots=True)
class SpanIn:
    """One ended span, whatever carried it (the OTel SDK's ReadableSpan, an OTLP protobuf or JSON span)."""

    name: str
    start_ns: int  # Unix epoch, ns
    end_ns: int
    trace_id: str  # 32 lowercase hex
    span_id: str  # 16 lowercase hex
    parent_span_id: str | None = None  # None, "" or all zeros: a root span
    attributes: Mapping[str, Any] = field(default_factory=dict)
    status_error: bool = False  # status code ERROR
    scope: str | None = None  # instrumentation scope name
    resource: Mapping[str, Any] = field(default_factory=dict)
    exception_type: str | None = None  # `exception.type` of the span's last "exception" event, if any


def clean_error_type(value: str) -> str | None:
    """A short error name: "<class 'openai.InternalServerError'>" and "openai.InternalServerError" both become
    "InternalServerError"; "rate_limit_error" stays. None for an empty value."""
    text = value.strip()
    match = _CLASS_REPR.fullmatch(text)
    if match:
        text = match.group(1)
    if "." in text and " " not in text:
        text = text.rsplit(".", 1)[1]
    return text[:MAX_TEXT] or None


def _text(value: Any) -> str | None:
    return value[:MAX_TEXT] if type(value) is str and value else None


def _count(value: Any) -> int | None:
    if type(value) is int:  # bool is a subclass of int, not int itself: True is no count
        return value if 0 <= value <= MAX_COUNT else None
    if type(value) is float and value.is_integer():
        return _count(int(value))
    return None


def _provider(value: Any) -> str | None:
    text = _text(value)
    return PROVIDERS.get(text.lower(), text) if text else None


def _first_text(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):  # the SDK gives tuples, OTLP decoding lists
        value = next((v for v in value if type(v) is str and v), None)
    return _text(value)


def _seconds(value: Any) -> float | None:
    if type(value) is not float and type(value) is not int:
        return None
    ms = value * 1000.0
    return ms if 0.0 <= ms <= MAX_MS else None  # NaN fails both comparisons


def _status(value: Any) -> int | None:
    return value if type(value) is int and 100 <= value <= 599 else None


def _span_kind(value: Any) -> str | None:
    return SPAN_KINDS.get(value.upper()) if type(value) is str else None


def _request_type(value: Any) -> str | None:
    return REQUEST_TYPES.get(value) if type(value) is str else None


def _error(value: Any) -> str | None:
    return clean_error_type(value) if type(value) is str else None


# How each kind reads an attribute value: the frame value, or None when the value is unusable (then the next name
# of the field is tried, and a field no name fills stays null).
READERS: dict[Kind, Callable[[Any], Any]] = {
    Kind.TEXT: _text,
    Kind.COUNT: _count,
    Kind.SECONDS: _seconds,
    Kind.FIRST_TEXT: _first_text,
    Kind.STATUS: _status,
    Kind.PROVIDER: _provider,
    Kind.OPERATION: _text,
    Kind.SPAN_KIND: _span_kind,
    Kind.REQUEST_TYPE: _request_type,
    Kind.ERROR: _error,
}

# Attribute name -> (field, rank, reader): reading walks the span's attributes once (a span has a handful to a few
# dozen; the table has about 40 names), and the lowest rank (table order) wins per field.
_BY_NAME: dict[str, tuple[str, int, Callable[[Any], Any]]] = {}
for _row in ATTRIBUTES:
    for _name in _row.names:
        _BY_NAME.setdefault(_name, (_row.field, len(_BY_NAME), READERS[_row.kind]))


def _hex_id(value: str | None, length: int) -> str | None:
    """A valid lowercase hex id of `length` characters, or None for an absent or all-zero one."""
    if not value or value.strip("0") == "":
        return None
    if len(value) != length or not _HEX.fullmatch(value):
        raise SpanError(f"invalid id {value[:40]!r}: expected {length} lowercase hex characters")
    return value


def _agent(span: SpanIn, agent_id: str | None, default_agent_id: str | None) -> tuple[str | None, str | None]:
    resource = span.resource
    service = _text(resource.get("service.name"))
    if service is not None and service.startswith("unknown_service"):
        service = None
    instance = _text(resource.get("service.instance.id"))
    return (agent_id or service or instance or default_agent_id), service


def span_to_frame(span: SpanIn, *, agent_id: str | None = None, default_agent_id: str | None = None) -> dict[str, Any]:
    """The frame of one ended span (module docstring: ids, agent, what is kept). Raises SpanError."""
    trace_id = _hex_id(span.trace_id, 32)
    span_id = _hex_id(span.span_id, 16)
    if trace_id is None or span_id is None:
        raise SpanError("a span needs a non-zero trace id and span id")
    start, end = span.start_ns, span.end_ns
    if not (isinstance(start, int) and isinstance(end, int) and 0 < start <= end < 2**63):
        raise SpanError(f"invalid span times: start {start!r}, end {end!r} (ns since the epoch, start <= end)")
    total_ms = (end - start) / NS_PER_MS
    if total_ms > MAX_MS:
        raise SpanError(f"span lasts {total_ms / 8.64e7:.0f} days, over the frame contract's limit")
    frame: dict[str, Any] = {
        "ts": start,
        "component": (span.name or UNNAMED)[:MAX_TEXT],
        "total_ms": total_ms,
        "trace_id": trace_id,
        "span_id": span_id,
    }
    parent = _hex_id(span.parent_span_id, 16)
    if parent is not None:
        frame["parent_span_id"] = parent
    agent, agent_name = _agent(span, agent_id, default_agent_id)
    if agent is not None:
        frame["agent_id"] = agent
    if agent_name is not None:
        frame["agent_name"] = agent_name
    attrs = span.attributes
    found: dict[str, tuple[int, Any]] = {}  # field -> (rank, value) of its best attribute so far
    for name, value in attrs.items():
        hit = _BY_NAME.get(name)
        if hit is not None:
            field_name, rank, read = hit
            best = found.get(field_name)
            if best is None or rank < best[0]:
                value = read(value)
                if value is not None:
                    found[field_name] = (rank, value)
    for field_name, (_rank, value) in found.items():
        frame[field_name] = value
    if "model" not in frame and "response_model" in frame:
        frame["model"] = frame["response_model"]  # priced by the model that answered when the request's is unknown
    failed = span.status_error or "error_type" in frame
    frame["success"] = not failed
    if failed:
        if "error_type" not in frame and span.exception_type:
            error = clean_error_type(span.exception_type)
            if error is not None:
                frame["error_type"] = error
    else:
        frame.pop("http_status", None)  # the contract keeps the status of a failed call only
    tags: dict[str, str] = {}
    if span.scope:
        tags[SCOPE_TAG] = span.scope[:MAX_TAG_VALUE]
    for tag, names in TAGS:
        value = next((attrs[n] for n in names if isinstance(attrs.get(n), str) and attrs[n]), None)
        if value is not None:
            tags[tag] = value[:MAX_TAG_VALUE]
    if tags:
        frame["tags"] = tags
    return frame


def _write(kind: Kind, value: Any) -> AttrValue | None:
    if kind is Kind.SECONDS:
        return value / 1000.0
    if kind is Kind.FIRST_TEXT:
        return [value]
    if kind is Kind.PROVIDER:
        return _EXPORT_PROVIDER.get(value, value)
    return value


def frame_to_attributes(frame: Mapping[str, Any]) -> dict[str, AttrValue]:
    """The OTel GenAI attributes of a frame (current names), for an OTLP export: the inverse of the table's first
    row per field. Null fields are left out; ids, times, status and the span name are the exporter's."""
    out: dict[str, AttrValue] = {}
    done: set[str] = set()
    for row in ATTRIBUTES:
        if row.field in done:
            continue
        done.add(row.field)
        value = frame.get(row.field)
        if value is not None:
            written = _write(row.kind, value)
            if written is not None:
                out[row.names[0]] = written
    tags = frame.get("tags") or {}
    for tag, names in TAGS:
        if tag in tags:
            out[names[0]] = tags[tag]
    return out
