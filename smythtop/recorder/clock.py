"""Clocks: the monotonic clock the hot path reads, and how its readings become wall-clock time.

The hot path reads only a monotonic nanosecond counter; the flush thread turns readings into epoch
timestamps with one offset per batch. A `VirtualClock` lets a simulation (the demo's backfill, tests)
record executions at any past time through the real recorder API, without sleeping.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic_ns(self) -> int:
        """A reading for durations; called on the hot path."""
        ...

    def wall_offset_ns(self) -> int:
        """Add to a monotonic reading to get ns since the epoch (UTC)."""
        ...


class SystemClock:
    """perf_counter_ns for durations; the offset to time.time_ns is re-read every batch, so clock
    steps (NTP) move timestamps at most one flush interval late."""

    monotonic_ns = staticmethod(time.perf_counter_ns)

    def wall_offset_ns(self) -> int:
        return time.time_ns() - time.perf_counter_ns()


class VirtualClock:
    """A settable clock whose readings are epoch nanoseconds; thread-safe."""

    def __init__(self, start_ns: int) -> None:
        self._now = start_ns
        self._lock = threading.Lock()

    def monotonic_ns(self) -> int:
        return self._now

    def wall_offset_ns(self) -> int:
        return 0

    def set(self, ns: int) -> None:
        self._now = ns

    def advance(self, ms: float) -> int:
        with self._lock:
            self._now += int(ms * 1e6)
            return self._now


SYSTEM_CLOCK = SystemClock()
