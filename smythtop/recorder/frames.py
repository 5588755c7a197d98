"""Turning what the hot path buffered (trackers and records) into frame dicts, in the flush thread.

Here the deferred work happens: wall-clock timestamps, hex ids, phase arithmetic, memory pressure.
Phases add up honestly: only a phase that was not measured is derived, core = total - input -
output - queue (queue measured inside the block), and only when at least one phase was measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smythtop.recorder.trace import IDS
from smythtop.recorder.tracker import RESPONSE, RemoteParent, Tracker
from smythtop.store.schema import MAX_ID_LEN, MAX_MS, TrustedRow

NS_PER_MS = 1e6
MAX_NS = int(MAX_MS * NS_PER_MS)  # the longest duration the store takes, in ns (an int: compared per frame)
_PHASE_KEYS = (("_input_ns", "input_ms"), ("_core_ns", "core_ms"), ("_output_ns", "output_ms"))


@dataclass(slots=True)
class Record:
    """A frame handed to `collector.record()`, with the execution it was recorded inside."""

    frame: dict[str, Any]
    parent: Any
    rate: float


@dataclass(frozen=True, slots=True)
class Defaults:
    agent_id: str
    agent_name: str | None
    memory_limit: int | None
    name_fits: bool = field(init=False)  # agent_name may go into a row unchecked (`Collector._frames`)

    def __post_init__(self) -> None:
        name = self.agent_name
        object.__setattr__(self, "name_fits", name is None or (type(name) is str and len(name) <= MAX_ID_LEN))


def tracker_frame(
    t: Tracker, offset: int, defaults: Defaults
) -> tuple[dict[str, Any], tuple[Any, str | None, str | None] | None]:
    """The frame of a finished tracker (`offset` turns its monotonic start into epoch ns), and the response
    whose usage is still to be read (if any)."""
    dur = t._end - t._start
    err = t._err
    x = t._x
    f = {
        "ts": t._start + offset,
        "agent_id": agent_of(t) or defaults.agent_id,
        "component": t._st.name,
        "total_ms": dur / NS_PER_MS,
        "success": err is None,
        "span_id": t.span_id,
        "trace_id": t.trace_id,
        "sample_rate": t._rate,
    }
    if err is not None:
        f["error_type"] = getattr(err, "__name__", None) or str(err)
    parent = t.parent_span_id
    if parent is not None:
        f["parent_span_id"] = parent
    agent_name = _inherited_name(t) or defaults.agent_name
    if agent_name is not None:
        f["agent_name"] = agent_name
    response = None
    if x:
        measured = 0
        for key, field in _PHASE_KEYS:
            ns = x.get(key)
            if ns is not None:
                f[field] = ns / NS_PER_MS
                measured += ns
        queue_inside = x.get("_queue_ns")
        if queue_inside is not None:
            f["queue_ms"] = queue_inside / NS_PER_MS
            measured += queue_inside
        if "core_ms" not in f and measured:
            f["core_ms"] = max(0, dur - measured) / NS_PER_MS
        rss = x.get("_rss")
        if rss is not None and defaults.memory_limit:
            f["mem_pressure"] = min(1.0, rss / defaults.memory_limit)
        response = x.get(RESPONSE)
        for key, value in x.items():
            if key[0] != "_":
                f[key] = value
        if "error_type" in x:
            f["success"] = False
    return f, response


def row_frame(row: TrustedRow) -> dict[str, Any]:
    """A plain tracker's row (`Collector._frames`) as the frame dict `tracker_frame` builds for the same tracker,
    for what takes dicts: events, and the accounts of frames the store did not take. Only the fields such a row
    has are read."""
    f: dict[str, Any] = {
        "ts": row.ts,
        "agent_id": row.agent_id,
        "component": row.component,
        "total_ms": row.total_ms,
        "success": row.success,
        "span_id": row.span_id,
        "trace_id": row.trace_id,
        "sample_rate": row.sample_rate,
    }
    if row.error_type is not None:
        f["error_type"] = row.error_type
    if row.agent_name is not None:
        f["agent_name"] = row.agent_name
    return f


def agent_of(t: Tracker) -> str | None:
    """A nested execution belongs to the agent of its nearest ancestor that names one."""
    node: Any = t
    while isinstance(node, Tracker):
        if node.agent_id is not None:
            return node.agent_id
        node = node._parent
    return None


def _inherited_name(t: Tracker) -> str | None:
    node: Any = t
    while isinstance(node, Tracker):
        name = node._x.get("agent_name") if node._x else None
        if name is not None:
            return name
        node = node._parent
    return None


def record_frame(r: Record, defaults: Defaults) -> dict[str, Any]:
    """A recorded frame, completed with defaults and the trace of the execution it was recorded in."""
    f = r.frame
    if f.get("agent_id") is None:
        f["agent_id"] = (agent_of(r.parent) if isinstance(r.parent, Tracker) else None) or defaults.agent_id
    if defaults.agent_name is not None:
        f.setdefault("agent_name", defaults.agent_name)
    if r.rate != 1.0 and f.get("sample_rate") is None:
        f["sample_rate"] = r.rate
    parent = r.parent
    if isinstance(parent, (Tracker, RemoteParent)) and f.get("trace_id") is None:
        f["trace_id"] = parent.trace_id
        if f.get("parent_span_id") is None:
            f["parent_span_id"] = parent.span_id
    if f.get("trace_id") is not None and f.get("span_id") is None:
        f["span_id"] = IDS.span_hex(IDS.next())
    return f
