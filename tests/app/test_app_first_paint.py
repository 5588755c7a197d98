"""First paint before the findings: a new window's live panes show at once, its findings (`build_slow`) follow
from a background thread and a tick shows them without new frames; `r` computes them inline; an idle window's
ageing re-analyses refresh them only every FINDINGS_AGEING_S."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import smythtop.analysis.report
from app_testlib import NOW, SEC, wait_for
from waiting import joined

from smythtop.app import app as app_module
from smythtop.app import data
from smythtop.app.config import AppConfig
from smythtop.app.data import Loader, Snapshot, TickRequest
from smythtop.app.widgets.panes import BottlenecksPane
from smythtop.app.window import TimeWindow

GATE_S = 20.0  # a bound on how long a held background computation waits for the test: never reached when it passes


class Held:
    """`build_slow` whose background runs (the thread "smythtop-findings") wait until released; counts every call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gate = threading.Event()
        self.calls: list[str] = []  # the thread of each call
        real = smythtop.analysis.report.build_slow

        def held(*args: Any, **kwargs: Any) -> Any:
            name = threading.current_thread().name
            self.calls.append(name)
            if name == "smythtop-findings":
                self.gate.wait(GATE_S)
            return real(*args, **kwargs)

        monkeypatch.setattr(smythtop.analysis.report, "build_slow", held)


def recording(app: Any) -> list[Snapshot]:
    """Every snapshot the app's loader returns, in order."""
    seen: list[Snapshot] = []
    tick: Callable[[TickRequest], Snapshot] = app.loader.tick

    def recorded(request: TickRequest) -> Snapshot:
        snap = tick(request)
        seen.append(snap)
        return snap

    app.loader.tick = recorded
    return seen


@pytest.fixture
def still_app(make_app, store_root: Path, monkeypatch: pytest.MonkeyPatch):
    """An app on the fixed clock with nothing that would tick it after start-up: no idle tick within the test
    (IDLE_TICK_S an hour) and no maintenance pass (whose compaction would wake it through the store watcher)."""
    monkeypatch.setattr(app_module, "IDLE_TICK_S", 3600.0)
    return make_app(store_root, config=AppConfig(refresh_s=0.25, maintenance="off"))


@pytest.mark.anyio
async def test_first_snapshot_comes_without_findings_and_a_tick_shows_them_when_they_land(
    still_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = Held(monkeypatch)
    app = still_app
    seen = recording(app)
    async with app.run_test(size=(200, 50)) as pilot:
        # the start-up ticks settle (the store check's result shown) while the findings are held
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.health is not None, "store health")
        first = seen[0]
        assert first.findings_pending and not first.findings_inline and first.window_frames == 120
        assert first.report.bottlenecks == [] and first.report.summary.executions == 120  # the live part is there
        pane = app.screen.query_one(BottlenecksPane)
        assert pane.border_subtitle == "computing…"
        assert held.calls == ["smythtop-findings"]
        settled = len(seen)
        held.gate.set()
        await wait_for(pilot, lambda: not app.snapshot.findings_pending, "a tick showing the landed findings")
        shown = app.snapshot
        assert len(seen) == settled + 1 and all(s.new_frames == 0 for s in seen)  # woken by the findings alone
        assert not shown.recomputed and shown.report.summary == first.report.summary
        assert shown.report.bottlenecks and pane.total == len(shown.report.bottlenecks)
        assert pane.border_subtitle != "computing…"


@pytest.mark.anyio
async def test_r_computes_the_findings_at_once_while_the_first_ones_are_still_running(
    still_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = Held(monkeypatch)
    app = still_app
    seen = recording(app)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.health is not None, "store health")
        assert app.snapshot.findings_pending and held.calls == ["smythtop-findings"]
        await pilot.press("r")
        await wait_for(pilot, lambda: not app.snapshot.findings_pending, "the findings of `r`")
        forced = app.snapshot
        assert forced.request.force and forced.recomputed and forced.findings_inline
        assert held.calls[1] != "smythtop-findings"  # computed in the tick's worker, not waiting on the held thread
        assert forced.report.bottlenecks
        held.gate.set()  # the first findings land after `r`'s, which are newer: those stay shown
        assert app.loader._background is not None
        joined(app.loader._background, "the first findings")
        await wait_for(pilot, lambda: seen[-1] is not forced, "the tick the landed findings bring")
        assert seen[-1].report.bottlenecks == forced.report.bottlenecks and not seen[-1].findings_pending


def test_an_ageing_only_reanalysis_refreshes_findings_at_most_every_findings_ageing_s(
    store_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No new frame: the window re-analyses as its buckets age out (every 90 s for 15 minutes, `Loader._reuse`);
    its findings are refreshed only once FINDINGS_AGEING_S old. Both clocks are virtual."""
    wall, mono = [NOW], [1000.0]
    monkeypatch.setattr(data.time, "monotonic", lambda: mono[0])
    held = Held(monkeypatch)
    held.gate.set()
    loader = Loader(store_root, clock=lambda: wall[0])
    window = TimeWindow()

    def idle_tick(seconds: float) -> Snapshot:
        wall[0] += int(seconds * SEC)
        mono[0] += seconds
        snap = loader.tick(TickRequest(window=window))
        if loader._background is not None:
            joined(loader._background, "the background findings")
        return snap

    assert idle_tick(0).findings_pending
    assert not idle_tick(0).findings_pending and len(held.calls) == 1
    refreshed_at, analyses = [mono[0]], 0  # when the findings shown were taken; ageing re-analyses
    for _ in range(10):  # the known frames span the last 10 minutes: they age out from the 6th minute on
        before = len(held.calls)
        snap = idle_tick(90.0)
        assert snap.new_frames == 0
        analyses += snap.recomputed
        if len(held.calls) > before:
            refreshed_at.append(mono[0])
    gaps = [b - a for a, b in itertools.pairwise(refreshed_at)]
    assert analyses >= 5 and len(gaps) >= 2  # refreshed on ageing alone, but at most every FINDINGS_AGEING_S
    assert min(gaps) >= data.FINDINGS_AGEING_S and len(gaps) < analyses
