"""The worker-side loader: memory fed by the tail, re-scans only when the window leaves memory."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from app_testlib import NOW, SEC, known_frames, write_frames

import store
from smythtop.app.data import Loader, TickRequest
from smythtop.app.window import HOUR, MINUTE, TimeWindow


def tick(loader: Loader, window: TimeWindow, **kw):
    return loader.tick(TickRequest(window=window, **kw))


def test_live_window_is_memory_fed_by_the_tail(store_root: Path) -> None:
    loader = Loader(store_root, clock=lambda: NOW)
    snap = tick(loader, TimeWindow())
    assert (snap.window_frames, snap.source, loader.scans) == (120, "memory", 1)
    assert snap.report["summary"]["executions"] == 120 and snap.recomputed
    again = tick(loader, TimeWindow())
    assert not again.recomputed and again.report is snap.report  # nothing changed: no analysis
    write_frames(store_root, [{"ts": NOW - i * SEC, "agent_id": "b", "component": "new", "total_ms": 1.0,
                               "success": True} for i in range(5)])  # fmt: skip
    snap = tick(loader, TimeWindow())
    assert (snap.window_frames, loader.scans) == (125, 1)  # from the tail, no re-scan
    assert snap.recomputed and snap.ingest_per_s > 0
    assert {c["component"] for c in snap.report["components"]} >= {"new", "planner"}


def test_only_a_window_outside_memory_rescans(store_root: Path) -> None:
    write_frames(store_root, [{"ts": NOW - 50 * MINUTE, "agent_id": "old", "component": "old", "total_ms": 1.0,
                               "success": True}])  # fmt: skip
    loader = Loader(store_root, clock=lambda: NOW)
    assert tick(loader, TimeWindow()).window_frames == 120
    wide = tick(loader, TimeWindow().preset("1h"))  # reaches before memory: reload from its start
    assert (wide.window_frames, loader.scans) == (121, 2)
    back = tick(loader, TimeWindow())  # inside memory (which is then trimmed to the window)
    assert (back.window_frames, back.source, loader.scans) == (120, "memory", 2)
    past = TimeWindow(span=20 * MINUTE, end=NOW - 40 * MINUTE)  # before memory: scanned once, then cached
    snap = tick(loader, past)
    assert (snap.window_frames, snap.source, loader.scans) == (1, "scan", 3)
    assert tick(loader, past).window_frames == 1 and loader.scans == 3
    older = tick(loader, TimeWindow(span=HOUR, end=NOW - 2 * HOUR))
    assert (older.window_frames, loader.scans) == (0, 4)
    assert older.store_frames == 121 and older.store_newest_ts == NOW - 10 * SEC  # an empty window says what exists


def test_window_frames_match_a_scan(store_root: Path) -> None:
    loader = Loader(store_root, clock=lambda: NOW)
    for window in (TimeWindow(), TimeWindow().preset("5m"), TimeWindow(span=5 * MINUTE, end=NOW - 5 * MINUTE)):
        bounds = window.resolve(NOW)
        got = loader.window_frames(bounds)
        want = store.scan(store_root, since=bounds.start, until=bounds.end).collect()
        assert got.sort("ts", "component").equals(want.sort("ts", "component"))
    only = loader.window_frames(TimeWindow().resolve(NOW), "retriever")
    assert only.height == 30 and only["component"].unique().to_list() == ["retriever"]


def test_a_window_too_big_for_memory_is_analysed_lazily(store_root: Path) -> None:
    loader = Loader(store_root, clock=lambda: NOW, mem_rows=50)
    snap = tick(loader, TimeWindow())
    assert (snap.source, snap.window_frames, snap.report["summary"]["executions"]) == ("lazy", 120, 120)
    write_frames(store_root, [{"ts": NOW - SEC, "agent_id": "b", "component": "new", "total_ms": 1.0, "success": True}])
    assert tick(loader, TimeWindow()).window_frames == 121


def test_empty_store(tmp_path: Path) -> None:
    snap = tick(Loader(tmp_path / "none", clock=lambda: NOW), TimeWindow())
    assert (snap.window_frames, snap.store_frames, snap.report["summary"]["executions"]) == (0, 0, 0)


def test_known_frames_fixture_is_what_the_tests_assume() -> None:
    df = pl.DataFrame(known_frames())
    assert df.height == 120 and df["ts"].max() == NOW - 10 * SEC and df["ts"].min() >= NOW - 15 * MINUTE
