"""The tracker's two sampling paths decide alike, and as docs/RECORDER.md says.

`Tracker.__exit__` inlines the keep/drop decision for the common case (system clock, no memory
sampling), in C or in Python (smythtop.recorder.hotpath; tests/recorder/test_hotpath.py runs this module on the
Python one too); `FullTracker` reaches it through `_keep`. Hypothesis drives both over the same
executions (durations, raised and reported errors, random draws) on virtual clocks, under
configured rates and volume caps, with flushes that adapt rate and threshold between windows.
Every decision and weight must match the other path's and the documented rule's, and so must the
adapted state after every flush. Likewise the flush thread's two ways of building a root's frame.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from recorder_testlib import hot_path_hooks, read_frames
from smythtop.store.schema import MAX_ID_LEN

from smythtop.recorder import Collector, VirtualClock, sampling, tracker
from smythtop.recorder.sampling import ComponentState
from smythtop.recorder.tracker import FullTracker, Tracker

T0 = 1_750_000_000 * 10**9
NS = 10**9
COMPONENT = "Comp"
OUTCOMES = ("ok", "ok", "ok", "raised", "reported")  # mostly successes; errors raised or t.fail()


class Failure(Exception):
    """The error an execution raises."""


@dataclass(frozen=True, slots=True)
class Execution:
    duration_ns: int
    outcome: str
    draw: float  # what random.random() returns if the path asks for a draw


@dataclass(frozen=True, slots=True)
class Decision:
    kept: bool
    weight: float | None  # 1 / sample_rate of a kept execution
    draws: int  # random numbers the path used


executions = st.builds(
    Execution,
    # Whole milliseconds, so that durations often tie the learned threshold exactly.
    duration_ns=st.integers(0, 40).map(lambda ms: ms * 10**6) | st.integers(0, 40 * 10**6),
    outcome=st.sampled_from(OUTCOMES),
    draw=st.floats(0.0, 1.0, exclude_max=True),
)
# A window: its executions, then a flush after `seconds` (adaptation needs a second or more).
windows = st.tuples(st.lists(executions, max_size=80), st.floats(1.0, 3.0))


class Route:
    """One collector whose component takes one of the two paths, on its own virtual clock."""

    def __init__(self, root: Path, config: dict[str, Any], fast: bool) -> None:
        self.clock = VirtualClock(T0)
        self.collector = Collector(config, store=root, clock=self.clock)
        self.state: ComponentState = self.collector._state(COMPONENT)
        self.state.full = not fast  # the virtual clock makes it full; the fast path is asked for here
        self.fast = fast
        self.draws = 0

    def run(self, e: Execution) -> Decision:
        self.draws = 0

        def draw() -> float:
            self.draws += 1
            return e.draw

        buf = self.state.buf
        before = len(buf)
        with hot_path_hooks(self.clock.monotonic_ns, draw):
            t = self.collector.track(COMPONENT, agent_id="a")
            assert type(t) is (Tracker if self.fast else FullTracker)
            try:
                with t:
                    if e.outcome == "reported":
                        t.fail("Refused")
                    self.clock.set(self.clock.monotonic_ns() + e.duration_ns)
                    if e.outcome == "raised":
                        raise Failure
            except Failure:
                pass
        kept = len(buf) == before + 1
        assert not kept or buf[-1] is t
        return Decision(kept, 1.0 / t._rate if kept else None, self.draws)

    def flush(self, seconds: float) -> tuple[float, int, float, int]:
        self.clock.set(self.clock.monotonic_ns() + int(seconds * NS))
        assert self.collector.flush()
        s = self.state
        return s.rate, s.keep_above, s.seen_rate, s.sampled_out


def documented(s: ComponentState, e: Execution, now_ns: int) -> Decision:
    """docs/RECORDER.md, "Sampling": errors and executions slower than the threshold are the tail, kept with
    probability `tail_rate` (rule 7), the rest with probability `rate`, each at weight 1/its rate; every CHECK
    executions the burst check may first lower both rates (applied here to a copy of the state)."""
    if s.n + 1 >= s.check_at:
        s = copy.copy(s)
        s.n += 1
        sampling.check_burst(s, now_ns)
    if s.rate >= 1.0 and s.tail_rate >= 1.0:
        return Decision(True, 1.0, 0)
    rate = s.tail_rate if e.outcome != "ok" or e.duration_ns > s.keep_above else s.rate
    if rate >= 1.0:
        return Decision(True, 1.0, 0)
    return Decision(e.draw < rate, 1.0 / rate if e.draw < rate else None, 1)


@contextmanager
def two_paths(config: dict[str, Any]) -> Iterator[tuple[Route, Route]]:
    with tempfile.TemporaryDirectory(prefix="smythtop-paths-") as tmp:
        fast = Route(Path(tmp) / "fast", config, fast=True)
        full = Route(Path(tmp) / "full", config, fast=False)
        try:
            yield fast, full
        finally:
            fast.collector.close()
            full.collector.close()


@settings(max_examples=40, deadline=None)
@given(
    rate=st.sampled_from([1.0, 0.5, 0.1]) | st.floats(0.01, 1.0),
    cap=st.sampled_from([0.0, 5.0, 20.0, 100.0]),
    plan=st.lists(windows, min_size=1, max_size=4),
)
def test_fast_and_full_paths_keep_and_weigh_alike(rate: float, cap: float, plan: list) -> None:
    config = {"global": {"sampling_rate": rate, "max_frames_per_second": cap, "flush_interval": 3600}}
    with two_paths(config) as (fast, full):
        for window, seconds in plan:
            for i, e in enumerate(window):
                expected = documented(full.state, e, full.clock.monotonic_ns() + e.duration_ns)
                got_fast, got_full = fast.run(e), full.run(e)
                assert got_fast == got_full, f"execution {i} of the window: {e}"
                assert got_full == expected, f"execution {i} of the window: {e}"
            assert fast.flush(seconds) == full.flush(seconds)
        assert fast.collector.stats() == full.collector.stats()


def test_the_paths_are_exercised_past_warm_up_burst_and_cap() -> None:
    """The property above reaches the burst check, a learned threshold and a capped rate (not only the warm-up)."""
    config = {"global": {"sampling_rate": 1.0, "max_frames_per_second": 20.0, "flush_interval": 3600}}
    plan = [Execution(n * 10**5, "ok", 0.5) for n in range(1, 81)]  # 0.1 to 8 ms: 80 in 0.32 s
    with two_paths(config) as (fast, full):
        decisions = [(fast.run(e), full.run(e)) for e in plan]
        assert all(a == b for a, b in decisions)
        kept = [a for a, _ in decisions]
        # warm-up under a second's budget; the 64th execution's burst check finds 64 frames in 0.2 s overdraw a
        # budget of 20 and thins the rest of the burst at once, 16 frames in rather than at the next flush
        assert kept[: sampling.CHECK - 1] == [Decision(True, 1.0, 0)] * (sampling.CHECK - 1)
        assert kept[sampling.CHECK - 1 :] == [Decision(False, None, 1)] * (len(plan) - sampling.CHECK + 1)
        assert full.state.rate < 0.1
        assert fast.flush(1.0) == full.flush(1.0)  # about 60 executions per second over the window
        assert full.state.rate < 0.5 and 5.9e6 < full.state.keep_above <= 6.3e6  # p95 of the 63 kept
        slow = Execution(7 * 10**6, "ok", 0.9)
        quick = Execution(0, "ok", 0.9)
        raised = Execution(0, "raised", 0.9)
        reported = Execution(0, "reported", 0.9)
        assert fast.run(slow) == full.run(slow) == Decision(True, 1.0, 0)
        assert fast.run(quick) == full.run(quick) == Decision(False, None, 1)
        assert fast.run(raised) == full.run(raised) == Decision(True, 1.0, 0)
        assert fast.run(reported) == full.run(reported) == Decision(True, 1.0, 0)


def test_the_hot_path_modules_never_import_the_collector() -> None:
    """Component states hold a Sink, not the Collector: no import cycle, not even for type checking."""
    for module in (sampling, tracker):
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert "smythtop.recorder.collector" not in imported, module.__name__


def _built(c: Collector, t: Tracker, defaults: Any) -> Any:
    """What the flush thread makes of one finished tracker: a row, or a frame dict (the general way)."""
    c._offset, c._ts_limit = 7, 2**63
    (frame,) = c._frames([t], defaults)
    return frame


def test_a_plain_root_row_is_the_frame_the_general_path_builds(make) -> None:
    """The flush thread builds a root with nothing added as the store's row, without the property chain or the
    store's validation (its fast path); it must be the frame the general path builds, as a dict and byte for
    byte on disk, for a success and a raised error, named agent or default."""
    from smythtop.store.framing import encode_frames
    from smythtop.store.schema import TrustedRow

    from smythtop.recorder.frames import Defaults, row_frame, tracker_frame

    c = make({"global": {"flush_interval": 3600}})
    defaults = Defaults("default-agent", "default-name", None)
    for agent_id, error in ((None, None), ("a", Failure), ("", None)):
        t = c.track(COMPONENT, agent_id)
        assert type(t) is Tracker
        try:
            with t:
                if error is not None:
                    raise error
        except Failure:
            pass
        t._rate = 0.25  # as if kept at that rate
        row = _built(c, t, defaults)
        assert type(row) is TrustedRow
        t._x = {}  # nothing added still, but the general path
        general, _ = tracker_frame(t, 7, defaults)
        assert row_frame(row) == general and general["trace_id"].endswith(general["span_id"][8:])
        assert encode_frames([row]) == encode_frames([general]) and encode_frames([row])[1] == []


class _LongName(Exception):
    """An error whose class name is longer than the store takes (MAX_ID_LEN)."""


_LongName.__name__ = "E" * (MAX_ID_LEN + 1)


def test_a_row_is_made_only_of_what_the_store_takes(make) -> None:
    """A plain tracker becomes a row (written unvalidated) only when every field is one the store takes; anything
    else (a name the store refuses, a child, added fields, a FullTracker) goes the general way, validated."""
    from smythtop.store.schema import TrustedRow

    from smythtop.recorder.frames import MAX_NS, Defaults

    c = make({"global": {"flush_interval": 3600}})
    ok = Defaults("default-agent", "default-name", None)

    def finished(component: Any = COMPONENT, agent_id: Any = "a", error: type[Exception] | None = None, **fields: Any):
        t = c.track(component, agent_id, **fields)
        with contextlib.suppress(Exception), t:
            if error is not None:
                raise error
        return t

    assert type(_built(c, finished("c" * MAX_ID_LEN, "x" * MAX_ID_LEN), ok)) is TrustedRow
    long_duration = finished()
    long_duration._end = long_duration._start + MAX_NS + 1
    bad_rate = finished()
    bad_rate._rate = float("nan")  # never so from the sampling rule; the store would refuse it
    with c.track("Parent", "a"):
        child = finished()
    with_fields = finished()
    with_fields.set(retry_count=1)
    for t, defaults in (
        (finished(agent_id="x" * (MAX_ID_LEN + 1)), ok),
        (finished(agent_id=5), ok),
        (finished(component="c" * (MAX_ID_LEN + 1)), ok),
        (finished(error=_LongName), ok),
        (finished(), Defaults("default-agent", "n" * (MAX_ID_LEN + 1), None)),
        (long_duration, ok),
        (bad_rate, ok),
        (child, ok),
        (with_fields, ok),
        (finished(memory=True), ok),
    ):
        assert type(_built(c, t, defaults)) is dict


def test_a_frame_the_store_refuses_costs_only_itself_among_rows(make, root: Path) -> None:
    """Rows and validated frames share a batch: a plain tracker with an agent id the store refuses is rejected and
    counted as before, and the rows around it are written, in order."""
    c = make({"global": {"flush_interval": 3600}})
    for agent_id in ("a", "b", "x" * (MAX_ID_LEN + 1), "c"):
        with c.track(COMPONENT, agent_id):
            pass
    c.flush()
    assert [f["agent_id"] for f in read_frames(root)] == ["a", "b", "c"]
    stats = c.stats()
    assert (stats["written"], stats["rejected"], stats["internal_errors"]) == (3, 1, 0)


def test_rows_the_store_did_not_take_are_accounted_like_frames(make, monkeypatch) -> None:
    """Plain frames lost to the store (no writer, or a write that failed part-way) become account frames of their
    agent, component and weight (1/sample_rate), read from the rows as from the dicts they replace."""
    from smythtop.store.schema import TrustedRow

    from smythtop import store

    c = make({"global": {"flush_interval": 3600}})
    trackers = []
    for _ in range(3):
        with c.track(COMPONENT, "a") as t:
            pass
        t._rate = 0.5  # as if kept at that rate: each stands for two executions
        trackers.append(t)
    c._buf.clear()
    c._offset, c._ts_limit = 7, 2**63

    def lost_after(write: Any) -> list[tuple[Any, ...]]:
        frames = c._frames(trackers[::-1], c._frame_defaults())
        assert [type(f) for f in frames] == [TrustedRow] * 3
        with monkeypatch.context() as m:
            write(m)
            assert c._write(frames) == []
        return [(f["agent_id"], f["component"], f["unrecorded"], f["tags"]) for f in c._unrecorded.take(9, None)]

    reason = {"smythtop.reason": "store_unavailable"}
    assert lost_after(lambda m: m.setattr(c, "_get_writer", lambda: None)) == [("a", COMPONENT, 6, reason)]

    def interrupted(frames: Any) -> list[Any]:
        raise store.AppendInterrupted("disk full", appended=1, errors=[])

    def unflushable() -> None:
        raise store.StoreUnavailable("disk full")

    writer = c._get_writer()
    assert writer is not None

    def fail_part_way(m: Any) -> None:
        m.setattr(writer, "append_many", interrupted)
        m.setattr(writer, "flush", unflushable)

    assert lost_after(fail_part_way) == [("a", COMPONENT, 4, reason)]  # the first row is held by the writer


def test_a_span_id_is_drawn_without_the_lock_only_for_a_tracker_nobody_holds(make) -> None:
    """The flush thread draws a plain tracker's span id itself only when it holds the last reference to it (nobody
    can ask for the id any more); a tracker the agent still holds gets it from `_span_n`, stored, so the id the
    agent reads later is its frame's."""
    from smythtop.recorder.frames import Defaults

    c = make({"global": {"flush_interval": 3600}})
    with c.track(COMPONENT, "a") as held:
        pass
    with c.track(COMPONENT, "a"):
        pass
    items = [c._buf.popleft() for _ in range(len(c._buf))][::-1]
    c._offset, c._ts_limit = 7, 2**63
    asked: list[Tracker] = []
    span_n = Tracker._span_n
    with mock.patch.object(Tracker, "_span_n", lambda t: asked.append(t) or span_n(t)):
        first, second = c._frames(items, Defaults("default-agent", None, None))
    assert asked == [held] and held.span_id == first.span_id
    with pytest.raises(TypeError):  # the reference count is the whole story only while no weak one can exist
        weakref.ref(held)
    assert int(second.span_id[8:], 16) == int(first.span_id[8:], 16) + 1  # the next id, not stored anywhere
    assert second.trace_id.endswith(second.span_id[8:])
