"""The first tick started before Textual (`smythtop.app.first`, `top_cmd.make_app`): the app shows its snapshot
instead of computing another, the same one the normal path shows; a changed window or a failure falls back to the
usual tick and the failed tick's report; and the module loads no Textual, so the CLI can start it first."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from app_testlib import NOW, SEC, wait_for

from smythtop.app import app as app_module
from smythtop.app.config import AppConfig
from smythtop.app.data import Loader, Snapshot, TickRequest
from smythtop.app.first import FIRST_SWITCH_S, FirstTick
from smythtop.app.window import TimeWindow
from smythtop.cli.top_cmd import make_app

CONFIG = AppConfig(refresh_s=0.25, maintenance="off")
IMPORT_TIMEOUT_S = 60.0


def _tick_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The thread of every `Loader.tick` call from now on."""
    threads: list[str] = []
    real = Loader.tick

    def counted(self: Loader, request: TickRequest) -> Snapshot:
        threads.append(threading.current_thread().name)
        return real(self, request)

    monkeypatch.setattr(Loader, "tick", counted)
    return threads


@pytest.mark.anyio
async def test_the_app_shows_the_early_first_tick_instead_of_computing_another(
    store_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "IDLE_TICK_S", 3600.0)
    expected = Loader(store_root, clock=lambda: NOW).tick(TickRequest(window=TimeWindow()))  # the normal path's
    threads = _tick_threads(monkeypatch)
    applied: list[tuple[int, Snapshot]] = []  # (loader ticks so far, snapshot) at each snapshot the app applies
    real_ready = app_module.SmythtopApp.on_snapshot_ready

    def ready(self: Any, message: Any) -> None:
        applied.append((len(threads), message.snapshot))
        real_ready(self, message)

    monkeypatch.setattr(app_module.SmythtopApp, "on_snapshot_ready", ready)
    app = make_app(store_root, CONFIG, clock=lambda: NOW, findings_process=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 1, "the first snapshot")
        ticks_then, first = applied[0]
        assert threads[0] == "smythtop-first-tick" and ticks_then == 1  # the app computed no tick of its own
        assert first.window_frames == expected.window_frames == 120
        assert first.report == expected.report and first.bounds == expected.bounds


def test_a_changed_window_or_a_second_take_gets_nothing(store_root: Path) -> None:
    loader = Loader(store_root, clock=lambda: NOW)
    first = FirstTick(loader, TickRequest(window=TimeWindow(span=60 * SEC)))
    assert not loader.painted.is_set()  # its findings wait for the first paint, as the app's own first tick's
    assert first.take(TickRequest(window=TimeWindow())) is None  # the user changed the window meanwhile
    same = FirstTick(loader, TickRequest(window=TimeWindow()))
    assert same.take(TickRequest(window=TimeWindow())) is not None
    assert same.take(TickRequest(window=TimeWindow())) is None  # handed over once
    loader.painted.set()


@pytest.mark.anyio
async def test_a_failed_early_tick_is_reported_like_any_failed_tick(
    store_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Loader.tick
    calls: list[str] = []

    def failing_once(self: Loader, request: TickRequest) -> Snapshot:
        calls.append("tick")
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real(self, request)

    monkeypatch.setattr(Loader, "tick", failing_once)
    still = AppConfig(refresh_s=3600.0, maintenance="off")  # no tick after the failed one within the test
    app = make_app(store_root, still, clock=lambda: NOW, findings_process=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: app.error == "RuntimeError: boom", "the early tick's error")  # status line
        assert calls == ["tick"]  # the app's first tick raised the early one's error instead of ticking again


def test_the_early_tick_runs_with_a_short_switch_interval_and_restores_it(
    store_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[float] = []
    real = Loader.tick

    def noting(self: Loader, request: TickRequest) -> Snapshot:
        seen.append(sys.getswitchinterval())
        return real(self, request)

    monkeypatch.setattr(Loader, "tick", noting)
    before = sys.getswitchinterval()
    loader = Loader(store_root, clock=lambda: NOW)
    assert FirstTick(loader, TickRequest(window=TimeWindow())).take(TickRequest(window=TimeWindow())) is not None
    loader.painted.set()
    assert seen == [FIRST_SWITCH_S] and sys.getswitchinterval() == before


def test_the_first_tick_module_loads_no_textual() -> None:
    code = "import sys, smythtop.app, smythtop.app.first; print(any(m.startswith('textual') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=IMPORT_TIMEOUT_S)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
