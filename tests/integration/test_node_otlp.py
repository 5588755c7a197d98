"""A Node.js program with the official OpenTelemetry SDK and OTLP/HTTP exporter (JSON) feeds `smythtop serve`:
every span it ended is a frame with the same ids, times, names and GenAI fields. This is the proof that an agent
in another language can feed the store. `make test-integration` installs the npm packages first
(tests/integration/node, from its package-lock.json).

serve is stopped with SIGINT (Ctrl-C); tests/serve stops it with SIGTERM.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import genai_prices
import polars as pl
import pytest
from serve_process import serving

from smythtop import store

NODE_DIR = Path(__file__).parent / "node"


def test_node_agent_spans_become_frames(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "node is not on PATH"
    if not (NODE_DIR / "node_modules" / "@opentelemetry" / "exporter-trace-otlp-http").is_dir():
        pytest.fail("npm packages missing: run `make test-integration` (it runs npm ci in tests/integration/node)")
    root = tmp_path / "store"
    with serving(root, tmp_path) as served:
        sender = subprocess.run(
            [node, "send_spans.mjs", served.traces_url], cwd=NODE_DIR, capture_output=True, text=True, timeout=120
        )
        assert sender.returncode == 0, sender.stderr
        sent = json.loads(sender.stdout)
        status, out, err = served.stop(signal.SIGINT)
    assert status == 0, err
    assert f"{len(sent)} spans stored, 0 rejected" in out
    frames = {f["span_id"]: f for f in store.scan(root).with_columns(pl.col("ts").dt.epoch("ns")).collect().to_dicts()}
    assert len(sent) == len(frames) == 5
    for span in sent:
        frame = frames[span["span_id"]]
        attrs = span["attributes"]
        assert frame["component"] == span["name"]
        assert (frame["trace_id"], frame["parent_span_id"]) == (span["trace_id"], span["parent_span_id"])
        assert frame["ts"] == int(span["start_ns"])
        # compacted frames keep durations in whole µs (docs/FORMAT.md, frame file v2): within half a µs
        assert frame["total_ms"] == pytest.approx((int(span["end_ns"]) - int(span["start_ns"])) / 1e6, abs=5e-4)
        assert (frame["agent_id"], frame["agent_name"]) == ("node-agent", "node-agent")
        assert frame["operation"] == attrs["gen_ai.operation.name"]
        assert frame["success"] is not span["error"]
        assert frame["model"] == attrs.get("gen_ai.request.model")
        assert frame["response_model"] == attrs.get("gen_ai.response.model")
        assert frame["input_tokens"] == attrs.get("gen_ai.usage.input_tokens")
        assert frame["output_tokens"] == attrs.get("gen_ai.usage.output_tokens")
        assert frame["cache_read_tokens"] == attrs.get("gen_ai.usage.cache_read.input_tokens")
        assert frame["tags"]["otel.scope"] == "smythtop-node-test"
        if "gen_ai.request.model" in attrs:
            assert frame["provider"] == "openai" and frame["finish_reason"] == "stop"
            assert frame["tags"]["conversation_id"] == "conv-42"
            usage = genai_prices.Usage(
                input_tokens=attrs["gen_ai.usage.input_tokens"],
                cache_read_tokens=attrs["gen_ai.usage.cache_read.input_tokens"],
                output_tokens=attrs["gen_ai.usage.output_tokens"],
            )
            when = datetime.fromtimestamp(frame["ts"] / 1e9, UTC)
            price = genai_prices.calc_price(usage, "gpt-4.1", provider_id="openai", genai_request_timestamp=when)
            assert frame["cost_usd"] == pytest.approx(float(price.total_price), rel=1e-12)
    [tool] = [f for f in frames.values() if f["component"] == "execute_tool search"]
    assert tool["error_type"] == "TimeoutError"
    report = store.check(root)
    assert (report.wal_frames, report.parquet_frames) == (0, 5)  # the last maintenance pass compacted them
