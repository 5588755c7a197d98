"""The simulated fleet: realistic, reproducible with a seed, recorded through the real API; live runs
stop cleanly; `smythtop demo --no-ui` works end to end."""

from __future__ import annotations

import statistics
import threading
from pathlib import Path

import pytest
from recorder_testlib import by_component, read_frames
from waiting import joined, wait_until

from smythtop import store
from smythtop.cli import main
from smythtop.fleet import FleetOptions, FleetReport, backfill, run_fleet

END = 1_767_225_600 * 10**9  # 2026-01-01T00:00Z
IDS = ("trace_id", "span_id", "parent_span_id")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    root = tmp_path_factory.mktemp("fleet") / "store"
    report = backfill(FleetOptions(store=root, agents=6, rate=3.0, seed=42), 0.25, end_ns=END)
    rows = read_frames(root)
    assert report.frames == len(rows) > 1_000
    assert report.stats["dropped_buffer_full"] == 0 and report.stats["rejected"] == 0
    return rows


def test_backfill_looks_like_an_llm_agent_fleet(history: list[dict]) -> None:
    rows = history
    comps = by_component(rows)
    assert {"HandleRequest", "Planner", "Retriever", "Embedder", "VectorSearch", "LLMAssistant", "Summariser"} <= set(
        comps
    )
    tools = {n: c for n, c in comps.items() if n.startswith("ToolCall:")}
    assert len(tools) >= 6
    llm = [r for r in rows if r["output_tokens"] is not None and r["component"] != "Embedder"]
    assert {r["provider"] for r in llm} >= {"openai", "anthropic", "google"}
    assert len({r["model"] for r in llm}) >= 8
    priced = [r for r in llm if r["cost_usd"] is not None]
    assert len(priced) > 0.8 * len(llm) and all(r["cost_usd"] > 0 for r in priced)
    assert {r["model"] for r in llm if r["cost_usd"] is None} == {"llama-3.1-8b-instruct"}  # self-hosted: unpriced
    assert sum(r["cache_read_tokens"] or 0 for r in llm) > 0.1 * sum(r["input_tokens"] for r in llm)
    assert any(r["cache_write_tokens"] for r in llm if r["provider"] == "anthropic")
    assert any(r["reasoning_tokens"] for r in llm)
    assert all(r["ttft_ms"] and r["ttft_ms"] < r["total_ms"] for r in llm)
    # Errors, retries after them, and a clearly slow component.
    assert 0.005 < sum(not r["success"] for r in rows) / len(rows) < 0.1
    assert any(r["retry_count"] for r in rows if r["success"] and r["component"] == "LLMAssistant")
    medians = {n: statistics.median(r["total_ms"] for r in c) for n, c in tools.items()}
    assert max(medians, key=medians.__getitem__) == "ToolCall:browser"
    assert medians["ToolCall:browser"] > 2 * sorted(medians.values())[-2]
    # Flows: bytes in and out on most frames.
    assert sum(r["output_bytes"] is not None for r in rows) > 0.8 * len(rows)
    # Timestamps spread over the past 15 minutes.
    assert END - 15 * 60 * 10**9 <= rows[0]["ts"] < rows[-1]["ts"] < END
    assert rows[-1]["ts"] - rows[0]["ts"] > 10 * 60 * 10**9


def test_backfill_traces_are_whole_trees(history: list[dict]) -> None:
    spans = {r["span_id"]: r for r in history}
    assert len(spans) == len(history)
    roots = [r for r in history if r["parent_span_id"] is None]
    assert {r["component"] for r in roots} == {"HandleRequest"}
    for r in history:
        if r["parent_span_id"] is not None:
            parent = spans[r["parent_span_id"]]
            assert parent["trace_id"] == r["trace_id"] and parent["agent_id"] == r["agent_id"]
            assert parent["ts"] <= r["ts"]
            assert r["ts"] + r["total_ms"] * 1e6 <= parent["ts"] + parent["total_ms"] * 1e6 + 1e6
    # Parallel tool calls: siblings whose time ranges overlap.
    by_parent: dict[str, list[dict]] = {}
    for r in history:
        if r["component"].startswith("ToolCall:"):
            by_parent.setdefault(r["parent_span_id"], []).append(r)
    assert any(len(s) > 1 and len({t["ts"] for t in s}) == 1 for s in by_parent.values())


@pytest.mark.slow
def test_backfill_is_reproducible_with_a_seed(tmp_path: Path, history: list[dict]) -> None:
    again = tmp_path / "again"
    backfill(FleetOptions(store=again, agents=6, rate=3.0, seed=42), 0.25, end_ns=END)
    other = tmp_path / "other"
    backfill(FleetOptions(store=other, agents=6, rate=3.0, seed=43), 0.25, end_ns=END)

    def strip(rows: list[dict]) -> list[tuple]:
        return sorted(tuple((k, repr(v)) for k, v in r.items() if k not in IDS) for r in rows)

    assert strip(read_frames(again)) == strip(history)
    assert strip(read_frames(other)) != strip(history)


def test_live_fleet_runs_in_a_thread_and_stops_cleanly(tmp_path: Path) -> None:
    root = tmp_path / "live"
    stop = threading.Event()
    options = FleetOptions(store=root, agents=3, rate=40.0, seed=1, compact_every_s=0.5)
    live = FleetReport()
    result: list = []
    thread = threading.Thread(target=lambda: result.append(run_fleet(options, stop, report=live)), daemon=True)
    thread.start()
    # Live: some requests dispatched and a batch written while it runs; then it must stop.
    wait_until(lambda: live.requests >= 20 and live.frames > 0, "20 live requests and a written batch", 60)
    stop.set()
    joined(thread, "the stopped fleet", 30)
    (report,) = result
    assert report is live and report.requests >= 20
    rows = read_frames(root)
    assert len(rows) == report.frames == report.stats["written"]
    # Every dispatched request ran to its end, even those still queued at the stop: one root each.
    queued = [r["queue_ms"] for r in rows if r["component"] == "HandleRequest"]
    assert len(queued) == report.requests
    assert all(q is not None and q >= 0 for q in queued)
    check = store.check(root)
    assert check.ok and check.wal_frames == 0 and check.parquet_frames == len(rows)  # compacted at the end


def test_demo_command_backfill(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "demo"
    argv = ["demo", "--no-ui", "--store", str(root), "--backfill", "0.05", "--seed", "7", "--agents", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "backfill:" in out and "0 frames lost" in out and f"smythtop store stats --store {root}" in out
    rows = read_frames(root)
    assert {r["agent_id"] for r in rows} == {"support-bot", "research-agent"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--no-ui"),
        (["--no-ui", "--agents", "0"], "--agents"),
        (["--no-ui", "--rate", "-1"], "--rate"),
        (["--no-ui", "--backfill", "0"], "--backfill"),
    ],
)
def test_demo_command_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert main(["demo", "--store", str(tmp_path / "s"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
