"""The findings in a worker process (`smythtop.app.findings`): the same findings as in the app's process, a
failure shown as the findings warning, a killed worker replaced by the thread and restarted once per period, and
nothing left running once the loader or the app closes. Two tests here spawn one (~1 s of imports each), and the
restart (a second spawn) is an integration test; every other app test computes the findings in the loader's thread
(`findings_process=False`)."""

from __future__ import annotations

import dataclasses
import io
import multiprocessing
import os
import pickle
import signal
import sys
from multiprocessing import resource_tracker
from pathlib import Path

import polars as pl
import pytest
from app_testlib import NOW, SEC, known_frames, wait_for, write_frames
from smythtop.analysis.baseline import establish_baseline
from smythtop.analysis.report import build_live, build_slow, build_slow_from, slow_inputs
from waiting import joined, wait_until

from smythtop import store
from smythtop.app import data
from smythtop.app.config import AppConfig
from smythtop.app.data import Loader, TickRequest
from smythtop.app.findings import FindingsWorker, WorkerDied
from smythtop.app.window import TimeWindow
from smythtop.baselines import save_baseline


def faster_baseline(root: Path, tmp_path: Path) -> None:
    """A saved baseline of "planner" at a tenth of its known latency: the window's planner then regressed."""
    fast = tmp_path / "fast"
    write_frames(fast, [f | {"total_ms": f["total_ms"] / 10} for f in known_frames()])
    save_baseline(root, establish_baseline(store.scan(fast).collect(), "planner"))


def findings_of(loader: Loader) -> data.Findings:
    """Tick a new live window and wait for its background findings."""
    loader.tick(TickRequest(window=TimeWindow()))
    assert loader._background is not None
    joined(loader._background, "the findings")
    loader.tick(TickRequest(window=TimeWindow()))
    assert loader._findings is not None
    return loader._findings


def refresh(loader: Loader, root: Path, n: int) -> data.Snapshot:
    """A frame arrives and the findings are due (FINDINGS_EVERY_S is 0 in these tests): one background refresh."""
    write_frames(root, [{"ts": NOW - SEC, "agent_id": f"new{n}", "component": "planner", "total_ms": 1.0,
                         "success": True}])  # fmt: skip
    snap = loader.tick(TickRequest(window=TimeWindow()))
    assert snap.recomputed and loader._background is not None
    joined(loader._background, "the findings")
    return loader.tick(TickRequest(window=TimeWindow()))


def findings_children() -> list[multiprocessing.Process]:
    return [p for p in multiprocessing.active_children() if p.name == "smythtop-findings"]


def test_findings_from_shipped_inputs_are_build_slows(store_root: Path, tmp_path: Path) -> None:
    """`slow_inputs` (the raw-frame passes) pickled and `build_slow_from` unpickled give `build_slow`'s findings,
    also where the live part kept no prepared frames (the live buckets' path) and a baseline must be sampled."""
    faster_baseline(store_root, tmp_path)
    baselines = {"planner": establish_baseline(store.scan(tmp_path / "fast").collect(), "planner")}
    live = build_live(store.scan(store_root), window_from=None, window_to=None)
    want = build_slow(live, baselines=baselines)
    assert want.regressions and want.bottlenecks and want.critical_path  # every input has something to carry
    shipped = pickle.loads(pickle.dumps(slow_inputs(dataclasses.replace(live, df=None), baselines=baselines)))
    assert build_slow_from(shipped) == want


class CapturedStderr(io.StringIO):
    """sys.stderr inside a running Textual app: a capture object without a file descriptor."""

    def fileno(self) -> int:
        return -1


