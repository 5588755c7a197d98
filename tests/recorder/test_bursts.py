"""Bursts (issue 11): the sampler meets a flood within CHECK executions, the tail has its own cap, and the
executions the recorder loses are written to the store as account frames.

Virtual clocks throughout: each execution advances the clock by a fixed time, so the speed of a flood is a
known answer, not a property of the machine. Draws are seeded, so every count here is reproducible.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

import polars as pl
from recorder_testlib import read_frames

from smythtop import store
from smythtop.recorder import VirtualClock, sampling

T0 = 1_767_225_600 * 10**9


def flood(c, clock: VirtualClock, n: int, step_ns: int, *, fail: bool = False, component: str = "Hot") -> None:
    for _ in range(n):
        with c.track(component, agent_id="a") as t:
            clock.advance(step_ns / 1e6)
            if fail:
                t.fail("Overloaded")


def weighted(rows: list[dict], component: str) -> float:
    return sum(1.0 / r["sample_rate"] for r in rows if r["component"] == component)


def test_a_tight_loop_is_thinned_within_one_check_and_nothing_is_lost(make, root: Path) -> None:
    """300K executions at 1M/s (0.3 s) with the default cap of 1,000 frames/s and a 10,000-frame buffer, no flush
    in between: before, a third were lost to the full buffer; now about a second's budget is kept, none lost,
    and the weighted count still estimates the 300K."""
    random.seed(11)
    clock = VirtualClock(T0)
    c = make({"global": {"flush_interval": 3600}}, clock=clock)
    n = 300_000
    flood(c, clock, n, 1_000)
    stats = c.stats()
    assert stats["dropped_buffer_full"] == 0
    # one second's budget (1,000) + the cap over 0.3 s (300) + the executions before the first check (64)
    assert stats["buffered"] <= 1_000 + 300 + sampling.CHECK
    assert c.flush()
    rows = read_frames(root)
    assert abs(weighted(rows, "Hot") - n) / n < 0.1  # Horvitz-Thompson over ~1,300 frames: sd about 3 %
    assert store.unrecorded(root).collect().height == 0


def test_a_short_burst_within_a_seconds_budget_is_kept_whole(make, root: Path) -> None:
    clock = VirtualClock(T0)
    c = make({"global": {"flush_interval": 3600}}, clock=clock)
    flood(c, clock, 900, 1_000)  # 900 executions in 0.9 ms: fast, but under one second's budget of 1,000
    assert c.flush()
    rows = read_frames(root)
    assert len(rows) == 900 and {r["sample_rate"] for r in rows} == {1.0}


def test_a_flood_of_errors_cannot_defeat_the_cap(make, root: Path) -> None:
    """Errors used to be kept whatever their number; now the tail has half the cap (rule 7), weighted."""
    random.seed(12)
    clock = VirtualClock(T0)
    c = make({"global": {"flush_interval": 3600}}, clock=clock)
    n = 100_000
    flood(c, clock, n, 2_000, fail=True)  # 100K failures in 0.2 s
    stats = c.stats()
    assert stats["dropped_buffer_full"] == 0
    cap = 1_000 * sampling.TAIL_SHARE
    assert stats["buffered"] <= 1_000 + cap + cap * 0.2 + 2 * sampling.CHECK
    assert c.flush()
    rows = read_frames(root)
    assert not any(r["success"] for r in rows)
    assert abs(weighted(rows, "Hot") - n) / n < 0.15


def test_the_flush_thread_raises_the_rate_again_once_the_flood_is_over(make, root: Path) -> None:
    random.seed(13)
    clock = VirtualClock(T0)
    c = make({"global": {"flush_interval": 3600}}, clock=clock)
    flood(c, clock, 50_000, 1_000)
    st = c._states["Hot"]
    assert st.rate < 0.01
    windows = 0
    while st.rate < 1.0 and windows < 10:  # the executions-per-second estimate halves every quiet window
        clock.advance(2_000)
        assert c.flush()
        windows += 1
    assert windows <= 6 and st.rate == 1.0 and st.tail_rate == 1.0


def test_buffer_full_losses_are_written_as_account_frames(make, root: Path) -> None:
    """The ring buffer overwrites the oldest frames; each overwritten execution is accounted for, by component."""
    c = make({"global": {"buffer_size": 100, "flush_interval": 3600, "max_frames_per_second": 0}})
    gate, in_callback = threading.Event(), threading.Event()

    def stall(_frames: list[dict]) -> None:
        in_callback.set()
        gate.wait(30)

    c.on("batch-flush", stall)
    with c.track("First", agent_id="a"):
        pass
    threading.Thread(target=c.flush, daemon=True).start()
    assert in_callback.wait(10)
    for i in range(600):
        with c.track("Burst" if i % 3 else "Other", agent_id="b"):
            pass
    gate.set()
    c.off("batch-flush", stall)
    assert c.flush()
    stats = c.stats()
    assert stats["dropped_buffer_full"] == 500
    accounts = store.unrecorded(root).collect()
    by = dict(accounts.group_by("component").agg(pl.col("unrecorded").sum()).iter_rows())
    assert sum(by.values()) == 500 and set(by) == {"Burst", "Other"}
    assert by["Other"] == 167  # the first 500 of 600, every third one "Other": i = 0, 3, ..., 498
    assert set(accounts["reason"]) == {"buffer_full"} and set(accounts["agent_id"]) == {"b"}
    # accounts are not executions: scan and the tail never show them
    assert {r["component"] for r in read_frames(root)} == {"First", "Burst", "Other"}
    assert len(read_frames(root)) == 1 + 100
    history, _ = store.Tailer.with_history(root)
    assert history.collect().height == 101


def test_the_tail_keeps_accounts_apart(make, root: Path) -> None:
    c = make({"global": {"flush_interval": 3600}})
    tailer = store.Tailer(root, from_start=True)
    c._unrecorded.add("a", "Lost", "buffer_full", 7.0)
    c._unrecorded.add("a", "Lost", "rejected", 2.5)  # a fraction waits for the next flush
    with c.track("Kept", agent_id="a"):
        pass
    assert c.flush()
    frames = tailer.poll()
    assert frames is not None and frames["component"].to_list() == ["Kept"]
    accounts = tailer.take_accounts()
    assert accounts is not None
    assert sorted(accounts.select("reason", "unrecorded").rows()) == [("buffer_full", 7), ("rejected", 2)]
    assert tailer.take_accounts() is None
    assert c.stats()["unrecorded_pending"] == 0.5
