"""The worker-side loader: memory fed by the tail, re-scans only when the window leaves memory."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
import smythtop.analysis.report
from app_testlib import NOW, SEC, known_frames, write_frames
from smythtop.analysis.report import build_report
from smythtop.analysis.window import aligned
from waiting import joined

from smythtop import store
from smythtop.app import data
from smythtop.app.data import Loader, TickRequest
from smythtop.app.widgets.status import StatusState, status_text
from smythtop.app.window import HOUR, MINUTE, TimeWindow


def tick(loader: Loader, window: TimeWindow, **kw):
    return loader.tick(TickRequest(window=window, **kw))


def test_live_window_is_memory_fed_by_the_tail(store_root: Path) -> None:
    loader = Loader(store_root, clock=lambda: NOW)
    snap = tick(loader, TimeWindow())
    assert (snap.window_frames, snap.source, loader.scans) == (120, "memory", 1)
    assert snap.report.summary.executions == 120 and snap.recomputed
    again = tick(loader, TimeWindow())
    assert not again.recomputed and again.report is snap.report  # nothing changed: no analysis
    write_frames(store_root, [{"ts": NOW - i * SEC, "agent_id": "b", "component": "new", "total_ms": 1.0,
                               "success": True} for i in range(5)])  # fmt: skip
    snap = tick(loader, TimeWindow())
    # from the tail, no re-scan; the frame stamped exactly now is outside [now − 15m, now), counted apart
    assert (snap.window_frames, snap.future_frames, loader.scans) == (124, 1, 1)
    assert snap.recomputed and snap.ingest_per_s > 0
    assert {c.component for c in snap.report.components} >= {"new", "planner"}


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
    assert (snap.source, snap.window_frames, snap.report.summary.executions) == ("lazy", 120, 120)
    write_frames(store_root, [{"ts": NOW - SEC, "agent_id": "b", "component": "new", "total_ms": 1.0, "success": True}])
    assert tick(loader, TimeWindow()).window_frames == 121


def test_empty_store(tmp_path: Path) -> None:
    snap = tick(Loader(tmp_path / "none", clock=lambda: NOW), TimeWindow())
    assert (snap.window_frames, snap.store_frames, snap.report.summary.executions) == (0, 0, 0)


def test_known_frames_fixture_is_what_the_tests_assume() -> None:
    df = pl.DataFrame(known_frames())
    assert df.height == 120 and df["ts"].max() == NOW - 10 * SEC and df["ts"].min() >= NOW - 15 * MINUTE


def test_findings_are_refreshed_in_the_background_while_the_live_part_moves_every_tick(
    store_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loader = Loader(store_root, clock=lambda: NOW)
    painted = tick(loader, TimeWindow())  # a new window: the live part at once, its findings in the background
    assert painted.findings_pending and not painted.findings_inline and painted.report.bottlenecks == []
    assert loader._background is not None
    joined(loader._background, "the first findings")
    first = tick(loader, TimeWindow())  # nothing new arrived: the findings that finished are shown
    assert not first.findings_pending and not first.recomputed and first.findings_ms > 0
    win = aligned(TimeWindow().span, NOW)  # whole wall-clock-aligned buckets plus the current one
    want = build_report(store.scan(store_root), window_from=win.start_ns, window_to=NOW, bucket_ns=win.bucket_ns)
    assert first.report.window == want.window and want.window.bucket_s == 15
    assert type(first.report) is type(want)  # the same fields
    assert first.report.bottlenecks == want.bottlenecks and first.report.flows == want.flows
    assert [(c.component, c.executions, c.p95_ms, c.trend) for c in first.report.components] == [
        (c.component, c.executions, c.p95_ms, c.trend) for c in want.components
    ]

    write_frames(store_root, [{"ts": NOW - i * SEC, "agent_id": "b", "component": "new", "total_ms": 1.0,
                               "success": True} for i in range(1, 6)])  # fmt: skip
    moved = tick(loader, TimeWindow())
    assert moved.recomputed and not moved.findings_inline  # findings younger than FINDINGS_EVERY_S are reused
    assert moved.report.summary.executions == 125 and "new" in {c.component for c in moved.report.components}
    assert {a.agent_id for a in moved.report.agent_components} == {"a1"}  # still the findings of 120 frames

    monkeypatch.setattr(data, "FINDINGS_EVERY_S", 0.0)
    write_frames(store_root, [{"ts": NOW - SEC, "agent_id": "b", "component": "new", "total_ms": 1.0,
                               "success": True}])  # fmt: skip
    started = tick(loader, TimeWindow())  # due: computed in a background thread, this tick shows the old ones
    assert not started.findings_inline and loader._background is not None
    joined(loader._background, "the background findings")
    adopted = tick(loader, TimeWindow())  # nothing new arrived, but the finished findings are shown
    assert not adopted.recomputed and adopted.report is not started.report
    assert {a.agent_id for a in adopted.report.agent_components} == {"a1", "b"}
    assert adopted.report.summary == started.report.summary


def test_a_failed_background_refresh_keeps_the_last_findings_and_says_why(
    store_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loader = Loader(store_root, clock=lambda: NOW)
    tick(loader, TimeWindow())
    assert loader._background is not None
    joined(loader._background, "the first findings")
    first = tick(loader, TimeWindow())
    assert not first.findings_pending
    monkeypatch.setattr(data, "FINDINGS_EVERY_S", 0.0)

    def broken(*args: object, **kwargs: object) -> dict:
        raise ValueError("no findings today")

    monkeypatch.setattr(smythtop.analysis.report, "build_slow", broken)
    write_frames(store_root, [{"ts": NOW - SEC, "agent_id": "b", "component": "new", "total_ms": 1.0,
                               "success": True}])  # fmt: skip
    tick(loader, TimeWindow())
    assert loader._background is not None
    joined(loader._background, "the background findings")
    after = tick(loader, TimeWindow())
    assert after.warning is not None and "no findings today" in after.warning
    assert after.report.bottlenecks == first.report.bottlenecks
    assert after.report.agent_components == first.report.agent_components


def test_status_line_says_how_old_the_findings_are(store_root: Path) -> None:
    snap = tick(Loader(store_root, clock=lambda: NOW), TimeWindow())
    state = StatusState(root=store_root, window=TimeWindow(), refresh_s=0.5, now=NOW, snapshot=snap)
    assert "findings" not in status_text(state).plain  # fresh: nothing to say
    lagging = replace(state, snapshot=replace(snap, findings_age_s=3.4))
    assert "findings 3s ago" in status_text(lagging).plain


def test_findings_of_an_unchanged_store_never_age(store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The findings' age is their lag behind the live numbers, not wall time: the snapshot tests showed
    "findings 1s ago" on a loaded machine, where ticks on an unchanged store took over a second."""
    moment = [1000.0]
    monkeypatch.setattr(data.time, "monotonic", lambda: moment[0])
    loader = Loader(store_root, clock=lambda: NOW)
    window = TimeWindow()
    assert tick(loader, window).findings_age_s == 0.0
    moment[0] += 3600.0  # an hour later, nothing new: the findings describe exactly what the live part shows
    assert tick(loader, window).findings_age_s == 0.0


