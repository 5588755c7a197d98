"""The time-window model: presets, pan, zoom, live, pause and marks, on integer nanoseconds."""

from __future__ import annotations

import pytest

from smythtop.app.window import HOUR, MINUTE, PRESETS, TimeWindow, WindowError, span_label

NOW = 1_750_000_000 * 10**9


def test_default_is_live_last_15_minutes() -> None:
    w = TimeWindow()
    b = w.resolve(NOW)
    assert w.live and not w.paused
    assert (b.start, b.end, b.now) == (NOW - 15 * MINUTE, None, NOW)


def test_presets_return_to_live_and_all_has_no_start() -> None:
    w = TimeWindow().pan(-1, NOW).preset("1h")
    assert w.live and w.resolve(NOW).start == NOW - HOUR
    assert TimeWindow().preset("all").resolve(NOW).start is None
    assert list(PRESETS) == ["5m", "15m", "1h", "6h", "24h", "all"]
    with pytest.raises(WindowError):
        TimeWindow().preset("2h")


def test_pan_moves_half_a_span_and_forward_past_now_is_live() -> None:
    w = TimeWindow().pan(-1, NOW)
    b = w.resolve(NOW)
    assert not w.live
    assert (b.start, b.end) == (NOW - 22 * MINUTE - 30 * 10**9, NOW - 7 * MINUTE - 30 * 10**9)
    assert w.pan(-1, NOW).resolve(NOW).end == NOW - 15 * MINUTE
    assert w.pan(1, NOW).live
    with pytest.raises(WindowError):
        TimeWindow().preset("all").pan(-1, NOW)


def test_zoom_keeps_live_right_edge_and_fixed_centre() -> None:
    assert TimeWindow().zoom(0.5, NOW).resolve(NOW).start == NOW - 7 * MINUTE - 30 * 10**9
    fixed = TimeWindow(span=HOUR, end=NOW - 2 * HOUR)
    z = fixed.zoom(2.0, NOW)
    b = z.resolve(NOW)
    assert (b.end - b.start, (b.start + b.end) // 2) == (2 * HOUR, NOW - 2 * HOUR - HOUR // 2)
    assert TimeWindow(span=MINUTE).zoom(0.5, NOW).span == MINUTE  # never below a minute


def test_pause_freezes_now_and_resume_follows_again() -> None:
    w = TimeWindow().pause(NOW)
    later = NOW + 10 * MINUTE
    assert w.paused and not w.ticking
    assert w.resolve(later).end == NOW and w.resolve(later).start == NOW - 15 * MINUTE
    assert w.resume().resolve(later).end is None
    assert not w.go_live().paused


def test_two_marks_make_an_arbitrary_window() -> None:
    w = TimeWindow().pan(-1, NOW).pan(-1, NOW)  # window ends 15m ago
    start = w.resolve(NOW).start
    w = w.mark(NOW)
    assert w.mark_start == start
    w = w.pan(1, NOW).pan(1, NOW)  # back to live: the end mark is now
    w = w.mark(NOW)
    b = w.resolve(NOW + HOUR)
    assert (b.start, b.end, w.mark_start) == (start, NOW, None)  # a marked window stays put
    assert not w.live


def test_span_labels() -> None:
    assert [span_label(PRESETS[p]) for p in PRESETS] == ["5m", "15m", "1h", "6h", "1d", "all"]
    assert span_label(HOUR + 30 * MINUTE) == "1h30m"
