"""The ring buffer, flushing and events: drops are counted, flush/close/atexit write everything,
the daemon thread never keeps a process alive, and event callbacks (even raising ones) are isolated."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest
from recorder_testlib import PY, REPO, read_frames
from waiting import wait_until

from smythtop.recorder import PerformanceEvent, VirtualClock

START = 1_767_225_600 * 10**9  # 2026-01-01T00:00Z: the virtual clock of the events test


def test_full_buffer_drops_the_oldest_and_counts_every_drop(make, root: Path) -> None:
    # no frames/s cap: this is about the ring buffer, not the sampler (which would thin a 1,000-execution burst)
    c = make({"global": {"buffer_size": 100, "flush_interval": 3600, "max_frames_per_second": 0}})
    gate = threading.Event()
    in_callback = threading.Event()

    def stall(_frames: list[dict]) -> None:
        in_callback.set()
        gate.wait(30)  # hold the flush thread inside its callback: nothing drains

    c.on("batch-flush", stall)
    with c.track("First", agent_id="a"):
        pass
    threading.Thread(target=c.flush, daemon=True).start()
    assert in_callback.wait(10)
    total = 1_000
    for i in range(total):
        with c.track("Burst", agent_id="a") as t:
            t.set(retry_count=i)
    stats = c.stats()
    assert stats["buffered"] == 100
    assert stats["dropped_buffer_full"] == total - 100
    gate.set()
    c.off("batch-flush", stall)
    assert c.flush()
    burst = [r for r in read_frames(root) if r["component"] == "Burst"]
    assert sorted(r["retry_count"] for r in burst) == list(range(total - 100, total))  # the newest survive
    stats = c.stats()
    assert stats["written"] + stats["dropped_buffer_full"] == total + 1


def test_flush_interval_writes_without_an_explicit_flush(make, root: Path) -> None:
    c = make({"global": {"flush_interval": 0.05}})
    with c.track("Periodic", agent_id="a"):
        pass
    wait_until(lambda: c.stats()["written"] > 0, "the flush thread's periodic flush")
    assert [r["component"] for r in read_frames(root)] == ["Periodic"]


def test_half_full_buffer_wakes_the_flush_thread(make, root: Path) -> None:
    c = make({"global": {"buffer_size": 200, "flush_interval": 3600}})
    for _ in range(150):
        with c.track("Fill", agent_id="a"):
            pass
    # Written well before the hour-long interval: the half-full buffer woke the flush thread.
    wait_until(lambda: c.stats()["written"] >= 100, "the flush woken by a half-full buffer")


ATEXIT_SCRIPT = r"""
import sys
from smythtop import Collector
c = Collector({"global": {"flush_interval": 3600}}, store=sys.argv[1])
for i in range(25):
    with c.track("AtExit", agent_id="script") as t:
        t.set(retry_count=i)
# no flush, no close: atexit writes them, and the daemon flush thread does not keep us alive
"""


def test_atexit_flushes_and_the_thread_never_keeps_the_process_alive(root: Path) -> None:
    try:  # a flush thread keeping the process alive would hold it for the hour-long flush_interval
        proc = subprocess.run(
            [PY, "-c", ATEXIT_SCRIPT, str(root)], cwd=REPO, capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the script did not exit within 60 s: something kept the process alive")
    assert proc.returncode == 0, proc.stderr
    rows = read_frames(root)
    assert sorted(r["retry_count"] for r in rows) == list(range(25))
    assert {r["agent_id"] for r in rows} == {"script"}


def test_performance_events_for_errors_slowness_cost_and_rates(make, root: Path) -> None:
    config = {
        "global": {"flush_interval_s": 3600},  # one batch, so the per-batch rates see every execution
        "llm": {"cost_thresholds": {"call_warning_usd": 0.01, "call_critical_usd": 0.5}},
        "alerts": {"latency_p95_ms": 30.0, "error_rate": 0.2, "memory_pressure": 0.9, "cost_per_call_usd": 0.02},
    }
    clock = VirtualClock(START)  # only "Slow" takes time, so no other execution can be slow by chance
    c = make(config, clock=clock)
    events: list[PerformanceEvent] = []
    c.on("performance-event", events.append)
    for i in range(4):
        try:
            with c.track("Flaky", agent_id="a"):
                if i < 2:
                    raise OSError("down")
        except OSError:
            pass
    with c.track("Slow", agent_id="a"):
        clock.advance(50)
    with c.track("Pricey", agent_id="a") as t:  # about $0.10: a warning, not critical
        t.llm("gpt-4.1", "openai", input_tokens=40_000, output_tokens=2_500)
    with c.track("Cheap", agent_id="a") as t:
        t.llm("gpt-4o-mini", "openai", input_tokens=1_000, output_tokens=100)
    with c.track("Hog", agent_id="a") as t:
        t.set(mem_pressure=0.95)  # over 0.9
    c.flush()
    kinds = sorted((e.kind, e.severity, e.component) for e in events)
    assert kinds == [
        ("cost", "warning", "Pricey"),
        ("cost-per-operation", "warning", "Pricey"),
        ("error", "warning", "Flaky"),
        ("error", "warning", "Flaky"),
        ("error-rate", "critical", "Flaky"),
        ("memory", "critical", "Hog"),
        ("slow", "warning", "Slow"),
    ]
    rate = next(e for e in events if e.kind == "error-rate")
    assert rate.value == 0.5 and rate.threshold == 0.2
    cost = next(e for e in events if e.kind == "cost")
    assert cost.frame is not None and cost.value == cost.frame["cost_usd"] > 0.01


def test_batch_flush_gets_the_written_frames(make, root: Path) -> None:
    c = make()
    batches: list[list[dict]] = []
    c.on("batch-flush", batches.append)
    for name in ("A", "B"):
        with c.track(name, agent_id="a"):
            pass
    c.flush()
    assert sorted(f["component"] for batch in batches for f in batch) == ["A", "B"]


def test_a_raising_callback_is_counted_and_isolated(make, root: Path) -> None:
    c = make()
    seen: list[int] = []

    def broken(_frames: list[dict]) -> None:
        raise RuntimeError("callback bug")

    c.on("batch-flush", broken)
    c.on("batch-flush", lambda frames: seen.append(len(frames)))
    c.on("performance-event", broken)
    for _ in range(2):
        try:
            with c.track("Op", agent_id="a"):
                raise KeyError("x")  # per flush: an error and an error-rate event, and the batch
        except KeyError:
            pass
        c.flush()
    assert seen == [1, 1]  # the good callback ran every time
    assert c.stats()["callback_errors"] == 6
    assert len(read_frames(root)) == 2  # and the frames were written
