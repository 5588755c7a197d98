"""The two implementations of the hot path (smythtop.recorder.hotpath): the C one is built and used where it can
be, the Python one still passes the recorder's behaviour tests, and the C one never raises into the agent, never
leaks and answers every call shape as the Python one does."""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from recorder_testlib import hot_path_hooks

from smythtop.recorder import Collector, hotpath
from smythtop.recorder.trace import current
from smythtop.recorder.tracker import NOOP, FullTracker, Tracker

ROOT = Path(__file__).resolve().parents[2]
# The modules that pin the hot path's behaviour: the sampling rule's property test, nesting and context, threads
# and asyncio, the never-raise guarantees, bursts.
BEHAVIOUR = ("test_sampling_paths.py", "test_tracking.py", "test_concurrency.py", "test_never_break.py",
             "test_bursts.py", "test_hotpath.py")  # fmt: skip


def test_the_c_hot_path_is_built_on_linux() -> None:
    """The extension is optional so that an install never fails for it; here (Linux, gcc) a silent fallback to
    Python would cost every execution about 3x, so its absence is a failure, not a skip."""
    if os.environ.get("SMYTHTOP_PURE_PYTHON") == "1" or not sys.platform.startswith("linux"):
        pytest.skip("the Python hot path was asked for, or this is not Linux")
    assert hotpath.C is not None, "smythtop.recorder._hotpath was not built: reinstall with a C compiler"
    assert hotpath.IMPLEMENTATION == "c"
    assert issubclass(Tracker, hotpath.C.TrackerBase)


