"""An idle app costs next to nothing: a tick with nothing new reuses what it can, and the screen repaints only what
moved (the status line's clock), without re-rendering the panes or laying the whole screen out again."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
import smythtop.analysis.unrecorded
from app_testlib import NOW, SEC, known_frames, wait_for, write_frames
from lossy import lose_500

from smythtop.app import SmythtopApp
from smythtop.app.config import AppConfig
from smythtop.app.data import Loader, TickRequest
from smythtop.app.screens.main import MainScreen
from smythtop.app.widgets.status import StatusLine
from smythtop.app.window import TimeWindow

pytestmark = pytest.mark.anyio

# NOW is 10 s into a 15 s bucket of the 15-minute window: its aligned start stays put until NOW + 5 s
SAME_BUCKET_S = (1, 2, 3, 4)


def counting_unrecorded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Calls made on this thread: an earlier test's app on the same xdist worker may still be ticking in a thread."""
    calls = [0]
    real = smythtop.analysis.unrecorded.unrecorded
    mine = threading.current_thread()

    def spy(accounts):
        calls[0] += threading.current_thread() is mine
        return real(accounts)

    monkeypatch.setattr(smythtop.analysis.unrecorded, "unrecorded", spy)
    return calls


def test_an_idle_tick_reuses_the_lost_executions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "store"
    lose_500(root, NOW - 300 * SEC)
    clock = [NOW]
    loader = Loader(root, clock=lambda: clock[0])
    calls = counting_unrecorded(monkeypatch)
    request = TickRequest(window=TimeWindow())
    assert loader.tick(request).report.unrecorded.executions == 500
    for s in SAME_BUCKET_S:  # now moves, the window's start does not, no account arrives: the same sum
        clock[0] = NOW + s * SEC
        assert loader.tick(request).report.unrecorded.executions == 500
    assert calls[0] == 1
    clock[0] = NOW + 20 * SEC  # a bucket left the window: summed again
    assert loader.tick(request).report.unrecorded.executions == 500
    assert calls[0] == 2
    lose_500(root, NOW - 200 * SEC)  # new accounts from the tail: summed again
    assert loader.tick(request).report.unrecorded.executions == 1000
    assert calls[0] == 3


def test_an_account_dated_ahead_is_counted_once_now_passes_it(tmp_path: Path) -> None:
    """Within one bucket the window's start stays put but its end (now) moves: an account dated between two
    ticks' now enters the window then, though nothing new arrived."""
    root = tmp_path / "store"
    write_frames(root, known_frames())
    lose_500(root, NOW + 1 * SEC)  # its accounts are dated NOW + 1.601 s
    clock = [NOW]
    loader = Loader(root, clock=lambda: clock[0])
    request = TickRequest(window=TimeWindow())
    assert loader.tick(request).report.unrecorded.executions == 0
    clock[0] = NOW + 1 * SEC
    assert loader.tick(request).report.unrecorded.executions == 0
    clock[0] = NOW + 3 * SEC
    assert loader.tick(request).report.unrecorded.executions == 500


async def test_the_status_clock_moves_without_a_layout_pass(store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [NOW]
    app = SmythtopApp(store_root, config=AppConfig(refresh_s=0.25), clock=lambda: clock[0], export_dir=store_root)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 1, "the first snapshot")
        status = app.screen.query_one(StatusLine)
        layouts: list[bool] = []
        real = StatusLine.update

        def spy(self, content="", *, layout: bool = True) -> None:
            layouts.append(layout)
            real(self, content, layout=layout)

        monkeypatch.setattr(StatusLine, "update", spy)
        before = str(status.render())
        clock[0] = NOW + 7 * SEC  # the window's start clock in the status line moves by 7 s
        app._update_status()
        assert str(status.render()) != before
        assert layouts == [False]  # the same width and wrapping: a repaint of the line only
        app._update_status()
        assert layouts == [False]  # nothing changed: not even a repaint
        app._update_status(loading=True)  # "loading…" appears: the line may wrap differently, laid out again
        assert layouts == [False, True]


async def test_a_reused_report_does_not_re_render_the_panes(
    store_root: Path, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle tick reuses the report while buckets age out of the window (its frame count moves): the panes,
    which show only the report, stay as they are; the window turning empty shows the empty text."""
    app = make_app(store_root)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 1, "the first snapshot")
        screen = app.screen
        assert isinstance(screen, MainScreen)
        rendered = [0]
        real = MainScreen._render_panes

        def spy(self) -> None:
            rendered[0] += 1
            real(self)

        monkeypatch.setattr(MainScreen, "_render_panes", spy)
        snap = app.snapshot
        assert snap is not None and snap.window_frames == 120
        screen.show_snapshot(replace(snap, window_frames=100))
        assert rendered[0] == 0
        screen.show_snapshot(replace(snap, window_frames=0))
        assert rendered[0] == 1 and screen.has_class("-empty")
