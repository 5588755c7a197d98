"""`smythtop serve`'s ingest rate (issue 9, section 3), every row measured in this run.

One request is one exporter batch: 512 GenAI chat spans (the OTel SDKs' default batch size) with the attributes the
`anthropic` SDK sets (bench_otel.CHAT), posted over one keep-alive connection to a receiver on 127.0.0.1, as
protobuf and as JSON; the answer comes after the frames are flushed to the WAL. The same-run reference is the
decode alone (`ExportTraceServiceRequest.FromString` / `json_format.Parse` of the same body), so the ratio says how
much the mapping, pricing, validation, write and HTTP add to the parse any receiver pays. Quiet, then with a CPU
hog on one core. `.venv/bin/python -m bench serve` runs only this module (about half a minute).
"""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import tempfile
from pathlib import Path

from bench.bench_analysis import cpu_hog
from bench.bench_otel import CHAT
from bench.harness import Table, median_time

BATCH = 512  # OTel SDK BatchSpanProcessor's max_export_batch_size default
REPEAT = 15
US = 1e6


def _body() -> tuple[bytes, bytes]:
    """(protobuf, JSON) of one request of BATCH chat spans, encoded by the real exporter's encoder."""
    from google.protobuf import json_format
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    sent = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(sent))
    tracer = provider.get_tracer("bench.serve")
    for _ in range(BATCH):
        with tracer.start_as_current_span("chat claude-sonnet-4-5", attributes=CHAT):
            pass
    request = encode_spans(sent.get_finished_spans())
    provider.shutdown()
    as_json = json_format.MessageToDict(request)
    for rs in as_json["resourceSpans"]:  # OTLP/JSON ids are hex, not proto3 JSON's base64
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return request.SerializeToString(), json.dumps(as_json).encode()


def run(table: Table) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="smythtop-bench-serve-", dir="/tmp"))
    try:
        proto, as_json = _body()
        for hog in (False, True):
            with cpu_hog(hog):
                _ingest(table, tmp / ("hog" if hog else "quiet"), proto, as_json, hog)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _ingest(table: Table, root: Path, proto: bytes, as_json: bytes, hog: bool) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from smythtop.serve import OtlpReceiver, ReceiverOptions
    from smythtop.serve.otlp import decode

    receiver = OtlpReceiver(root, ReceiverOptions(port=0)).start()
    conn = http.client.HTTPConnection(*receiver.address, timeout=60)

    def post(body: bytes, ctype: str) -> None:
        conn.request("POST", "/v1/traces", body, {"Content-Type": ctype})
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status

    g = "serve" + (" +hog" if hog else "")
    try:
        for label, body, ctype, parse in (
            ("protobuf", proto, "application/x-protobuf", lambda: ExportTraceServiceRequest.FromString(proto)),
            ("json", as_json, "application/json", lambda: decode(as_json, "application/json", BATCH)),
        ):
            post(body, ctype)  # warm up: genai-prices and the mapping are loaded before timing
            served = median_time(lambda body=body, ctype=ctype: post(body, ctype), repeat=REPEAT) / BATCH
            parsed = median_time(parse, repeat=REPEAT) / BATCH
            table.add(g, f"span ingested over OTLP/HTTP ({label}, {BATCH}/request)", served * US, "us")
            table.add(
                g,
                f"spans per second, one connection ({label})",
                1 / served,
                "spans/s",
                "",
                f"{served / parsed:.1f}x the decode alone ({parsed * US:.2f} us)",
            )
    finally:
        conn.close()
        receiver.stop()
    assert receiver.stats.spans_rejected == 0
