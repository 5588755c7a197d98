"""Helpers for the `smythtop serve` tests: raw HTTP to a receiver, OTLP requests built by hand, the store read back."""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from smythtop import store
from smythtop.serve import OtlpReceiver

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
GOOD = {"attrs": {"gen_ai.request.model": "gpt-4.1", "gen_ai.usage.input_tokens": 10}}  # one span that maps


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def partial(self) -> ExportTraceServiceResponse:
        assert self.status == 200, (self.status, self.body)
        return ExportTraceServiceResponse.FromString(self.body)


def post(
    receiver: OtlpReceiver,
    body: bytes,
    content_type: str = PROTOBUF,
    *,
    path: str = "/v1/traces",
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> Answer:
    host, port = receiver.address
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": content_type, **(headers or {})})
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()


def stored(root: Path) -> list[dict[str, Any]]:
    """Every frame in a store (WAL and Parquet), ts as int ns; the receiver flushes before it answers."""
    import polars as pl

    if not root.exists():
        return []
    return store.scan(root).with_columns(pl.col("ts").dt.epoch("ns")).sort("ts").collect().to_dicts()


def attr(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def request(*spans: dict[str, Any], service: str = "test-agent") -> ExportTraceServiceRequest:
    """An ExportTraceServiceRequest of spans given as {name, trace, span, parent, start, end, attrs, error}."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(attr("service.name", service))
    ss = rs.scope_spans.add()
    ss.scope.name = "tests.serve"
    for s in spans:
        span = ss.spans.add()
        span.name = s.get("name", "chat gpt-4.1")
        span.trace_id = s.get("trace", bytes(range(1, 17)))
        span.span_id = s.get("span", bytes(range(1, 9)))
        span.parent_span_id = s.get("parent", b"")
        span.start_time_unix_nano = s.get("start", 1_700_000_000_000_000_000)
        span.end_time_unix_nano = s.get("end", 1_700_000_000_250_000_000)
        span.attributes.extend(attr(k, v) for k, v in s.get("attrs", {}).items())
        if s.get("error"):
            span.status.code = span.status.STATUS_CODE_ERROR
    return req


def span_id(n: int) -> bytes:
    return n.to_bytes(8, "big")
