"""How simulated work takes time: really (live demo) or on a virtual clock (backfill).

The workflow code is the same in both modes; only `wait` and `parallel` differ. Live, waits sleep
(and end early when the fleet is stopped) and parallel branches run in threads, carrying the trace
context with `propagate`. Virtual, waits advance the recorder's clock and parallel branches run one
after another from the same start time, the parent resuming at the latest branch end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from smythtop.recorder.clock import VirtualClock
from smythtop.recorder.trace import propagate


class Pacing(Protocol):
    def wait(self, ms: float) -> None: ...

    def parallel(self, branches: Sequence[Callable[[], object]]) -> None: ...


class LivePacing:
    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def wait(self, ms: float) -> None:
        self.stop.wait(ms / 1000.0)

    def parallel(self, branches: Sequence[Callable[[], object]]) -> None:
        threads = [threading.Thread(target=propagate(b), name="fleet-branch", daemon=True) for b in branches[1:]]
        for thread in threads:
            thread.start()
        if branches:
            branches[0]()
        for thread in threads:
            thread.join()


class VirtualPacing:
    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock

    def wait(self, ms: float) -> None:
        self.clock.advance(ms)

    def parallel(self, branches: Sequence[Callable[[], object]]) -> None:
        start = self.clock.monotonic_ns()
        end = start
        for branch in branches:
            self.clock.set(start)
            branch()
            end = max(end, self.clock.monotonic_ns())
        self.clock.set(end)
