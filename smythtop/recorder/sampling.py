"""Which executions are kept: the per-component state the hot path reads, and the flush thread's
rule that adapts it.

The rule (docs/RECORDER.md, "Sampling"):
1. A component excluded by the whitelist/blacklist is not tracked at all.
2. Errors are always kept, with sample_rate 1.0.
3. Executions slower than the component's running p95 are always kept, with sample_rate 1.0.
4. Every other execution is kept with probability `rate` and carries sample_rate = rate, where
   rate = min(configured rate, max_frames_per_second / observed executions per second).
5. Until a component has MIN_FOR_P95 kept durations (its first flush or so) there is no p95
   yet, and only errors are always kept: a warm-up that cannot flood the store.
6. Under that cap the "slow" threshold rises from p95 to the quantile that keeps about half the
   cap's budget (q = 1 - max_frames_per_second / 2 / executions per second), so neither the tail nor
   the rest of a hot component can flood the store.
7. The tail (errors and slow executions) has a cap of its own, TAIL_SHARE of max_frames_per_second:
   above it, tail executions are kept with probability `tail_rate` and carry that sample_rate, so a
   flood of errors or of slow calls cannot defeat the frames/s cap either.
Each execution's chance of being kept is exactly its sample_rate, so weighting every frame by
1/sample_rate gives unbiased counts and sums (Horvitz-Thompson).

Bursts are met on the agent's side: every CHECK executions of a component, the hot path measures how fast
they came (one clock reading it already has) and charges the frames it would keep to a token bucket of one
second's budget per cap; once a bucket is overdrawn it lowers `rate` or `tail_rate` at once to the cap over
the observed speed (`check_burst`). A short burst within a second's budget is kept whole; a flood is thinned
after about one second's budget of frames (1,000 by default, well inside the 10,000-frame buffer), within
64 executions of the overdraft rather than one flush interval (1 s) later: before this, a 300K-execution
tight loop lost a third of its frames to a full buffer. Only the flush thread raises rates again.

Only running components are adapted: a state with no execution in a window and at its configured rate goes
idle (its executions-per-second estimate reset, as if decayed), and comes back when the flush thread sees one
of its frames or the hot path samples one of its executions out (`Sink.wake_state`). So the flush thread's
per-interval work follows the components that run, not every name ever seen.
"""

from __future__ import annotations

import bisect
import fnmatch
import itertools
import operator
from collections import deque
from collections.abc import Callable
from typing import Any

from smythtop.recorder import hotpath
from smythtop.recorder.config import Config

WINDOW = 1024  # recent kept durations per component, for the running p95
MIN_FOR_P95 = 32  # kept durations needed before the running p95 is trusted
UNLEARNED = 2**62  # keep_above until then: a warm-up where only errors are always kept
QUANTILE = 0.95
MIN_RATE = 1e-6
RATE_SMOOTHING = 0.5  # weight of the newest window in the executions-per-second estimate
CHECK = 64  # executions between the hot path's burst checks: ~15 ns each, amortised; 64 ms at the default cap
_duration, _weight = operator.itemgetter(0), operator.itemgetter(1)
TAIL_SHARE = 0.5  # of max_frames_per_second, for errors and slow executions together (rule 7)


class Sink:
    """What the hot path needs from its collector: the ring buffer, how full it may get before the
    flush thread is woken, and where a swallowed error or a warning goes. Component states hold this
    rather than the Collector, so that this module and the tracker never import the collector."""

    __slots__ = ("buf", "fault", "filling", "high_water", "wake_state", "warn_once", "woken")

    def __init__(
        self,
        buf: deque[Any],
        high_water: int,
        filling: Callable[[int], None],
        fault: Callable[[str, BaseException], None],
        warn_once: Callable[[str, str], None],
    ) -> None:
        self.buf = buf
        self.high_water = high_water
        self.filling = filling  # called with the buffer's length when it is at least high_water
        self.fault = fault  # (where, exception): counted and logged once, never raised
        self.warn_once = warn_once  # (key, message)
        self.woken: deque[ComponentState] = deque()  # idle states that sampled an execution out
        self.wake_state = self.woken.append  # the hot path's call: once per idle state, thread-safe