def test_the_worker_computes_the_threads_findings_outlives_a_failure_falls_back_after_a_kill_and_closes(
    store_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faster_baseline(store_root, tmp_path)
    in_thread = findings_of(Loader(store_root, clock=lambda: NOW))
    tracker = resource_tracker.ResourceTracker()  # not started yet, as in a new app process
    for name in ("_resource_tracker", "ensure_running", "getfd", "register", "unregister"):
        monkeypatch.setattr(resource_tracker, name, tracker if name == "_resource_tracker" else getattr(tracker, name))
    loader = Loader(store_root, clock=lambda: NOW, findings_process=True)
    with monkeypatch.context() as running:  # the app runs: its first findings start the worker
        running.setattr(sys, "stderr", CapturedStderr())
        in_worker = findings_of(loader)
    worker = loader._worker
    assert isinstance(worker, FindingsWorker) and worker.pid is not None and worker.failures == 0  # from the worker
    assert in_worker.slow == in_thread.slow and in_worker.slow.regressions
    monkeypatch.setattr(data, "FINDINGS_EVERY_S", 0.0)

    def broken(*args: object, **kwargs: object) -> object:
        inputs = slow_inputs(*args, **kwargs)  # type: ignore[arg-type]
        return dataclasses.replace(inputs, comps=pl.DataFrame())  # fails in the worker: no column "component"

    with monkeypatch.context() as patched:
        patched.setattr("smythtop.analysis.report.slow_inputs", broken)
        pid = worker.pid
        failed = refresh(loader, store_root, 1)
    assert failed.warning is not None and failed.warning.startswith("findings not refreshed: ColumnNotFoundError")
    assert failed.report.regressions == in_worker.slow.regressions  # the last findings stay shown
    assert worker.pid == pid and worker.failures == 0  # a failed computation is not a failed worker

    moment = [0.0]
    worker.clock = lambda: moment[0]
    os.kill(pid, signal.SIGKILL)
    killed = refresh(loader, store_root, 2)  # computed in the thread: the findings still move, no warning
    assert {"new2"} <= {a.agent_id for a in killed.report.agent_components} and killed.warning is None
    assert worker.failures == 1 and worker.pid is None
    moment[0] += worker.restart_after_s / 2
    again = refresh(loader, store_root, 3)  # too soon to restart: the thread again
    assert {"new3"} <= {a.agent_id for a in again.report.agent_components}
    assert worker.failures == 1 and worker.pid is None

    loader.close()
    assert worker.pid is None and findings_children() == []
    with pytest.raises(WorkerDied):  # a closed worker starts no process, and computes in the thread no more
        worker.findings(slow_inputs(build_live(store.scan(store_root))))
    assert findings_children() == []
    tracker._stop()  # this test's own resource tracker process


@pytest.mark.integration  # two workers spawned: `make test-integration`
def test_a_killed_worker_is_restarted_once_its_period_is_over(
    store_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data, "FINDINGS_EVERY_S", 0.0)
    loader = Loader(store_root, clock=lambda: NOW, findings_process=True)
    findings_of(loader)
    worker = loader._worker
    assert isinstance(worker, FindingsWorker) and worker.pid is not None
    moment = [0.0]
    worker.clock = lambda: moment[0]
    pid = worker.pid
    os.kill(pid, signal.SIGKILL)
    refresh(loader, store_root, 1)  # computed in the thread (the test above)
    assert worker.failures == 1 and worker.pid is None
    moment[0] += worker.restart_after_s
    restarted = refresh(loader, store_root, 2)
    assert {"new2"} <= {a.agent_id for a in restarted.report.agent_components}
    assert worker.failures == 1 and worker.pid not in (None, pid)
    loader.close()
    assert findings_children() == []


@pytest.mark.anyio
async def test_the_app_starts_its_findings_worker_after_the_first_paint_and_stops_it_on_exit(
    make_app, store_root: Path
) -> None:
    app = make_app(store_root, config=AppConfig(refresh_s=0.25, maintenance="off"), findings_process=True)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and not app.snapshot.findings_pending, "the findings")
        assert app.snapshot.report.bottlenecks and app.loader._worker.pid is not None
        assert findings_children()
    wait_until(lambda: findings_children() == [], "the findings worker to stop", timeout=10.0)
