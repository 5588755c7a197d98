"""OTLP/HTTP trace requests: bodies in, decoded spans out, and the responses the spec asks for.

Method: the body (already size-checked by the server) is un-gzipped with a cap on the decompressed size (a zip
bomb of a few KiB expands to gigabytes), then parsed by the generated `opentelemetry-proto` classes: protobuf with
`ExportTraceServiceRequest.FromString`, JSON with `google.protobuf.json_format` after the one change OTLP/JSON makes
to proto3 JSON: trace and span ids are hex, not base64 (OTLP spec, "JSON Protobuf Encoding"). Unknown JSON fields
are ignored, as the spec requires of receivers; an attribute whose value has a type we do not know (a newer
AnyValue case, or none set) parses as an empty value and is dropped from the span's attributes.

Span count is checked before the expensive step: a JSON body is counted on the plain `json.loads` result before
`ParseDict` (about 12 µs a span, measured: a million bare spans would take 12 s); a protobuf body is counted right
after parsing, which costs about 0.4 s per million bare spans (2 bytes each, so the 4 MiB body limit caps a
request at about two million). The server answers a request over the limit with 413 before mapping any span.

This module imports protobuf and the generated classes at import time: only `smythtop.serve` imports it, and the
CLI imports that only when `smythtop serve` runs.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from smythtop.capture.genai import SpanIn

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CONTENT_TYPES = (PROTOBUF, JSON)
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_SCALARS = ("string_value", "bool_value", "int_value", "double_value")

AttrValue = str | bool | int | float | tuple[str | bool | int | float, ...]


class OtlpError(Exception):
    """A request the receiver refuses as a whole: `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def media_type(header: str | None) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return (header or "").split(";", 1)[0].strip().lower()


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body; more than `limit` bytes out is refused (413) before it is all inflated."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
        if len(out) > limit or inflater.unconsumed_tail:
            raise OtlpError(413, f"decompressed body is over the limit of {limit} bytes")
        if not inflater.eof:
            raise OtlpError(400, "gzip body is truncated")
    except zlib.error as exc:
        raise OtlpError(400, f"body is not valid gzip: {exc}") from None
    return out


def decode(body: bytes, content_type: str, max_spans: int) -> ExportTraceServiceRequest:
    """Parse an ExportTraceServiceRequest; OtlpError(400) if it does not parse, (413) if it holds too many spans."""
    if content_type == PROTOBUF:
        try:
            request = ExportTraceServiceRequest.FromString(body)
        except DecodeError as exc:
            raise OtlpError(400, f"body is not a protobuf ExportTraceServiceRequest: {exc}") from None
        _check_count(sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans), max_spans)
        return request
    try:
        data = json.loads(body)
    except RecursionError:  # `[[[[...` nested past the interpreter's stack: a hostile body, not a crash
        raise OtlpError(400, "body is not JSON this receiver reads: nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise OtlpError(400, f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise OtlpError(400, "body is not a JSON ExportTraceServiceRequest (expected an object)")
    _check_count(_json_span_count(data), max_spans)
    _hex_ids_to_base64(data)
    try:
        return json_format.ParseDict(data, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except RecursionError:  # attribute values (kvlist, array) nested past the stack
        raise OtlpError(400, "body is not a JSON ExportTraceServiceRequest: values nested too deeply") from None
    except json_format.ParseError as exc:
        raise OtlpError(400, f"body is not a JSON ExportTraceServiceRequest: {exc}") from None


def _check_count(count: int, max_spans: int) -> None:
    if count > max_spans:
        raise OtlpError(413, f"{count} spans in one request, over the limit of {max_spans}; send smaller batches")


def _items(node: Any, *keys: str) -> list:
    """`node[key]` for the first key present (lowerCamelCase or the proto name), if it is a list; else []."""
    if isinstance(node, dict):
        for key in keys:
            value = node.get(key)
            if isinstance(value, list):
                return value
    return []


def _json_spans(data: dict) -> Iterator[Any]:
    for rs in _items(data, "resourceSpans", "resource_spans"):
        for ss in _items(rs, "scopeSpans", "scope_spans"):
            yield from _items(ss, "spans")


def _json_span_count(data: dict) -> int:
    return sum(1 for _ in _json_spans(data))


def _hex_ids_to_base64(data: dict) -> None:
    """OTLP/JSON writes ids as hex; proto3 JSON (what json_format reads) wants base64."""
    for span in _json_spans(data):
        for node in (span, *_items(span, "links")):
            if not isinstance(node, dict):
                continue  # json_format names the bad element
            for key in _ID_FIELDS:
                value = node.get(key)
                if not isinstance(value, str):
                    continue
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise OtlpError(400, f"span {key} {value[:40]!r} is not hex (OTLP/JSON ids are hex)") from None


def _value(value: AnyValue) -> AttrValue | None:
    """A scalar or an array of scalars; None for what the mapping cannot use (maps, bytes, unknown types)."""
    case = value.WhichOneof("value")
    if case in _SCALARS:
        return getattr(value, case)
    if case == "array_value":
        items = [getattr(v, c) for v in value.array_value.values if (c := v.WhichOneof("value")) in _SCALARS]
        return tuple(items)
    return None


def attributes(pairs: Any) -> dict[str, AttrValue]:
    """Repeated KeyValue -> dict; values of no usable type are left out (the span itself is kept)."""
    out: dict[str, AttrValue] = {}
    kv: KeyValue
    for kv in pairs:
        value = _value(kv.value)
        if value is not None and kv.key:
            out[kv.key] = value
    return out


def spans(request: ExportTraceServiceRequest) -> Iterator[SpanIn]:
    """Every span of the request, in order, as the mapping table's transport-neutral `SpanIn`.

    Ids become lowercase hex as they come (an empty or malformed one is the mapping's `SpanError`: that span is
    rejected, the others kept). The type of the span's last "exception" event fills in `error.type` when absent."""
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            scope = ss.scope.name or None
            for span in ss.spans:
                exception_type = None
                for event in span.events:
                    if event.name == "exception":
                        found = attributes(event.attributes).get("exception.type")
                        exception_type = found if isinstance(found, str) else exception_type
                yield SpanIn(
                    name=span.name,
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex() or None,
                    attributes=attributes(span.attributes),
                    status_error=span.status.code == Status.STATUS_CODE_ERROR,
                    scope=scope,
                    resource=resource,
                    exception_type=exception_type,
                )


def encode_response(content_type: str, rejected: int = 0, message: str = "") -> bytes:
    """ExportTraceServiceResponse in the request's encoding; partial_success only when something was rejected."""
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return _encode(response, content_type)


def encode_status(content_type: str, code: int, message: str) -> bytes:
    """The google.rpc.Status body that OTLP/HTTP puts in every 4xx and 5xx answer."""
    return _encode(status_pb2.Status(code=code, message=message), content_type)


def _encode(message: Any, content_type: str) -> bytes:
    if content_type == JSON:
        return json_format.MessageToJson(message, indent=None).encode()
    return message.SerializeToString()