def test_the_python_hot_path_passes_the_behaviour_tests() -> None:
    if hotpath.C is None:
        pytest.skip("the Python hot path is the one running: the behaviour tests run on it directly")
    env = {**os.environ, "SMYTHTOP_PURE_PYTHON": "1"}
    args = [sys.executable, "-m", "pytest", "-q", "-x", "-n", "0", "-p", "no:randomly", "-p", "no:cacheprovider"]
    result = subprocess.run(
        [*args, *(str(ROOT / "tests" / "recorder" / name) for name in BEHAVIOUR)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_call_shapes_are_answered_as_python_answers_them(make: Callable[..., Collector]) -> None:
    c = make({"global": {"flush_interval": 3600}})
    assert type(c.track("A")) is Tracker
    assert type(c.track("A", "agent")) is Tracker
    t = c.track("A", agent_id="agent")
    assert type(t) is Tracker and t.agent_id == "agent"
    assert type(c.track("A", "agent", tags={"k": "v"})) is FullTracker  # keyword fields: the slow path
    with pytest.raises(TypeError):
        c.track()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        c.track("A", "agent", "extra")  # type: ignore[misc]
    assert c.track(["unhashable"]) is NOOP  # type: ignore[arg-type]
    assert c.stats()["internal_errors"] == 1


def test_a_failing_callback_is_counted_not_raised(make: Callable[..., Collector]) -> None:
    """Every callback the hot path makes can fail (here the idle state's wake-up); the execution goes on."""
    c = make({"global": {"flush_interval": 3600, "sampling_rate": 1e-9}})
    st = c._states["Comp"]

    def broken(state: object) -> None:
        raise RuntimeError("wake-up failed")

    c._sink.wake_state = broken
    st.sink = c._sink
    st.idle = True
    with c.track("Comp", "agent"):
        pass
    assert c.stats()["internal_errors"] == 1
    assert st.sampled_out == 1


def test_no_reference_is_leaked(make: Callable[..., Collector]) -> None:
    """Kept, sampled-out and failed executions release everything they hold (the C code counts its references)."""
    quiet = {"flush_interval": 3600, "buffer_size": 100_000, "max_frames_per_second": 0}  # the flush thread sleeps
    kept = make({"global": quiet})
    dropped = make({"global": {**quiet, "sampling_rate": 1e-9}})
    agent = "leak-check-" + str(os.getpid())  # a string of this test's own, so its count is not shared

    def run(n: int) -> None:
        for c in (kept, dropped):
            executions(c, agent, n)
            c._buf.clear()

    assert_nothing_kept(run, agent)


def test_the_clock_is_perf_counter_ns(make: Callable[..., Collector]) -> None:
    """The flush thread mixes the hot path's readings with Python's: they must be one clock."""
    c = make({"global": {"flush_interval": 3600}})
    before = time.perf_counter_ns()
    with c.track("Comp") as t:
        inside = time.perf_counter_ns()
    after = time.perf_counter_ns()
    assert before <= t._start <= inside <= t._end <= after


def test_an_interrupt_goes_on_up_and_the_context_is_restored(make: Callable[..., Collector]) -> None:
    """Only Exceptions are swallowed, as Python's `except Exception`: a KeyboardInterrupt raised inside the hot path
    (here by the sampling draw, as a signal handler could) reaches the agent, after the current execution is reset."""
    c = make({"global": {"flush_interval": 3600, "sampling_rate": 0.5, "max_frames_per_second": 0}})

    def interrupted() -> float:
        raise KeyboardInterrupt

    with hot_path_hooks(None, interrupted), pytest.raises(KeyboardInterrupt), c.track("Comp", "agent"):
        pass
    assert current() is None
    assert c.stats()["internal_errors"] == 0


def test_a_folded_name_is_counted_once_per_execution(make: Callable[..., Collector]) -> None:
    c = make({"global": {"flush_interval": 3600, "max_components": 1}})
    with c.track("First"):
        pass
    for _ in range(3):
        with c.track("Second", "agent") as t:
            pass
    assert t.component == "other"
    assert c.stats()["components_folded"] == 3


def test_exiting_twice_records_once_and_is_counted(make: Callable[..., Collector]) -> None:
    c = make({"global": {"flush_interval": 3600, "max_frames_per_second": 0}})
    t = c.track("Comp", "agent")
    t.__enter__()
    t.__exit__(None, None, None)
    t.__exit__(None, None, None)
    never_entered = c.track("Comp", "agent")
    never_entered.__exit__(None, None, None)
    assert list(c._buf) == [t]
    assert c.stats()["internal_errors"] == 2


def test_the_with_protocol_by_hand_and_through_an_exit_stack(make: Callable[..., Collector]) -> None:
    """The C tracker's __enter__/__exit__ bind to the tracker itself (no bound-method objects): called by hand,
    unbound from the class and through contextlib.ExitStack they do what the with statement does."""
    c = make({"global": {"flush_interval": 3600, "max_frames_per_second": 0}})
    with contextlib.ExitStack() as stack:
        t = stack.enter_context(c.track("Comp", "agent"))
        assert current() is t
    assert current() is None
    u = c.track("Comp")
    assert u.__enter__() is u and current() is u
    assert u.__exit__(None, None, None) is False
    v = c.track("Comp")
    assert type(v).__enter__(v) is v
    assert type(v).__exit__(v, KeyError, KeyError(), None) is False
    assert current() is None
    assert list(c._buf) == [t, u, v] and v._err is KeyError


def test_the_flush_threads_rows_leak_nothing(make: Callable[..., Collector]) -> None:
    """The flush thread's plain-frame loop (`_hotpath.plain_rows` where C runs) releases every tracker, row and
    string it made once the batch is written: the agent id's reference count comes back to where it was."""
    c = make({"global": {"flush_interval": 3600, "buffer_size": 100_000, "max_frames_per_second": 0}})
    agent = "rows-check-" + str(os.getpid())

    def batch(n: int) -> None:
        executions(c, agent, n)
        assert c.flush()

    assert_nothing_kept(batch, agent)
    assert c.stats()["written"] == 2 * 5_100 and c.stats()["internal_errors"] == 0


def executions(c: Collector, agent: str, n: int) -> None:
    """n executions that succeed and n that raise, tracked by `c` for `agent`."""
    for _ in range(n):
        with c.track("Comp", agent):
            pass
        try:
            with c.track("Comp", agent):
                raise KeyError
        except KeyError:
            pass


def assert_nothing_kept(run: Callable[[int], None], agent: str) -> None:
    """After run(5_000), the agent id's reference count and the number of tracked objects are where run(100) left
    them: whatever the executions made was released."""
    run(100)
    gc.collect()
    refs, objects = sys.getrefcount(agent), len(gc.get_objects())
    run(5_000)
    gc.collect()
    assert sys.getrefcount(agent) == refs
    assert len(gc.get_objects()) - objects < 100
