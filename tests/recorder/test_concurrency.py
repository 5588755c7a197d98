"""Async and threads: the decorator on `async def`, trace propagation through tasks, to_thread,
`propagate` into plain threads and executors, and many threads recording at once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from recorder_testlib import read_frames
from waiting import joined

from smythtop.recorder import propagate


def test_async_decorator_and_tasks_propagate_the_trace(make, root: Path) -> None:
    c = make()

    @c.tracked("Fetch", agent_id="async-agent")
    async def fetch(i: int) -> int:
        await asyncio.sleep(0.001 * (3 - i))  # finish out of order
        return i

    async def request() -> list[int]:
        with c.track("Request", agent_id="async-agent"):
            results = await asyncio.gather(*(fetch(i) for i in range(3)))
            await asyncio.to_thread(blocking)
            return results

    def blocking() -> None:
        with c.track("Blocking"):
            pass

    async def main() -> list[list[int]]:
        return await asyncio.gather(request(), request())  # two concurrent requests, two traces

    assert asyncio.run(main()) == [[0, 1, 2], [0, 1, 2]]
    c.flush()
    rows = read_frames(root)
    requests = {r["span_id"]: r for r in rows if r["component"] == "Request"}
    assert len(requests) == 2 and len({r["trace_id"] for r in requests.values()}) == 2
    children = [r for r in rows if r["component"] in ("Fetch", "Blocking")]
    assert len(children) == 8
    for child in children:
        parent = requests[child["parent_span_id"]]  # each child hangs off its own request
        assert child["trace_id"] == parent["trace_id"]
    for span in requests:
        mine = [r for r in children if r["parent_span_id"] == span]
        assert sorted(r["component"] for r in mine) == ["Blocking", "Fetch", "Fetch", "Fetch"]
        assert {r["agent_id"] for r in mine} == {"async-agent"}


def test_async_exception_recorded_and_reraised(make, root: Path) -> None:
    c = make()

    @c.tracked("Flaky", agent_id="a")
    async def flaky() -> None:
        raise TimeoutError("slow upstream")

    async def main() -> str:
        try:
            await flaky()
        except TimeoutError as exc:
            return str(exc)
        return "no error"

    assert asyncio.run(main()) == "slow upstream"
    c.flush()
    (row,) = read_frames(root)
    assert (row["success"], row["error_type"]) == (False, "TimeoutError")


def test_threads_and_executors_carry_the_trace(make, root: Path) -> None:
    c = make()

    def work(name: str) -> None:
        with c.track(name):
            pass

    class Worker(threading.Thread):  # overrides run(): carried all the same
        def run(self) -> None:
            work("InSubclass")

    with c.track("Parent", agent_id="p") as parent:
        t = threading.Thread(target=work, args=("InThread",))
        t.start()
        joined(t, "the traced thread")
        w = Worker()
        w.start()
        joined(w, "the Thread subclass")
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(work, ["InPool1", "InPool2"], timeout=30))
            pool.submit(propagate(work), "Propagated").result(timeout=30)
    outside = threading.Thread(target=work, args=("Outside",))  # started with no execution current
    outside.start()
    joined(outside, "the thread started outside any execution")
    c.flush()
    rows = {r["component"]: r for r in read_frames(root)}
    for name in ("InThread", "InSubclass", "InPool1", "InPool2", "Propagated"):
        assert rows[name]["parent_span_id"] == parent.span_id, name
        assert rows[name]["trace_id"] == parent.trace_id
        assert rows[name]["agent_id"] == "p"
    assert rows["Outside"]["parent_span_id"] is None
    assert rows["Outside"]["trace_id"] != parent.trace_id


def test_thread_propagation_can_be_turned_off(root: Path) -> None:
    code = f"""
import threading
from smythtop import store
from smythtop.recorder import Collector
c = Collector({{"global": {{"propagate_threads": False}}}}, store={str(root)!r})
def work():
    with c.track("Bare"):
        pass
with c.track("Parent", agent_id="p") as parent:
    t = threading.Thread(target=work); t.start(); t.join()
c.close()
rows = {{r["component"]: r for r in store.scan({str(root)!r}).collect().iter_rows(named=True)}}
print(rows["Bare"]["parent_span_id"] is None, rows["Bare"]["trace_id"] != rows["Parent"]["trace_id"])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["True", "True"]


def test_many_threads_lose_nothing(make, root: Path) -> None:
    # No volume cap: 8,000 executions per component would trip it if the run took over a second.
    c = make({"global": {"flush_interval": 0.05, "buffer_size": 100_000, "max_frames_per_second": 0}})
    per_thread, threads = 2_000, 8

    def worker(n: int) -> None:
        for i in range(per_thread):
            with c.track(f"Worker{n % 2}", agent_id=f"t{n}") as t:
                t.set(retry_count=i)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        joined(t, "a recording thread")
    assert c.flush()
    rows = read_frames(root)
    assert len(rows) == per_thread * threads
    for n in range(threads):
        mine = sorted(r["retry_count"] for r in rows if r["agent_id"] == f"t{n}")
        assert mine == list(range(per_thread))
    assert len({r["span_id"] for r in rows}) == len(rows)
    stats = c.stats()
    assert stats["dropped_buffer_full"] == 0 and stats["internal_errors"] == 0
    assert stats["written"] == per_thread * threads
