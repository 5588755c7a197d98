"""Issue 13, the recorder's part: private tags, one rule for tag values, future timestamps, fork inside a
tracked block, frames kept through SIGTERM/SIGHUP and Pool workers, no leak from dropped collectors, and a
bounded number of component states."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from recorder_testlib import PY, REPO, read_frames
from waiting import wait_until

import smythtop.recorder.collector as collector_module
from smythtop.recorder import Collector, VirtualClock

HOUR_NS = 3600 * 10**9


# -- item 6: message content and credentials never reach the store as tags ------------------------------------
def test_content_and_credential_tags_are_dropped_and_counted(make, root: Path) -> None:
    c = make()
    with c.track("LLM", agent_id="a", prompt="the user's question", tags={"API_KEY": "sk-1", "team": "blue"}) as t:
        t.tag(Authorization="Bearer x", password="hunter2", Token="t", region="eu")
        t.set(completion="the model's answer", messages="[...]", input_tokens=5, max_tokens=100, api_key="sk-2")
    c.record({"component": "Tool", "agent_id": "a", "total_ms": 1.0, "success": True, "content": "x"})
    assert c.flush()
    rows = {r["component"]: r for r in read_frames(root)}
    assert dict(rows["LLM"]["tags"]) == {"team": "blue", "region": "eu", "max_tokens": "100"}
    assert rows["LLM"]["input_tokens"] == 5
    assert rows["Tool"]["tags"] in (None, [], {})
    assert c.stats()["tags_denied"] == 9


def test_denied_tag_keys_are_configurable(make, root: Path) -> None:
    c = make({"global": {"allowed_tag_keys": ["Prompt"], "denied_tag_keys": ["tenant", "token"]}})
    with c.track("LLM", agent_id="a", prompt="kept on purpose") as t:
        t.tag(tenant="acme", token="t", content="kept: not in this list")
    assert c.flush()
    (row,) = read_frames(root)
    assert dict(row["tags"]) == {"prompt": "kept on purpose", "content": "kept: not in this list"}
    assert c.stats()["tags_denied"] == 2


# -- item 19: t.tag and t.set follow one rule, and a bad tag value never costs the frame ----------------------
def test_tag_and_set_keep_scalars_as_strings_and_never_lose_the_frame(make, root: Path) -> None:
    c = make()
    with c.track("Step", agent_id="a") as t:
        t.tag(attempt=2, ok=True, ratio=0.5, name="x")
        t.set(retry_note=3)
    with c.track("Odd", agent_id="a", tags={"nested": {"a": 1}}) as t:
        t.tag(items=[1, 2], fine="yes")
        t.set(whatever=[1, 2])
    assert c.flush()
    rows = {r["component"]: r for r in read_frames(root)}
    assert dict(rows["Step"]["tags"]) == {"attempt": "2", "ok": "True", "ratio": "0.5", "name": "x", "retry_note": "3"}
    assert dict(rows["Odd"]["tags"]) == {"fine": "yes"}
    stats = c.stats()
    assert stats["rejected"] == 0
    assert stats["tags_invalid"] == 3


# -- item 14: a frame dated far ahead of the recorder's clock is rejected, counted ------------------------------
def test_frames_dated_beyond_the_skew_are_rejected_and_counted(make, root: Path) -> None:
    c = make({"global": {"max_clock_skew_s": 3600}})
    now = time.time_ns()
    base = {"agent_id": "a", "total_ms": 1.0, "success": True}
    c.record({**base, "component": "Ahead10m", "ts": now + HOUR_NS // 6})  # a skewed agent clock: kept
    c.record({**base, "component": "Year2262", "ts": 2**63 - 1})
    c.record({**base, "component": "Ahead2h", "ts": now + 2 * HOUR_NS})
    with c.track("SetTs", agent_id="a") as t:
        t.set(ts=now + 24 * HOUR_NS)
    with c.track("Now", agent_id="a"):
        pass
    assert c.flush()
    assert sorted(r["component"] for r in read_frames(root)) == ["Ahead10m", "Now"]
    assert c.stats()["rejected_future_ts"] == 3


def test_the_skew_is_measured_against_the_recorders_own_clock(make, root: Path) -> None:
    """A simulation's virtual clock is the recorder's clock: its frames are never 'in the future'."""
    start = time.time_ns() + 48 * HOUR_NS
    c = make(clock=VirtualClock(start))
    with c.track("Simulated", agent_id="a"):
        pass
    c.record({"component": "Recorded", "agent_id": "a", "total_ms": 1.0, "success": True, "ts": start})
    assert c.flush()
    assert len(read_frames(root)) == 2
    assert c.stats()["rejected_future_ts"] == 0


# -- item 16: fork inside a tracked block ----------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_inside_a_tracked_block_records_it_once(make, root: Path) -> None:
    c = make({"global": {"flush_interval_s": 3600}})
    pid = -1
    try:
        with c.track("Outer", agent_id="parent"):
            pid = os.fork()
            if pid == 0:
                with c.track("InChild"):
                    pass
                sys.exit(0)  # leaves Outer in the child, as a worker's sys.exit does
    except BaseException:
        if pid != 0:
            raise
    if pid == 0:  # the child, after leaving Outer: write what it recorded and go
        os._exit(0 if c.flush(timeout=30) else 2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert c.flush()
    rows = read_frames(root)
    assert sorted(r["component"] for r in rows) == ["InChild", "Outer"]
    outer = next(r for r in rows if r["component"] == "Outer")
    child = next(r for r in rows if r["component"] == "InChild")
    assert outer["success"] is True
    assert child["parent_span_id"] == outer["span_id"] != child["span_id"]
    assert child["trace_id"] == outer["trace_id"]
    assert child["agent_id"] == "parent"


# -- item 17: termination keeps buffered frames -----------------------------------------------------------------
SIGNALLED = r"""
import signal, sys, time
from smythtop import Collector
store, flush_on_signal, previous = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
if previous == "handler":
    def mine(signum, frame):
        print("previous handler ran", flush=True)
        sys.exit(7)
    signal.signal(signal.SIGTERM, mine)
    signal.signal(signal.SIGHUP, mine)
