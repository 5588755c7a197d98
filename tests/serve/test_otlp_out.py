"""OTLP out: frames -> OTel SDK spans -> the SDK's OTLP/HTTP exporter -> `smythtop serve`'s receiver -> frames.

The round trip must keep every field the mapping documents (docs/FORMAT.md section 9, docs/EXPORT.md "OTLP"),
ids and times included; cost survives because the receiver re-prices from the same model and tokens. A bad
endpoint is a one-line CLI error; `serve --forward-otlp` sends what it stored and survives a dead endpoint."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from serve_process import SMYTHTOP, serving, user_env
from serve_testlib import stored

from smythtop import store
from smythtop.capture.genai import ATTRIBUTES
from smythtop.cli import main
from smythtop.otlp_out import COST_ATTRIBUTE, Forwarder, OtlpSender, frame_to_span, traces_url
from smythtop.recorder.pricing import Pricer
from smythtop.serve import OtlpReceiver, ReceiverOptions

T0 = 1_750_000_000_123_456_789  # 2025-06-15, ns; odd digits so a time cut to µs or ms would show
SINCE = "2025-01-01T00:00:00Z"
MAPPED = sorted({row.field for row in ATTRIBUTES})  # every frame field the mapping carries
KEPT = ["ts", "component", "trace_id", "span_id", "parent_span_id", "agent_id", "success", "cost_usd", *MAPPED]


def _frames() -> list[dict[str, Any]]:
    """One trace with a value in every mapped field somewhere: three providers (google's OTel name differs),
    a failed call with its HTTP status, a tool error, a conversation tag and an instrumentation scope."""
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    root = {
        "ts": T0,
        "agent_id": "support-bot",
        "agent_name": "support-bot",
        "component": "invoke_agent triage",
        "total_ms": 4321.123456,
        "success": True,
        "trace_id": trace,
        "span_id": "00f067aa0ba902b7",
        "operation": "invoke_agent",
        "tags": {"conversation_id": "conv-42", "otel.scope": "my.agent"},
    }
    chats = [
        ("gpt-4.1", "gpt-4.1-2025-04-14", "openai", 1200, 1000, 0, 80, None, None, "stop"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "anthropic", 3000, 1000, 1500, 60, None, 500, "end_turn"),
        ("gemini-2.5-flash", None, "google", 800, 0, 0, 300, 200, None, "STOP"),
    ]  # fmt: skip
    frames = [root]
    for i, (model, answered, provider, tin, cread, cwrite, tout, reasoning, cw1h, finish) in enumerate(chats, 1):
        frames.append({
            "ts": T0 + i * 1_000_003, "agent_id": "support-bot", "agent_name": "support-bot",
            "component": f"chat {model}", "total_ms": 812.5 + i / 7, "success": True, "trace_id": trace,
            "span_id": f"{i:016x}", "parent_span_id": root["span_id"], "model": model, "response_model": answered,
            "provider": provider, "operation": "chat", "input_tokens": tin, "cache_read_tokens": cread,
            "cache_write_tokens": cwrite, "output_tokens": tout, "reasoning_tokens": reasoning,
            "cache_write_1h_tokens": cw1h, "finish_reason": finish, "ttft_ms": 123.456 + i, "retry_count": i - 1,
        })  # fmt: skip
    frames.append({"ts": T0 + 9_000_000, "agent_id": "support-bot", "agent_name": "support-bot",
                   "component": "chat gpt-4.1", "total_ms": 30.0, "success": False, "trace_id": trace,
                   "span_id": "00000000000000aa", "parent_span_id": root["span_id"], "model": "gpt-4.1",
                   "provider": "openai", "operation": "chat", "http_status": 429, "error_type": "RateLimitError",
                   "retry_count": 3})  # fmt: skip
    frames.append({"ts": T0 + 10_000_000, "agent_id": "support-bot", "agent_name": "support-bot",
                   "component": "execute_tool search", "total_ms": 5000.0, "success": False, "trace_id": trace,
                   "span_id": "00000000000000bb", "parent_span_id": root["span_id"], "operation": "execute_tool",
                   "error_type": "TimeoutError"})  # fmt: skip
    pricer = Pricer()
    for frame in frames:
        pricer.price(frame)
    return frames


def _write(root: Path, frames: list[dict[str, Any]]) -> None:
    with store.Writer(root) as writer:
        for frame in frames:
            writer.append(frame)


def _export(root: Path, url: str, *extra: str) -> int:
    return main(["export", "--store", str(root), "--from", SINCE, "--format", "otlp", "--endpoint", url, *extra])


def _url(receiver: OtlpReceiver) -> str:
    host, port = receiver.address
    return f"http://{host}:{port}"


def _same(got: dict[str, Any], want: dict[str, Any]) -> None:
    for key in KEPT:
        if key in ("ttft_ms",) and want.get(key) is not None:
            assert got[key] == pytest.approx(want[key], rel=1e-12), key
        else:
            assert got.get(key) == want.get(key), (key, got.get(key), want.get(key))
    # durations travel as whole nanoseconds (OTLP's end time)
    assert got["total_ms"] == pytest.approx(want["total_ms"], abs=1e-6)
    assert _tags(got) == _tags(want)


def _tags(frame: dict[str, Any]) -> dict[str, str]:
    tags = frame.get("tags") or {}
    return dict(tags) if isinstance(tags, dict) else {t["key"]: t["value"] for t in tags}  # polars: a map is a list


@pytest.fixture
def quiet_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SMYTHTOP_STORE", raising=False)


def test_round_trip_keeps_every_mapped_field(
    receiver: OtlpReceiver, tmp_path: Path, quiet_config: None, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = _frames()
    assert all(f.get("cost_usd") for f in frames if f.get("input_tokens")), "the test frames must be priced"
    assert {f for f in MAPPED if all(fr.get(f) is None for fr in frames)} == set(), "every mapped field has a value"
    _write(tmp_path / "src", frames)
    assert _export(tmp_path / "src", _url(receiver)) == 0
    assert f"sent {len(frames)} frames to {_url(receiver)}/v1/traces" in capsys.readouterr().err
    back = {f["span_id"]: f for f in stored(receiver.root)}
    assert len(back) == len(frames) and receiver.stats.spans_rejected == 0
    for frame in frames:
        _same(back[frame["span_id"]], frame)
        assert back[frame["span_id"]]["agent_name"] == frame["agent_name"]


def test_spans_carry_cost_and_the_providers_otel_name() -> None:
    frame = next(f for f in _frames() if f.get("provider") == "google")
    span = frame_to_span(frame)
    assert span.attributes[COST_ATTRIBUTE] == frame["cost_usd"] > 0
    assert span.attributes["gen_ai.provider.name"] == "gcp.gen_ai"
    assert span.resource.attributes["service.name"] == "support-bot"
    assert (span.start_time, span.end_time) == (frame["ts"], frame["ts"] + round(frame["total_ms"] * 1e6))


def test_foreign_ids_are_hashed_consistently_and_resending_duplicates_nothing(
    receiver: OtlpReceiver, tmp_path: Path
) -> None:
    """A store written by another tool: ids that are not OTel hex, or none. The child still points at its parent,
    and the same frames sent twice are the same spans (same ids), so a backend can deduplicate them."""
    frames = [
        {"ts": T0, "agent_id": "a", "component": "workflow", "total_ms": 10.0, "success": True,
         "trace_id": "trace-7", "span_id": "trace-7/0"},
        {"ts": T0 + 1000, "agent_id": "a", "component": "answer", "total_ms": 5.0, "success": True,
         "trace_id": "trace-7", "span_id": "trace-7/1", "parent_span_id": "trace-7/0"},
        {"ts": T0 + 2000, "agent_id": "a", "component": "no ids", "total_ms": 1.0, "success": True},
    ]  # fmt: skip
    with OtlpSender(_url(receiver)) as sender:
        assert sender.send(frames) == 3
        assert sender.send(frames) == 3
    back = stored(receiver.root)
    assert len(back) == 6
    assert len({(f["trace_id"], f["span_id"]) for f in back}) == 3
    by = {f["component"]: f for f in back}
    assert by["answer"]["parent_span_id"] == by["workflow"]["span_id"]
    assert by["answer"]["trace_id"] == by["workflow"]["trace_id"] != by["no ids"]["trace_id"]


def _dead_url() -> str:
    with socket.socket() as s:  # a port nothing listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_bad_endpoints_are_one_line_errors(
    tmp_path: Path, quiet_config: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "src", _frames()[:2])
    cases = [
        ((_dead_url(), "--timeout", "0.5"), "stopped after 0 of 2 frames"),
        (("ftp://example.com",), "http:// or https:// URL"),
        (("http://127.0.0.1:99999",), "bad port"),
    ]
    for args, message in cases:
        assert _export(tmp_path / "src", *args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("smythtop: error: ") and message in err, err
    assert main(["export", "--store", str(tmp_path / "src"), "--format", "otlp"]) == 2
    assert "needs --endpoint" in capsys.readouterr().err
    assert main(["export", "--store", str(tmp_path / "src"), "--format", "csv", "--endpoint", "http://x"]) == 2
    assert "--endpoint needs --format otlp" in capsys.readouterr().err


def test_a_password_in_the_url_is_never_printed(
    receiver: OtlpReceiver, tmp_path: Path, quiet_config: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "src", _frames()[:1])
    host, port = receiver.address
    assert _export(tmp_path / "src", f"http://me:s3cret@{host}:{port}") == 0
    assert _export(tmp_path / "src", f"http://me:s3cret@{_dead_url()[7:]}", "--timeout", "0.5") == 2
    out = capsys.readouterr()
    assert "s3cret" not in out.err + out.out and "***@" in out.err


def test_traces_url() -> None:
    assert traces_url("http://h:4318") == traces_url("http://h:4318/") == "http://h:4318/v1/traces"
    assert traces_url("https://otlp.example.com/otlp/v1/traces") == "https://otlp.example.com/otlp/v1/traces"


def test_forwarding_sends_what_was_stored_and_a_dead_endpoint_costs_nothing(tmp_path: Path) -> None:
    downstream = OtlpReceiver(tmp_path / "down", ReceiverOptions(port=0)).start()
    forwarder = Forwarder(_url(downstream)).start()
    upstream = OtlpReceiver(tmp_path / "up", ReceiverOptions(port=0), forward=forwarder.submit).start()
    dead = Forwarder(_dead_url(), timeout_s=0.5).start()
    cut_off = OtlpReceiver(tmp_path / "cut", ReceiverOptions(port=0), forward=dead.submit).start()
    try:
        frames = _frames()
        for target in (upstream, cut_off):
            with OtlpSender(_url(target)) as sender:
                sender.send(frames)
        assert forwarder.wait_idle(30) and dead.wait_idle(30)
        assert forwarder.stats.forwarded == len(frames) and forwarder.stats.failed == 0
        assert dead.stats.failed == len(frames) and dead.stats.forwarded == 0
        assert cut_off.stats.spans_accepted == len(frames)  # ingest went on
        assert len(stored(cut_off.root)) == len(frames)
        up = {f["span_id"]: f for f in stored(upstream.root)}
        down = {f["span_id"]: f for f in stored(downstream.root)}
        assert up.keys() == down.keys() == {f["span_id"] for f in frames}
        for span_id, frame in up.items():
            _same(down[span_id], frame)
    finally:
        for r in (upstream, cut_off):
            r.stop()
        forwarder.stop()
        dead.stop()
        downstream.stop()


def test_forward_queue_is_bounded(tmp_path: Path) -> None:
    """While the endpoint is down the queue keeps the newest frames only, and counts what it dropped."""
    dead = Forwarder(_dead_url(), timeout_s=0.5, queue_frames=4)  # not started: nothing is sent yet
    dead.submit(_frames())
    assert dead.stats.dropped == len(_frames()) - 4
    dead.start()
    dead.stop(timeout=30)
    assert dead.stats.failed + dead.stats.dropped == len(_frames())


def test_serve_forward_otlp_end_to_end(tmp_path: Path) -> None:
    """`smythtop serve --forward-otlp URL` as a user runs it: what it stored reaches the downstream endpoint, and
    its last line counts what was forwarded."""
    downstream = OtlpReceiver(tmp_path / "down", ReceiverOptions(port=0)).start()
    try:
        with serving(tmp_path / "up", tmp_path, "--forward-otlp", _url(downstream)) as served:
            with OtlpSender(f"http://127.0.0.1:{served.port}") as sender:
                sender.send(_frames())
            status, out, err = served.stop(signal.SIGTERM)
        assert status == 0, err
        assert f"forwarded {len(_frames())} frames; 0 failed, 0 dropped" in out
        assert {f["span_id"] for f in stored(downstream.root)} == {f["span_id"] for f in _frames()}
    finally:
        downstream.stop()


def test_serve_refuses_a_bad_forward_url(tmp_path: Path) -> None:
    proc = subprocess.run(
        [SMYTHTOP, "serve", "--store", str(tmp_path / "s"), "--otlp", "127.0.0.1:0", "--forward-otlp", "localhost"],
        capture_output=True, text=True, env=user_env(tmp_path), timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--forward-otlp" in proc.stderr, proc.stderr
