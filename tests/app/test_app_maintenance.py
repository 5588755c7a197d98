"""The app maintains its store: after the first snapshot a pass compacts the WAL into Parquet (the numbers shown
do not move), a second compactor makes it skip, a failure is one line in the status line, `q` does not wait for
a pass, and `[app] maintenance = "off"` leaves the store alone."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest
from app_testlib import wait_for
from smythtop.store.errors import StoreUnavailable
from smythtop.store.locks import compactor_lock
from smythtop.store.wal import list_segments

from smythtop import store
from smythtop.app.config import AppConfig

pytestmark = pytest.mark.anyio


def parquet_files(root: Path) -> list[Path]:
    return sorted((root / "parquet").rglob("*.parquet"))


def shown(app) -> tuple:
    """The numbers the main panes show: executions, cost and p95 overall and per component (sums to 12 digits:
    the order frames are summed in may change with where they are read from)."""
    r = app.snapshot.report
    comps = sorted((c.component, c.executions, c.p95_ms, round(c.cost_usd or 0.0, 12)) for c in r.components)
    return r.summary.executions, round(r.summary.total_cost_usd, 12), r.summary.p95_ms, comps


async def test_the_app_compacts_its_store_and_shows_the_same_numbers(store_root: Path, make_app) -> None:
    assert list_segments(store_root) and not parquet_files(store_root)
    app = make_app(store_root)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 1, "the first snapshot")
        before = shown(app)
        await wait_for(pilot, lambda: app.maintenance_passes >= 1, "the start-up maintenance pass")
        assert parquet_files(store_root) and list_segments(store_root) == []  # the WAL is compacted
        assert app.maintenance.stats.frames_compacted == 120
        ticks = app.ticks
        app.action_refresh_now()  # the tail now finds the frames in Parquet: none may count twice or vanish
        await wait_for(pilot, lambda: app.ticks > ticks, "a tick after the pass")
        assert shown(app) == before and before[0] == 120
        assert app.maintenance_error is None
        assert "store maintenance" not in str(app.screen.query_one("#status").render())


async def test_a_second_compactor_makes_the_app_skip(store_root: Path, make_app) -> None:
    app = make_app(store_root)
    # `smythtop serve` or another app, maintaining the same store: taken before the app starts, whose start-up pass
    # runs as soon as its first snapshot is shown (under load that came before a lock taken inside `run_test`)
    with contextlib.ExitStack() as held:
        assert held.enter_context(compactor_lock(store_root))
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, lambda: app.maintenance_passes >= 1, "the start-up pass")
            assert app.maintenance.stats.busy == 1 and not parquet_files(store_root) and list_segments(store_root)
            held.close()  # the other compactor is done
            assert app.maintain_now()
            await wait_for(pilot, lambda: app.maintenance_passes >= 2, "a pass once the lock is free")
            assert app.maintenance.stats.busy == 1 and parquet_files(store_root) and list_segments(store_root) == []
            assert app.maintenance_error is None


async def test_a_failed_pass_is_shown_once_and_the_app_goes_on(
    store_root: Path, make_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(root, **_kwargs):
        raise StoreUnavailable(f"cannot compact store {root}: Read-only file system")

    monkeypatch.setattr(store, "compact", refuse)
    app = make_app(store_root)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: app.maintenance_passes >= 1, "the start-up pass")
        assert app.maintain_now()
        await wait_for(pilot, lambda: app.maintenance_passes >= 2, "a second pass")
        status = str(app.screen.query_one("#status").render())
        assert status.count("store maintenance: cannot compact store") == 1 and "Read-only file system" in status
        assert app.is_running and app.snapshot.report.summary.executions == 120


async def test_q_does_not_wait_for_a_pass(store_root: Path, make_app, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass is abandoned, not awaited: the store publishes atomically and the next compactor recovers."""
    entered, gate = threading.Event(), threading.Event()

    def slow(_root, **_kwargs):
        entered.set()
        gate.wait(30)  # a bound: the test releases it below
        return store.CompactionResult()

    monkeypatch.setattr(store, "compact", slow)
    app = make_app(store_root)
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, entered.is_set, "the pass to start")
            await pilot.press("q")
        thread = app._maint_thread
        assert thread is not None and thread.is_alive()  # the app exited while the pass was still running
        assert not app.maintain_now()  # and starts no other
    finally:
        gate.set()


async def test_an_empty_directory_is_not_made_a_store(tmp_path: Path, make_app) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    app = make_app(empty)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: app._maint_thread is not None and not app._maint_thread.is_alive(), "a look")
        assert app.maintenance_passes == 0 and list(empty.iterdir()) == []


async def test_maintenance_off_leaves_the_store_alone(store_root: Path, make_app) -> None:
    app = make_app(store_root, config=AppConfig(refresh_s=0.25, maintenance="off"))
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 2, "two snapshots")
        assert app.maintenance is None and not app.maintain_now()
        assert not parquet_files(store_root) and list_segments(store_root)