def test_frames_decoded_ahead_reach_the_next_tick_once(store_root: Path) -> None:
    """`prefetch` (the store watcher's) decodes the tail between ticks; the tick takes those frames plus what
    came after, each once, and a reload (memory rebuilt from the store) drops what the old tail decoded ahead."""
    loader = Loader(store_root, clock=lambda: NOW)
    assert tick(loader, TimeWindow()).window_frames == 120

    def new(component: str, n: int) -> None:
        write_frames(store_root, [{"ts": NOW - (i + 1) * SEC, "agent_id": "b", "component": component,
                                   "total_ms": 1.0, "success": True} for i in range(n)])  # fmt: skip

    new("ahead", 3)
    loader.prefetch()
    loader.prefetch()  # nothing new: nothing added twice
    new("after", 2)
    snap = tick(loader, TimeWindow())
    assert (snap.window_frames, snap.new_frames) == (125, 5)
    names = {c.component: c.executions for c in snap.report.components}
    assert (names["ahead"], names["after"]) == (3, 2)
    new("reloaded", 4)
    loader.prefetch()  # the watcher's thread decodes them just as a tick reloads memory: a tick's own poll came first
    loader._reload(NOW - HOUR)
    snap = tick(loader, TimeWindow())
    assert (snap.window_frames, loader.scans) == (129, 2)  # from the reloaded memory, not again from the old tail
