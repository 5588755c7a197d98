"""SmythtopSpanProcessor's cost on the application's thread (issue 9, section 2), every row measured in this run.

One OTel SDK span per execution (`start_as_current_span`, ended at once), in three set-ups: the TracerProvider with
no processor (the floor), with the SDK's own BatchSpanProcessor and a no-op exporter (the peer users would
otherwise add), and with SmythtopSpanProcessor; plain spans and GenAI chat spans carrying the attributes the
`anthropic` SDK sets (21, measured in tests/otel). A processor's own cost is its row minus the floor's. Ours only
queues the span; the recorder's flush thread maps, prices and writes it. That thread is idle during a round (a
large buffer, flushed between rounds), so a row is the calling thread's cost; the flush after a round is timed
apart, per span: the work moved off the application's thread. Rounds run interleaved, so load from other processes
falls on every row alike; then again with a CPU hog on one core. `.venv/bin/python -m bench otel` runs only this
module (about half a minute).
"""

from __future__ import annotations

import gc
import shutil
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.bench_analysis import cpu_hog
from bench.harness import Table, median_time

ROUND = 5_000
ROUNDS = 9
US = 1e6
CHAT = {  # the attributes of one `anthropic` SDK span (tests/otel/test_anthropic_spans.py), content excluded
    "server.address": "api.anthropic.com",
    "server.port": 443,
    "gen_ai.provider.name": "anthropic",
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.request.max_tokens": 1024,
    "http.request.method": "POST",
    "http.route": "/v1/messages",
    "url.scheme": "https",
    "url.path": "/v1/messages",
    "url.full": "https://api.anthropic.com/v1/messages",
    "gen_ai.usage.input_tokens": 5001,
    "http.response.status_code": 200,
    "gen_ai.response.id": "msg_1",
    "gen_ai.response.model": "claude-sonnet-4-5-20250929",
    "gen_ai.usage.cache_write.input_tokens": 1000,
    "gen_ai.usage.cache_read.input_tokens": 3000,
    "anthropic.usage.cache_creation.ephemeral_1h_input_tokens": 400,
    "gen_ai.usage.output_tokens": 300,
    "anthropic.message.stop_reason": "end_turn",
    "http.request.resend_count": 1,
}


def run(table: Table) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="smythtop-bench-otel-", dir="/tmp"))
    try:
        for hog in (False, True):
            with cpu_hog(hog):
                _overhead(table, tmp, hog)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _overhead(table: Table, tmp: Path, hog: bool) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from smythtop.otel import SmythtopSpanProcessor
    from smythtop.recorder import Collector

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    collector = Collector(
        {"global": {"buffer_size": 4 * ROUND, "flush_interval_s": 3600, "max_frames_per_second": 0}},
        store=tmp / ("hog" if hog else "quiet"),
    )
    floor, batch, smythtop = TracerProvider(), TracerProvider(), TracerProvider()
    batch.add_span_processor(BatchSpanProcessor(Discard(), max_queue_size=4 * ROUND))
    processor = SmythtopSpanProcessor(collector)
    smythtop.add_span_processor(processor)

    def loop(provider: Any, attributes: dict[str, Any] | None) -> Callable[[int], None]:
        tracer = provider.get_tracer("bench")
        name = "chat claude-sonnet-4-5" if attributes else "step"

        def spans(n: int) -> None:
            for _ in range(n):
                with tracer.start_as_current_span(name, attributes=attributes):
                    pass

        return spans

    loops = {
        f"{kind}/{label}": loop(provider, attrs)
        for label, attrs in (("plain", None), ("chat", CHAT))
        for kind, provider in (("floor", floor), ("batch", batch), ("smythtop", smythtop))
    }
    flushes: dict[str, list[float]] = {"plain": [], "chat": []}

    def flush_smythtop(label: str) -> None:
        if processor._pending:
            flushes[label].append(median_time(collector.flush, repeat=1) / ROUND)

    between = {
        "floor/plain": lambda: None,
        "floor/chat": lambda: None,
        "batch/plain": lambda: batch.force_flush(),
        "batch/chat": lambda: batch.force_flush(),
        "smythtop/plain": lambda: flush_smythtop("chat"),  # the previous smythtop round was a chat one
        "smythtop/chat": lambda: flush_smythtop("plain"),
    }
    rounds: dict[str, list[float]] = {name: [] for name in loops}
    for fn in loops.values():
        fn(ROUND // 10)  # warm up: genai-prices and the store are loaded before the first timed round
    collector.flush()
    for _ in range(ROUNDS):
        for name, fn in loops.items():
            between[name]()
            gc.collect()
            rounds[name].append(median_time(lambda fn=fn: fn(ROUND), repeat=1) / ROUND)
    us = {name: statistics.median(times) * US for name, times in rounds.items()}
    flush_smythtop("chat")
    assert processor.errors == 0 and processor.rejected == 0, processor.stats()
    batch.shutdown()
    smythtop.shutdown()
    collector.close()

    g = "otel" + (" +hog" if hog else "")
    for label in ("plain", "chat"):
        own = us[f"smythtop/{label}"] - us[f"floor/{label}"]
        peer_own = us[f"batch/{label}"] - us[f"floor/{label}"]
        table.add(g, f"OTel span, no processor ({label})", us[f"floor/{label}"], "us")
        table.add(g, f"OTel span + BatchSpanProcessor ({label})", us[f"batch/{label}"], "us")
        table.add(
            g,
            f"OTel span + SmythtopSpanProcessor ({label})",
            us[f"smythtop/{label}"],
            "us",
            "",
            f"{us[f'smythtop/{label}'] / us[f'batch/{label}']:.2f}x BatchSpanProcessor",
        )
        table.add(g, f"SmythtopSpanProcessor's own cost ({label})", own, "us", "", f"Batch's own: {peer_own:.2f} us")
        flush_us = statistics.median(flushes[label]) * US
        table.add(g, f"flush thread per span: map, price, write ({label})", flush_us, "us")
