"""One tracked execution: the object `collector.track(...)` returns.

The calling thread does as little as it can: two clock reads, one ContextVar set/reset, a sampling
test and one deque append of this object itself. Everything else (ids, wall-clock timestamps,
validation, pricing, encoding) happens later in the flush thread, from the fields kept here.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Mapping
from typing import Any

from smythtop.recorder import hotpath
from smythtop.recorder.fingerprint import config_hash
from smythtop.recorder.memory import RSS
from smythtop.recorder.payload import size_of
from smythtop.recorder.sampling import ComponentState, check_burst
from smythtop.recorder.trace import CURRENT, IDS

_random = random.random
_now = time.perf_counter_ns  # the system clock's monotonic reading (smythtop.recorder.clock.SystemClock)
_id_lock = threading.Lock()
_pid = os.getpid()  # this process; a tracker remembers it at enter and records itself only in that process

PHASES = ("input", "core", "output", "queue")
# Keys of a tracker's extras dict that are bookkeeping, not frame fields.
MEM0 = "_mem0"
MEM_PEAK = "_mem_peak"
RESPONSE = "_response"


class PyTrackerBase:
    """The fields and the with-protocol of a `Tracker` in Python: the reference `_hotpath.TrackerBase` follows step
    for step, and what runs where the C extension is not built (smythtop.recorder.hotpath)."""

    __slots__ = (
        "_end", "_err", "_parent", "_pid", "_rate", "_span", "_st", "_start", "_token", "_trace", "_x", "agent_id",
    )  # fmt: skip

    _st: ComponentState
    agent_id: str | None
    _x: dict[str, Any] | None
    _span: int | str | None

    def __enter__(self) -> PyTrackerBase:
        self._parent = CURRENT.get()
        self._token = CURRENT.set(self)
        self._pid = _pid
        self._start = _now()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: Any) -> bool:
        end = _now()
        try:
            # _leave() and _keep() inlined: a method call here would cost every execution about 0.1 us.
            try:
                CURRENT.reset(self._token)
            except ValueError:  # exited in another context than entered (e.g. an async generator)
                CURRENT.set(self._parent)
            self._token = None
            if self._pid != _pid:  # entered before a fork: the process that entered it records it
                return False
            st = self._st
            self._end = end  # the duration is end - _start, taken in the flush thread when kept
            self._err = et
            n = st.n + 1
            st.n = n
            if n >= st.check_at:  # every CHECK executions: meet a burst now, not at the next flush
                check_burst(st, end)
            if st.thinning:  # rate or tail_rate below 1 (one flag: one load where two compares were)
                rate = st.rate
                x = self._x  # a failure reported with fail() (error_type) is kept like a raised one
                if et is not None or end - self._start > st.keep_above or (x is not None and "error_type" in x):
                    st.tail_n += 1
                    rate = st.tail_rate  # the tail's own cap (sampling rule 7)
                if rate < 1.0 and _random() >= rate:
                    st.sampled_out += 1
                    if st.idle:  # the flush thread adapts only the states it knows are running
                        st.idle = False
                        st.sink.wake_state(st)
                    return False
                self._rate = rate
            else:
                self._rate = 1.0
            buf = st.buf
            if len(buf) >= st.high_water:
                st.sink.filling(len(buf))
            buf.append(self)
        except Exception as exc:  # the agent goes on whatever happens here
            self._st.sink.fault("tracker", exc)
        return False


_TrackerBase: type = PyTrackerBase if hotpath.C is None else hotpath.C.TrackerBase


class Tracker(_TrackerBase):  # type: ignore[misc, valid-type]
    """Times a block and records it as one frame when it exits. Never raises into the caller.

    This class is the fast path: the system clock, no memory sampling, the parent taken from the
    context. `FullTracker` adds the rest; the two keep their hot code apart on purpose, since
    every attribute load and branch here is paid by every execution. Its fields and with-protocol come from
    `_hotpath.TrackerBase` (C) or `PyTrackerBase` (smythtop.recorder.hotpath says which and why).

    It has no `__init__`: `Collector.track` makes one with `Tracker()` and sets `_st`, `agent_id`,
    `_x` and `_span` itself, since calling a Python `__init__` cost about 0.1 us per execution,
    as much as the rest of `track()` (docs/RECORDER.md, "Import time and overhead").
    """

    __slots__ = ()

    _st: ComponentState
    agent_id: str | None
    _x: dict[str, Any] | None
    _span: int | str | None
    _parent: Any
    _start: int
    _end: int
    _rate: float
    _pid: int
    _token: Any
    _err: type[BaseException] | None
    _trace: str

    def _leave(self) -> None:
        """Stop being the current execution (as __exit__ does)."""
        try:
            CURRENT.reset(self._token)
        except ValueError:  # exited in another context than entered (e.g. an async generator)
            CURRENT.set(self._parent)
        self._token = None

    def _close(self, end: int, et: type[BaseException] | None) -> None:
        """Sample memory if asked, then keep or sample out; never raises."""
        try:
            if self._x is not None and MEM0 in self._x:
                self._sample_memory()
            self._keep(end, et)
        except Exception as exc:
            self._st.sink.fault("tracker", exc)

    def _keep(self, end: int, et: type[BaseException] | None) -> None:
        """Apply the sampling rule and buffer this tracker."""
        if self._pid != _pid:  # entered before a fork: the process that entered it records it
            return
        st = self._st
        self._end = end
        self._err = et
        n = st.n + 1
        st.n = n
        if n >= st.check_at:
            check_burst(st, end)
        if st.thinning:
            rate = st.rate
            x = self._x
            if et is not None or end - self._start > st.keep_above or (x is not None and "error_type" in x):
                st.tail_n += 1
                rate = st.tail_rate
            if rate < 1.0 and _random() >= rate:
                st.sampled_out += 1
                if st.idle:
                    st.idle = False
                    st.sink.wake_state(st)
                return
            self._rate = rate
        else:
            self._rate = 1.0
        buf = st.buf
        if len(buf) >= st.high_water:
            st.sink.filling(len(buf))
        buf.append(self)

    # -- an execution that does not fit a with-block ----------------------------------------------
    def begin(self) -> Tracker:
        """Start timing without becoming the current execution, for a call whose end comes later and
        elsewhere (an LLM stream read after the call returned, a callback). Its parent is the current
        execution now; executions started meanwhile do not nest under it. `end()` records it."""
        if getattr(self, "_parent", None) is None:  # the fast Tracker has no parent slot set yet
            self._parent = CURRENT.get()
        self._token = None
        x = self._x
        if x is not None and MEM0 in x:
            x[MEM0] = RSS.rss()
        self._pid = _pid
        self._start = self._st.now()
        return self

    def end(self, error: type[BaseException] | None = None) -> None:
        """Record an execution started with `begin()`; `error` is the exception type it failed with."""
        self._close(self._st.now(), error)

    # -- what the caller adds -------------------------------------------------------------------
    def _extras(self) -> dict[str, Any]:
        x = self._x
        if x is None:
            x = self._x = {}
        return x

    def phase(self, name: str) -> Phase:
        """`with t.phase("input"):` times one phase; repeated phases add up. Phases: input, core,
        output, and queue (waiting inside the block, e.g. for a rate limiter)."""
        if name not in PHASES:
            self._st.sink.warn_once(f"phase:{name}", f"unknown phase {name!r} ignored (known: {', '.join(PHASES)})")
        return Phase(self, name)

    def llm(
        self,
        model: str | None = None,
        provider: str | None = None,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        reasoning_tokens: int | None = None,
        cache_write_1h_tokens: int | None = None,
        ttft_ms: float | None = None,
        quality: float | None = None,
        cost_usd: float | None = None,
        context_window: int | None = None,
    ) -> None:
        """LLM usage, in OpenTelemetry GenAI terms: input_tokens INCLUDES cached tokens, and
        reasoning_tokens are part of output_tokens; cache_write_1h_tokens is the part of cache_write_tokens
        written with a 1-hour TTL (billed higher). Cost is priced later (genai-prices) unless given."""
        x = self._x
        if x is None:
            x = self._x = {}
        if model is not None:
            x["model"] = model
        if provider is not None:
            x["provider"] = provider
        if input_tokens is not None:
            x["input_tokens"] = input_tokens
        if output_tokens is not None:
            x["output_tokens"] = output_tokens
        if cache_read_tokens is not None:
            x["cache_read_tokens"] = cache_read_tokens
        if cache_write_tokens is not None:
            x["cache_write_tokens"] = cache_write_tokens
        if reasoning_tokens is not None:
            x["reasoning_tokens"] = reasoning_tokens
        if cache_write_1h_tokens is not None:
            x["cache_write_1h_tokens"] = cache_write_1h_tokens
        if ttft_ms is not None:
            x["ttft_ms"] = ttft_ms
        if quality is not None:
            x["quality"] = quality
        if cost_usd is not None:
            x["cost_usd"] = cost_usd
        if context_window is not None:
            x["context_window"] = context_window

    def llm_response(self, response: Any, provider: str | None = None, *, api_flavor: str | None = None) -> None:
        """Usage from a provider's response (an OpenAI, Anthropic or Google dict, or an SDK object
        with `model_dump()`): read later in the flush thread by genai-prices' `extract_usage`, which
        knows each provider's shape (e.g. Anthropic's input_tokens excludes cached tokens)."""
        self._extras()[RESPONSE] = (response, provider, api_flavor)

    def io(self, input: Any = None, output: Any = None, *, complexity: float | None = None) -> None:
        """Data flow: sizes in bytes (ints) or objects whose size is estimated cheaply."""
        x = self._extras()
        if input is not None:
            x["input_bytes"] = size_of(input)
        if output is not None:
            x["output_bytes"] = size_of(output)
        if complexity is not None:
            x["complexity"] = complexity

    def set(self, **fields: Any) -> None:
        """Any other frame field (retry_count, quality, component_id, ...); unknown names become tags.
        Values are checked in the flush thread; a bad one drops this frame there, counted."""
        self._extras().update(fields)

    def tag(self, **tags: str) -> None:
        x = self._extras()
        x["tags"] = {**x.get("tags", {}), **tags}

    def fail(self, error_type: str = "Error") -> None:
        """Mark the execution failed without raising, e.g. a tool that returned an error status; like a
        raised error, it is always kept (sample_rate 1.0)."""
        self._extras()["error_type"] = error_type

    # -- ids, on demand -------------------------------------------------------------------------
    def _span_n(self) -> int | str:
        """The span's counter value, drawn on first use; its hex id once frozen before a fork."""
        n = self._span
        if n is None:
            with _id_lock:  # the caller and the flush thread may both ask
                n = self._span
                if n is None:
                    n = self._span = IDS.next()
        return n

    def _root(self) -> Tracker:
        t = self
        while isinstance(t._parent, Tracker):
            t = t._parent
        return t

    @property
    def span_id(self) -> str:
        n = self._span_n()
        return n if isinstance(n, str) else IDS.span_hex(n)

    @property
    def trace_id(self) -> str:
        root = self._root()
        explicit = root._x.get("trace_id") if root._x else None
        if explicit is None and isinstance(root._parent, RemoteParent):
            explicit = root._parent.trace_id
        if explicit is None:
            explicit = getattr(root, "_trace", None)  # frozen before a fork
        return explicit if isinstance(explicit, str) else IDS.trace_hex(root._span_n())

    @property
    def parent_span_id(self) -> str | None:
        p = self._parent
        if isinstance(p, Tracker):
            return p.span_id
        if isinstance(p, RemoteParent):
            return p.span_id
        return self._x.get("parent_span_id") if self._x else None

    @property
    def component(self) -> str:
        return self._st.name

    def _sample_memory(self) -> None:
        x = self._x
        assert x is not None
        rss = RSS.rss()
        start = x.pop(MEM0)
        if rss is None or start is None:
            return
        x["mem_delta_bytes"] = rss - start
        x["mem_peak_bytes"] = max(x.pop(MEM_PEAK, 0), start, rss)
        x["_rss"] = rss


