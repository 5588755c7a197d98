"""Executions the recorder could not record, written to the store as **account frames**.

A frame dropped by the recorder (its buffer was full, the store was unavailable or refused the frame, its
timestamp was in the future, building it failed) used to be visible only in `stats()`, so every count and cost
the analysis showed was silently low. Now each flush writes, per (agent, component, reason), one account frame:
an ordinary frame of that component with `unrecorded` = the executions lost since the last flush, weighted by
1/sample_rate like every count, `total_ms` 0 and `tags["smythtop.reason"]` the reason. The store keeps account
frames out of `scan` and the tail (they are not executions) and gives them to `store.unrecorded`; the analysis
adds them to execution counts where it can and shows "N executions not recorded" where it cannot (their
durations and costs are unknown). Sampled-out executions need no account: the kept frames' weights already
stand for them (Horvitz-Thompson, docs/RECORDER.md "Sampling").

An account frame that cannot be written either (the store is still unavailable) is kept here and written by a
later flush: its executions are counted once, under their first reason.
"""

from __future__ import annotations

import threading
from typing import Any

from smythtop.store.schema import ACCOUNT_REASON_TAG as REASON_TAG

BUFFER_FULL = "buffer_full"
STORE_UNAVAILABLE = "store_unavailable"
REJECTED = "rejected"
FUTURE_TS = "future_ts"
INTERNAL_ERROR = "internal_error"


class Unrecorded:
    """Weighted counts of lost executions per (agent_id, component, reason), until a flush writes them."""

    __slots__ = ("_lock", "_lost")

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the hot path (buffer full) and the flush thread both add
        self._lost: dict[tuple[str, str, str], float] = {}

    def add(self, agent_id: str, component: str, reason: str, weight: float) -> None:
        key = (agent_id, component, reason)
        with self._lock:
            self._lost[key] = self._lost.get(key, 0.0) + weight

    def lose(self, agent_id: Any, component: Any, rate: Any, reason: str, default_agent: str) -> None:
        """One execution lost, as whatever it carried said: a weight of 1/rate, a missing name defaulted."""
        weight = 1.0 / rate if isinstance(rate, (int, float)) and 0 < rate <= 1 else 1.0
        self.add(
            agent_id if isinstance(agent_id, str) and agent_id else default_agent,
            component if isinstance(component, str) and component else "(unknown)",
            reason,
            weight,
        )

    def add_frames(self, frames: list[dict[str, Any]], reason: str, default_agent: str) -> None:
        """Frames that were built but not written; an account frame among them is put back under its own reason."""
        for f in frames:
            lost = f.get("unrecorded")
            if lost is not None:
                self.add(f["agent_id"], f["component"], f["tags"][REASON_TAG], float(lost))
            else:
                self.lose(f.get("agent_id"), f.get("component"), f.get("sample_rate"), reason, default_agent)

    def take(self, ts: int, agent_name: str | None) -> list[dict[str, Any]]:
        """The account frames of the whole executions lost since the last call, dated `ts`; fractions of an
        execution (weights are 1/sample_rate) wait for the next call, so nothing is rounded away."""
        with self._lock:
            lost, self._lost = self._lost, {}
        frames = []
        for (agent_id, component, reason), weight in lost.items():
            n = int(weight + 1e-9)
            if weight - n > 1e-9:
                self.add(agent_id, component, reason, weight - n)
            if n <= 0:
                continue
            frame: dict[str, Any] = {
                "ts": ts,
                "agent_id": agent_id,
                "component": component,
                "total_ms": 0.0,
                "success": True,
                "unrecorded": n,
                "tags": {REASON_TAG: reason},
            }
            if agent_name is not None:
                frame["agent_name"] = agent_name
            frames.append(frame)
        return frames

    def pending(self) -> float:
        with self._lock:
            return sum(self._lost.values())
