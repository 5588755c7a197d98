"""A real Collector that loses executions: the store gets account frames with a known count (tests/app, tests/cli)."""

from __future__ import annotations

import threading
from pathlib import Path

from smythtop.recorder import Collector, VirtualClock


def lose_500(root: Path, start_ns: int) -> None:
    """601 executions (First, then 600 during a stalled flush, every third one Other): a 100-frame buffer keeps
    101 (First, Burst 67, Other 33) and accounts for the first 500 of the burst (Burst 333, Other 167) as
    buffer_full."""
    clock = VirtualClock(start_ns)
    c = Collector(
        {"global": {"buffer_size": 100, "flush_interval": 3600, "max_frames_per_second": 0}}, store=root, clock=clock
    )
    gate, in_callback = threading.Event(), threading.Event()

    def stall(_frames: list[dict]) -> None:
        in_callback.set()
        gate.wait(30)

    try:
        c.on("batch-flush", stall)
        with c.track("First", agent_id="a"):
            clock.advance(1.0)
        threading.Thread(target=c.flush, daemon=True).start()
        assert in_callback.wait(10)
        for i in range(600):
            with c.track("Burst" if i % 3 else "Other", agent_id="b"):
                clock.advance(1.0)
        gate.set()
        c.off("batch-flush", stall)
        assert c.flush()
        assert c.stats()["dropped_buffer_full"] == 500
    finally:
        gate.set()
        c.close()