class FullTracker(Tracker):
    """A tracker with an injected clock, memory sampling or an explicit parent."""

    __slots__ = ()

    def __init__(self, st: ComponentState, agent_id: str | None, parent: Any = None) -> None:
        self._st = st
        self.agent_id = agent_id
        self._x = None
        self._span = None
        self._parent = parent

    def __enter__(self) -> Tracker:
        if self._parent is None:
            self._parent = CURRENT.get()
        self._token = CURRENT.set(self)
        if self._x is not None and MEM0 in self._x:
            self._x[MEM0] = RSS.rss()
        self._pid = _pid
        self._start = self._st.now()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: Any) -> bool:
        end = self._st.now()
        try:
            self._leave()
        except Exception as exc:
            self._st.sink.fault("tracker", exc)
        self._close(end, et)
        return False


class Phase:
    """Times one phase of a tracker; the elapsed ns are added to the tracker's extras."""

    __slots__ = ("_name", "_start", "_t")

    def __init__(self, tracker: Tracker, name: str) -> None:
        self._t = tracker
        self._name = name

    def __enter__(self) -> Phase:
        self._start = self._t._st.now()
        return self

    def __exit__(self, *exc: object) -> bool:
        t = self._t
        try:
            elapsed = t._st.now() - self._start
            if self._name in PHASES:
                x = t._extras()
                key = f"_{self._name}_ns"
                x[key] = x.get(key, 0) + elapsed
                if MEM0 in x:
                    rss = RSS.rss()
                    if rss is not None:
                        x[MEM_PEAK] = max(x.get(MEM_PEAK, 0), rss)
        except Exception as exc:
            t._st.sink.fault("phase", exc)
        return False


