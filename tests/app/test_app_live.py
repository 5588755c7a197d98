"""The live tick aggregates only the frames the tail delivered, into wall-clock-aligned buckets, and shows
what a full report over the same aligned window shows."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from app_testlib import NOW, SEC, write_frames
from smythtop.analysis import partial
from smythtop.analysis.report import build_report
from smythtop.analysis.window import aligned

from smythtop import store
from smythtop.app import data
from smythtop.app.data import Loader, TickRequest
from smythtop.app.window import MINUTE, TimeWindow


def _frame(ts: int, component: str, ms: float, **extra) -> dict:
    return {"ts": ts, "agent_id": "b", "component": component, "total_ms": ms, "success": True, **extra}


def _assert_matches_full_report(snap, root: Path, now: int) -> None:
    win = aligned(TimeWindow().span, now)
    want = build_report(store.scan(root), window_from=win.start_ns, window_to=now, bucket_ns=win.bucket_ns)
    got = snap.report
    assert got.window == want.window  # the same grid and the same data-coverage basis
    assert got.summary.executions == want.summary.executions == snap.window_frames
    assert msgspec.structs.asdict(got.summary.requests) == pytest.approx(msgspec.structs.asdict(want.summary.requests))
    assert [(c.component, c.own_errors, c.mean_self_ms, c.time_share) for c in got.components] == pytest.approx(
        [(c.component, c.own_errors, c.mean_self_ms, c.time_share) for c in want.components]
    )
    assert got.summary.total_cost_usd == pytest.approx(want.summary.total_cost_usd, rel=1e-12)
    assert (got.summary.p50_ms, got.summary.p95_ms, got.summary.p99_ms) == (
        want.summary.p50_ms, want.summary.p95_ms, want.summary.p99_ms,
    )  # fmt: skip
    assert [(c.component, c.executions, c.errors, c.p95_ms, c.trend) for c in got.components] == [
        (c.component, c.executions, c.errors, c.p95_ms, c.trend) for c in want.components
    ]
    assert [p.cost_usd for p in got.cost_series] == pytest.approx([p.cost_usd for p in want.cost_series], rel=1e-12)


def test_a_live_tick_aggregates_only_new_frames(store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [NOW]
    loader = Loader(store_root, clock=lambda: clock[0])
    request = TickRequest(window=TimeWindow())
    first = loader.tick(request)
    assert first.window_frames == 120 and first.report.window.bucket_s == 15
    _assert_matches_full_report(first, store_root, NOW)

    aggregated: list[int] = []
    of_frames = partial.of_frames

    def counted(frames, *args):  # what each call aggregated: the frames that entered the window
        part = of_frames(frames, *args)
        aggregated.append(part.rows)
        return part

    monkeypatch.setattr(partial, "of_frames", counted)
    late = _frame(NOW - 14 * MINUTE + 3 * SEC, "late", 7.0)  # lands in an old bucket still in the window
    new = [_frame(NOW + i * 100_000_000, "new", 20.0 + i, cost_usd=0.001, model="gpt-4o", provider="openai")
           for i in range(15)]  # fmt: skip
    ahead = _frame(NOW + 4 * SEC, "ahead", 3.0)  # an agent clock ahead: outside the window until now reaches it
    write_frames(store_root, [late, *new, ahead])
    clock[0] = NOW + 2 * SEC
    snap = loader.tick(request)
    assert aggregated == [16] and loader.scans == 1  # the late frame and the new ones: no pass over the window
    assert (snap.window_frames, snap.future_frames) == (136, 1)
    _assert_matches_full_report(snap, store_root, clock[0])

    clock[0] = NOW + 5 * SEC  # now has passed the frame from ahead: it enters without any new frame
    snap = loader.tick(request)
    assert aggregated == [16, 1] and snap.window_frames == 137 and snap.future_frames == 0
    assert "ahead" in {c.component for c in snap.report.components}
    _assert_matches_full_report(snap, store_root, clock[0])

    clock[0] = NOW + 3 * MINUTE  # whole buckets left the window: dropped, nothing re-aggregated
    snap = loader.tick(TickRequest(window=TimeWindow(), force=True))
    assert aggregated == [16, 1] and loader.scans == 1
    assert "late" not in {c.component for c in snap.report.components}
    _assert_matches_full_report(snap, store_root, clock[0])


def test_a_window_too_big_for_memory_takes_the_frames_path(store_root: Path) -> None:
    """The buckets keep the window's frames (for the span tree): a window too big for memory is not theirs."""
    clock = [NOW]
    loader = Loader(store_root, clock=lambda: clock[0], mem_rows=50)  # 120 frames: analysed lazily
    request = TickRequest(window=TimeWindow())
    first = loader.tick(request)
    assert (first.source, first.window_frames, loader.scans) == ("lazy", 120, 1) and loader._buckets is None
    write_frames(store_root, [_frame(NOW + i * SEC, "new", 5.0) for i in range(3)])
    clock[0] = NOW + 4 * SEC
    snap = loader.tick(request)
    assert (snap.window_frames, loader.scans) == (123, 1)  # from the tail: no re-scan
    _assert_matches_full_report(snap, store_root, clock[0])


def test_a_window_with_many_keys_takes_the_frames_path(store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Live buckets aggregate per key before folding: above INCREMENTAL_MAX_KEYS the frames path answers, at once
    for a window loaded with too many, and from the tick the buckets grow past it."""
    clock = [NOW]
    request = TickRequest(window=TimeWindow())
    monkeypatch.setattr(data, "INCREMENTAL_MAX_KEYS", 1)  # the store's frames have more than one key
    wide = Loader(store_root, clock=lambda: clock[0])
    snap = wide.tick(request)
    assert (snap.source, snap.window_frames) == ("memory", 120) and wide._buckets is None
    _assert_matches_full_report(snap, store_root, clock[0])
    loader = Loader(store_root, clock=lambda: clock[0])
    monkeypatch.setattr(data, "INCREMENTAL_MAX_KEYS", 10_000)
    assert loader.tick(request).window_frames == 120 and loader._buckets is not None
    keys = loader._buckets.keys
    monkeypatch.setattr(data, "INCREMENTAL_MAX_KEYS", keys)
    write_frames(store_root, [_frame(NOW + i * SEC, f"new-{i}", 5.0) for i in range(3)])  # three new keys
    clock[0] = NOW + 4 * SEC
    assert loader.tick(request).window_frames == 123 and loader._buckets is not None  # grew past it in this tick
    clock[0] = NOW + 5 * SEC
    snap = loader.tick(request)
    assert loader._buckets is None and snap.window_frames == 123
    _assert_matches_full_report(snap, store_root, clock[0])


def test_paused_and_past_windows_keep_the_full_path(store_root: Path) -> None:
    loader = Loader(store_root, clock=lambda: NOW + 20 * SEC)
    paused = loader.tick(TickRequest(window=TimeWindow().pause(NOW)))
    live = Loader(store_root, clock=lambda: NOW).tick(TickRequest(window=TimeWindow()))
    assert paused.report.window == live.report.window and loader._buckets is None  # built from raw frames
    summaries = [msgspec.structs.asdict(s.report.summary) for s in (paused, live)]
    requests = [msgspec.structs.asdict(s.pop("requests")) for s in summaries]  # nested: compared on its own
    assert summaries[0] == pytest.approx(summaries[1]) and requests[0] == pytest.approx(requests[1])