# The fields the hot path reads and writes on every execution, and those the flush thread's plain-frame loop
# (`_hotpath.plain_rows`) does: C fields of `_hotpath.StateBase` when the C hot path runs
# (smythtop.recorder.hotpath), slots here otherwise.
HOT_FIELDS = (
    "buf", "check_at", "excluded", "full", "high_water", "idle", "keep_above", "kept", "n", "name", "rate", "recent",
    "sampled_out", "sink", "tail_n", "tail_rate", "thinning",
)  # fmt: skip
_StateBase: type = object if hotpath.C is None else hotpath.C.StateBase


class ComponentState(_StateBase):  # type: ignore[misc, valid-type]
    """Hot-path state of one component name; only the flush thread writes rate and keep_above."""

    __slots__ = (
        "base_rate", "bucket", "cap", "check_n", "check_t", "check_tail", "memory", "now", "seen_rate",
        "tail_bucket", "window_sampled_out", "window_tail_n",
    ) + (HOT_FIELDS if hotpath.C is None else ())  # fmt: skip

    def __init__(self, name: str, sink: Sink, now: Callable[[], int], base_rate: float, cap: float = 0.0) -> None:
        self.name = name
        self.sink = sink
        self.now = now
        self.buf = sink.buf  # copied here: one attribute load less on every kept execution
        self.high_water = sink.high_water
        self.excluded = False
        self.idle = True  # not adapted by the flush thread until an execution of it is seen
        self.memory = False
        self.full = False  # track() takes its slow path: excluded, or a FullTracker (injected clock, memory sampling)
        self.base_rate = base_rate
        self.rate = base_rate
        self.keep_above = UNLEARNED  # ns
        self.sampled_out = 0  # total, written by the hot path
        self.window_sampled_out = 0  # value of sampled_out at the last adaptation
        self.kept = 0  # in the current window, counted by the flush thread
        self.seen_rate = 0.0  # executions per second, smoothed
        self.recent: deque[tuple[int, float]] = deque(maxlen=WINDOW)  # (duration ns, weight)
        self.cap = cap  # max_frames_per_second (0: no cap)
        self.tail_rate = 1.0  # keep probability of errors and slow executions (rule 7)
        self.thinning = base_rate < 1.0  # rate < 1 or tail_rate < 1: set wherever they change, read by the hot path
        self.n = 0  # executions seen, written by the hot path only
        self.tail_n = 0  # of which errors or slow, written by the hot path only
        self.window_tail_n = 0  # value of tail_n at the last adaptation
        self.check_at = CHECK  # n at which the hot path next checks for a burst
        self.check_n = 0  # n, tail_n and the clock at the last burst check
        self.check_tail = 0
        self.check_t = now()
        self.bucket = cap  # frames the burst check may still let through at the current rates (one second's)
        self.tail_bucket = cap * TAIL_SHARE

    def __copy__(self) -> ComponentState:
        """A copy with every field, the C ones included (copy.copy cannot see those by itself)."""
        other = type(self).__new__(type(self))
        names = ComponentState.__slots__ if hotpath.C is None else ComponentState.__slots__ + HOT_FIELDS
        for name in names:
            if hasattr(self, name):
                setattr(other, name, getattr(self, name))
        return other


