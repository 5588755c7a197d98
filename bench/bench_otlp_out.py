"""OTLP out (`smythtop export --format otlp`, `serve --forward-otlp`), every row measured in this run.

One batch is 512 priced GenAI chat frames (the frames `smythtop serve` makes of bench_otel.CHAT spans), the SDK
exporter's batch size. Rows: building the SDK spans from frames (the mapping's inverse), and a whole send through
the SDK's OTLP/HTTP exporter to a `smythtop serve` receiver on 127.0.0.1 (which maps, prices and writes them again),
each against the same-run reference of the SDK's own protobuf encoding of the same spans (`encode_spans`), which any
OTLP exporter pays. Quiet, then with a CPU hog on one core. `.venv/bin/python -m bench otlp_out` runs only this.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench.bench_analysis import cpu_hog
from bench.bench_otel import CHAT
from bench.harness import Table, median_time

BATCH = 512  # the OTel SDK BatchSpanProcessor's max_export_batch_size, and smythtop.otlp_out.BATCH_SPANS
REPEAT = 15
US = 1e6


def _frames() -> list[dict[str, Any]]:
    from smythtop.capture.genai import SpanIn, span_to_frame
    from smythtop.recorder.pricing import Pricer

    pricer = Pricer()
    frames = []
    for i in range(BATCH):
        span = SpanIn(
            name="chat claude-sonnet-4-5",
            start_ns=1_750_000_000_000_000_000 + i * 1_000_000,
            end_ns=1_750_000_000_900_000_000 + i * 1_000_000,
            trace_id=f"{i + 1:032x}",
            span_id=f"{i + 1:016x}",
            attributes=CHAT,
            scope="bench.otlp_out",
            resource={"service.name": "bench-agent"},
        )
        frame = span_to_frame(span)
        pricer.price(frame)
        frames.append(frame)
    return frames


def run(table: Table) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="smythtop-bench-otlp-out-", dir="/tmp"))
    try:
        frames = _frames()
        for hog in (False, True):
            with cpu_hog(hog):
                _send(table, tmp / ("hog" if hog else "quiet"), frames, hog)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _send(table: Table, root: Path, frames: list[dict[str, Any]], hog: bool) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from smythtop.otlp_out import OtlpSender, frame_to_span
    from smythtop.serve import OtlpReceiver, ReceiverOptions

    g = "otlp out" + (" +hog" if hog else "")
    spans = [frame_to_span(f) for f in frames]
    encoded = median_time(lambda: encode_spans(spans).SerializeToString(), repeat=REPEAT) / BATCH
    built = median_time(lambda: [frame_to_span(f) for f in frames], repeat=REPEAT) / BATCH
    table.add(g, f"frame -> SDK span ({BATCH}/batch)", built * US, "us", "", f"{built / encoded:.1f}x the encode")
    receiver = OtlpReceiver(root, ReceiverOptions(port=0)).start()
    host, port = receiver.address
    try:
        with OtlpSender(f"http://{host}:{port}") as sender:
            sender.send_batch(frames)  # warm up: the connection, genai-prices on the receiving side
            sent = median_time(lambda: sender.send_batch(frames), repeat=REPEAT) / BATCH
    finally:
        receiver.stop()
    table.add(
        g,
        "frame sent to smythtop serve (OTLP/HTTP, stored)",
        1 / sent,
        "frames/s",
        "",
        f"{sent / encoded:.1f}x the encode alone ({encoded * US:.2f} us)",
    )
    assert receiver.stats.spans_rejected == 0