class RemoteParent:
    """A parent from elsewhere (an incoming W3C traceparent, another process): ids given as hex."""

    __slots__ = ("span_id", "trace_id")

    def __init__(self, trace_id: str, span_id: str | None = None) -> None:
        self.trace_id = trace_id
        self.span_id = span_id

    @classmethod
    def from_traceparent(cls, header: str) -> RemoteParent | None:
        """Parse `00-<32 hex trace>-<16 hex span>-<flags>`; None when malformed."""
        parts = header.strip().split("-")
        if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
            return None
        try:
            int(parts[1], 16), int(parts[2], 16)
        except ValueError:
            return None
        return cls(parts[1], parts[2])


class NoopTracker:
    """What `track()` returns when recording is off or the component is excluded: does nothing."""

    __slots__ = ()

    def __enter__(self) -> NoopTracker:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False

    def begin(self) -> NoopTracker:
        return self

    def end(self, error: type[BaseException] | None = None) -> None:
        pass

    def phase(self, name: str) -> NoopTracker:
        return self

    def llm(self, *args: Any, **kwargs: Any) -> None:
        pass

    def llm_response(self, *args: Any, **kwargs: Any) -> None:
        pass

    def io(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set(self, **fields: Any) -> None:
        pass

    def tag(self, **tags: str) -> None:
        pass

    def fail(self, error_type: str = "Error") -> None:
        pass

    span_id = None
    trace_id = None
    parent_span_id = None
    agent_id = None
    component = None


NOOP = NoopTracker()
if hotpath.C is not None:  # the C hot path's process-wide references, the same objects Python uses
    hotpath.C.configure(CURRENT, check_burst, NOOP)


def _freeze_ids_before_fork() -> None:
    """In the forking thread, just before a fork: fix the ids of the executions it is inside. The child's id
    source is reseeded, so ids drawn there later would differ from the parent's; frozen now, the child's
    executions point at the spans and trace the parent records."""
    t = CURRENT.get()
    if not isinstance(t, Tracker):
        return
    root = t._root()
    trace = root.trace_id
    while isinstance(t, Tracker):
        t._span = t.span_id
        t = t._parent
    root._trace = trace


def _after_fork_in_child() -> None:
    global _pid
    _pid = os.getpid()
    if hotpath.C is not None:
        hotpath.C.set_pid()


os.register_at_fork(before=_freeze_ids_before_fork, after_in_child=_after_fork_in_child)


def apply_track_fields(t: Tracker, fields: Mapping[str, Any]) -> None:
    """The keyword arguments of `track()`, beyond component and agent_id."""
    x = t._extras()
    for key, value in fields.items():
        if value is None:
            continue
        if key == "input":
            x["input_bytes"] = size_of(value)
        elif key == "output":
            x["output_bytes"] = size_of(value)
        elif key == "memory":
            if value:
                x[MEM0] = None
        elif key == "config":
            x["config_hash"] = config_hash(value)
        elif key == "tags":
            x["tags"] = {**x.get("tags", {}), **value}
        else:
            x[key] = value