def check_burst(st: ComponentState, now_ns: int) -> None:
    """The hot path's burst check, every CHECK executions: lower `rate` and `tail_rate` at once when keeping
    the last CHECK executions at the current rates overdraws the caps (rules 4 and 7). Each cap is a token
    bucket holding one second of its budget, refilled at the cap: a short burst within a second's budget is
    kept whole (as it was), a flood is thinned after about one second's budget of frames, long before the
    flush thread's next adaptation. Never raises a rate: the flush thread does."""
    n, tail_n = st.n, st.tail_n
    elapsed_s = (now_ns - st.check_t) / 1e9
    seen, tail = n - st.check_n, tail_n - st.check_tail
    st.check_at = n + CHECK
    st.check_n, st.check_tail, st.check_t = n, tail_n, now_ns
    cap = st.cap
    if cap <= 0 or elapsed_s <= 0:
        return
    tail_cap = cap * TAIL_SHARE
    st.bucket = min(cap, st.bucket + elapsed_s * cap - (seen - tail) * st.rate)
    if st.bucket < 0:
        st.rate = max(MIN_RATE, min(st.rate, cap * elapsed_s / seen))
    st.tail_bucket = min(tail_cap, st.tail_bucket + elapsed_s * tail_cap - tail * st.tail_rate)
    if st.tail_bucket < 0 and tail:
        st.tail_rate = max(MIN_RATE, min(st.tail_rate, tail_cap * elapsed_s / tail))
    st.thinning = st.rate < 1.0 or st.tail_rate < 1.0


def component_policy(config: Config, name: str) -> tuple[bool, float]:
    """(excluded, configured rate) of a component name; fnmatch patterns, the first rate that matches."""
    comps = config.components
    excluded = bool(comps.whitelist) and not any(fnmatch.fnmatchcase(name, p) for p in comps.whitelist)
    excluded = excluded or any(fnmatch.fnmatchcase(name, p) for p in comps.blacklist)
    rate = config.global_.sampling_rate
    if name in comps.custom_sampling_rates:
        rate = comps.custom_sampling_rates[name]
    else:
        for pattern, custom in comps.custom_sampling_rates.items():
            if fnmatch.fnmatchcase(name, pattern):
                rate = custom
                break
    return excluded or rate <= 0.0, rate


def weighted_quantile(samples: list[tuple[int, float]], q: float) -> int:
    """The q-quantile of durations, each counted `weight` times (weights are 1/sample_rate): the first duration,
    in order, at which the running weight reaches q of the total. Sorted by duration alone and summed by
    itertools.accumulate, 1,024 samples take 56 us where sorting the tuples and a Python loop took 156: the flush
    thread runs this once a second for every running component (0.35 us per frame at 20 components and 10K
    frames/s before). Ties in duration give the same answer in any order."""
    ordered = sorted(samples, key=_duration)
    cumulative = list(itertools.accumulate(map(_weight, ordered)))
    i = bisect.bisect_left(cumulative, q * cumulative[-1])
    return ordered[min(i, len(ordered) - 1)][0]


def adapt(st: ComponentState, elapsed_s: float, max_per_second: float) -> int:
    """Once per flush: update the volume-capped rate and the slow threshold from the last window; returns the
    executions seen in the window (0: the state may go idle)."""
    sampled_out = st.sampled_out
    executions = st.kept + (sampled_out - st.window_sampled_out)
    st.window_sampled_out = sampled_out
    st.kept = 0
    if elapsed_s <= 0:
        return executions
    per_second = executions / elapsed_s
    st.seen_rate = (
        per_second if st.seen_rate == 0.0 else (RATE_SMOOTHING * per_second + (1 - RATE_SMOOTHING) * st.seen_rate)
    )
    rate = st.base_rate
    quantile = QUANTILE
    if max_per_second > 0 and st.seen_rate * rate > max_per_second:
        rate = max(MIN_RATE, max_per_second / st.seen_rate)
        quantile = max(QUANTILE, 1.0 - max_per_second / 2 / st.seen_rate)
    st.rate = rate
    tail = st.tail_n
    tail_per_s = (tail - st.window_tail_n) / elapsed_s
    st.window_tail_n = tail
    budget = max_per_second * TAIL_SHARE
    st.tail_rate = max(MIN_RATE, budget / tail_per_s) if max_per_second > 0 and tail_per_s > budget else 1.0
    st.thinning = rate < 1.0 or st.tail_rate < 1.0
    if len(st.recent) >= MIN_FOR_P95:
        st.keep_above = weighted_quantile(list(st.recent), quantile)
    return executions