c = Collector({"global": {"flush_interval_s": 3600, "flush_on_signal": flush_on_signal}}, store=store)
for _ in range(50):
    with c.track("Work", agent_id="a"):
        pass
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize(("flush_on_signal", "previous"), [(True, "default"), (True, "handler"), (False, "default")])
def test_a_termination_signal_flushes_then_acts_as_before(
    root: Path, signum: int, flush_on_signal: bool, previous: str
) -> None:
    args = [PY, "-c", SIGNALLED, str(root), "1" if flush_on_signal else "0", previous]
    with subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
    written = len(read_frames(root)) if (root / "wal").exists() else 0
    if previous == "handler":  # the program's own handler still decides what happens
        assert proc.returncode == 7 and "previous handler ran" in out, err
        assert written == 50
    else:  # terminated by the signal, as without smythtop
        assert proc.returncode == -signum, err
        assert written == (50 if flush_on_signal else 0)


POOL = r"""
import multiprocessing as mp, os, sys
from smythtop import Collector
COLLECTOR = Collector({"global": {"flush_interval_s": 3600}}, store=os.environ["POOL_STORE"])

def work(i):
    with COLLECTOR.track("Work", agent_id="worker"):
        pass
    return i

if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    if sys.argv[2] == "join":
        pool = ctx.Pool(2)
        assert sum(pool.map(work, range(200), chunksize=10)) == sum(range(200))
        pool.close()
        pool.join()
    else:
        with ctx.Pool(2) as pool:  # leaving the block terminates the workers (SIGTERM)
            assert sum(pool.map(work, range(200), chunksize=10)) == sum(range(200))
    print("done", flush=True)
"""


@pytest.mark.parametrize("ending", ["join", "terminate"])
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_pool_workers_keep_their_buffered_frames(root: Path, tmp_path: Path, method: str, ending: str) -> None:
    script = tmp_path / "pool_script.py"
    script.write_text(POOL)
    env = {**os.environ, "POOL_STORE": str(root)}
    proc = subprocess.run(
        [PY, str(script), method, ending], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and "done" in proc.stdout, proc.stderr
    assert sum(r["component"] == "Work" for r in read_frames(root)) == 200


# -- item 18: a collector dropped without close() leaks nothing -------------------------------------------------
def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts fds in /proc")
def test_dropped_collectors_release_their_thread_and_fds(root: Path) -> None:
    gc.collect()
    threads, fds = threading.active_count(), _fds()
    for i in range(300):
        c = Collector({"global": {"flush_interval_s": 3600}}, store=root)
        with c.track("Once", agent_id=f"a{i}"):
            pass
        assert c.flush()  # the writer is open: its segment and its lock
        del c
    gc.collect()
    wait_until(lambda: threading.active_count() <= threads, "the dropped collectors' flush threads to end")
    wait_until(lambda: _fds() <= fds, "the dropped collectors' files to close")
    assert len(read_frames(root)) == 300


# -- item 21: a bounded number of component states --------------------------------------------------------------
def test_new_names_past_the_cap_fold_into_other(make, root: Path) -> None:
    c = make({"global": {"max_components": 100, "flush_interval_s": 3600, "max_frames_per_second": 0}})
    for i in range(1000):
        with c.track(f"Comp{i}", agent_id="a"):
            pass
        if i % 2:
            c.record({"component": f"Rec{i}", "agent_id": "a", "total_ms": 1.0, "success": True})
    with c.track("Comp5", agent_id="a"):  # a name seen before the cap keeps its own state
        pass
    assert c.flush()
    names = [r["component"] for r in read_frames(root)]
    assert len(names) == 1501
    assert names.count("other") == 1501 - 101
    assert len(c._states) <= 101
    assert c.stats()["components_folded"] == 1400


def test_idle_cost_does_not_grow_with_names(make, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the names stop, the flush thread's per-interval work is constant: no per-name adaptation."""
    clock = VirtualClock(time.time_ns())
    c = make({"global": {"flush_interval_s": 3600}}, clock=clock)
    calls: list[str] = []
    real_adapt = collector_module.adapt
    monkeypatch.setattr(collector_module, "adapt", lambda st, *a: calls.append(st.name) or real_adapt(st, *a))
    for i in range(1000):
        with c.track(f"Comp{i}", agent_id="a"):
            clock.advance(1)
    for _ in range(3):  # the busy window, then idle ones
        clock.advance(2000)
        assert c.flush()
    calls.clear()
    clock.advance(2000)
    assert c.flush()
    assert calls == []
