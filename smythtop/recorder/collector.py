"""The Collector: what an agent imports to record its component executions into the store.

    from smythtop import Collector
    collector = Collector.get_instance({"global": {"sampling_rate": 0.5}})
    with collector.track("LLMAssistant", agent_id="support-bot") as t:
        t.llm(model="gpt-4.1", provider="openai", input_tokens=1200, output_tokens=300)

Trackers go into a bounded ring buffer; a daemon thread drains it every flush_interval_s (and when
it is half full), turns them into frames, prices LLM usage, fires events and appends to the store.
No failure of the recorder raises into the agent: it is counted (`stats()`) and logged once.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import random
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from smythtop import store
from smythtop.recorder import accounts, hotpath, threads
from smythtop.recorder.clock import SYSTEM_CLOCK, Clock
from smythtop.recorder.config import Config, enabled, store_root
from smythtop.recorder.events import BATCH_FLUSH, PERFORMANCE_EVENT, EventBus, performance_events
from smythtop.recorder.fingerprint import config_hash
from smythtop.recorder.frames import (
    MAX_NS,
    NS_PER_MS,
    Defaults,
    Record,
    agent_of,
    record_frame,
    row_frame,
    tracker_frame,
)
from smythtop.recorder.memory import memory_limit
from smythtop.recorder.pricing import Pricer, PricingError
from smythtop.recorder.sampling import ComponentState, Sink, adapt, check_burst, component_policy
from smythtop.recorder.tags import TagPolicy
from smythtop.recorder.trace import CURRENT, IDS
from smythtop.recorder.tracker import NOOP, FullTracker, NoopTracker, RemoteParent, Tracker, apply_track_fields
from smythtop.store.schema import MAX_ID_LEN, TrustedRow, valid_frames

log = logging.getLogger("smythtop.recorder")

P = ParamSpec("P")
R = TypeVar("R")

TOKEN_FIELDS = (
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens",
    "reasoning_tokens",
)  # fmt: skip
WRITER_RETRY_S = 5.0
ADAPT_EVERY_S = 1.0
OTHER = "other"  # the component that names past global.max_components are recorded as
SIGNALS = ("SIGTERM", "SIGHUP")  # termination requests whose default action would lose the buffer
# A supervisor's grace period before SIGKILL is 10 s (docker stop) to 90 s (systemd): flush well within it.
SIGNAL_FLUSH_TIMEOUT_S = 5.0
_random = random.random
_live: weakref.WeakSet[Collector] = weakref.WeakSet()
_previous_handlers: dict[int, Any] = {}  # signal number -> the handler ours chains to
_deferred_signals: list[int] = []  # arrived while the main thread was inside a drain: delivered after it
_mp_hooked: weakref.WeakSet[Collector] = weakref.WeakSet()  # collectors with a multiprocessing exit hook
_instance: Collector | None = None
_instance_lock = threading.Lock()


class Collector:
    """Records component executions. Thread-safe; one per process is usual (`get_instance`)."""

    def __init__(
        self,
        config: Config | Mapping[str, Any] | str | os.PathLike[str] | None = None,
        *,
        store: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = Config.load(config)
        g = self.config.global_
        self._enabled = enabled(self.config)
        self.store_root = store_root(self.config, store)
        self._clock = clock or SYSTEM_CLOCK
        self._now = self._clock.monotonic_ns
        self._buf: deque[Any] = deque(maxlen=g.buffer_size)
        self._high_water = max(1, g.buffer_size // 2)
        self._sink = Sink(self._buf, self._high_water, self._filling, self._fault, self._warn_once)
        self._states = _States(self._state)
        if hotpath.C is not None and type(self).track is Collector.track:
            # track() in C for this instance (smythtop.recorder.hotpath); the Python method answers what C hands
            # back to it (keyword fields, unusual arguments), `_track_with` a state that needs the slow path.
            python_track = Collector.track.__get__(self)
            fast = hotpath.C.Track(self._states, python_track, self._track_with, self._fault, Tracker)
            self.track = fast  # type: ignore[method-assign]
        self._folded: dict[str, ComponentState] = {}  # past max_components: OTHER's state, the excluded names'
        self._active: set[ComponentState] = set()  # states the next adaptation looks at (sampling.adapt)
        self._tags = TagPolicy(g.denied_tag_keys, g.allowed_tag_keys)
        self._skew_ns = int(g.max_clock_skew_s * 1e9)
        self._ts_limit = 0  # frames dated after this are rejected; set per batch
        self.components_folded = 0  # executions of names past max_components, recorded as OTHER
        self.rejected_future_ts = 0
        self._ctl = _Control()
        self._events = EventBus()
        self._pricer = Pricer()
        self._writer_retry_at = 0
        self._closed = False
        self._defaults: Defaults | None = None
        self._warned: set[str] = set()
        self._thread: threading.Thread | None = None
        self._sources: tuple[Callable[[], object], ...] = ()  # add_source: work deferred to the flush thread
        self._init_process_state()
        _live.add(self)
        self._finalizer = weakref.finalize(self, _release, self._ctl)
        self._finalizer.atexit = False  # at exit, _close_all flushes first, then closes
        if self._enabled:
            if g.propagate_threads:
                threads.install()
            if g.flush_on_signal:
                _install_signal_flush()
            _flush_at_process_exit(self)
            self._start_thread()
        else:
            self._disable()

    def _init_process_state(self) -> None:
        """Locks, counters and the flush thread's handshake: fresh at start and in a forked child."""
        self._lock = threading.Lock()  # creating states, the writer
        self._flush_lock = threading.Lock()  # one drain at a time
        self._done = threading.Condition()
        self._draining = 0  # the thread inside _cycle, if any
        self._requested = 0
        self._completed = 0
        self._wake = self._ctl.wake = threading.Event()
        self._woken = False
        self._ctl.stopping = False
        self._last_adapt = self._now()
        self.kept = 0  # frames built from kept executions
        self.dropped = 0  # buffer full: the oldest frame was overwritten
        self.store_dropped = 0  # the store was unavailable
        self.rejected = 0  # the store refused the frame (a bad value)
        self.written = 0
        self.internal_errors = 0
        self._unflushed = 0  # appended to the writer, not yet known to be on disk
        self._unrecorded = accounts.Unrecorded()  # lost executions, written as account frames by each flush
        self.accounts_written = 0

    # -- singleton and configuration ----------------------------------------------------------
    @classmethod
    def get_instance(cls, config: Config | Mapping[str, Any] | str | None = None, **kwargs: Any) -> Collector:
        """The process-wide collector, created on first call (like the seed's getInstance(config));
        later calls return it and ignore `config`."""
        global _instance
        with _instance_lock:
            if _instance is None or _instance._closed:
                _instance = cls(config, **kwargs)
            elif config is not None:
                _instance._warn_once("get_instance", "Collector.get_instance(config): already created, config ignored")
            return _instance

    getInstance = get_instance  # the seed system's name

    @property
    def enabled(self) -> bool:
        return self._enabled

    # -- recording ----------------------------------------------------------------------------
    def track(self, component: str, agent_id: str | None = None, **fields: Any) -> Tracker | NoopTracker:
        """A context manager timing one execution of `component`. Keyword fields: parent (a
        Tracker or RemoteParent), traceparent (W3C header), input/output (sizes or objects),
        complexity, config (hashed) or config_hash, retry_count, queue_ms, memory (bool), tags,
        and any other frame field. (When recording is off, `_disable` shadows this method with
        `_track_off`, so the disabled path is one call returning a shared no-op.)"""
        try:
            st = self._states[component]  # a new name: _States.__missing__, without a method call on every hit
            if fields or st.full:  # keyword fields, an excluded name, an injected clock, memory sampling
                return self._track_with(st, agent_id, fields)
            t = Tracker()  # no __init__ to call (tracker.Tracker says why): its four fields set here
            t._st = st
            t.agent_id = agent_id
            t._x = None
            t._span = None
            return t
        except Exception as exc:
            self._fault("track", exc)
            return NOOP

    @staticmethod
    def _track_off(component: str, agent_id: str | None = None, **fields: Any) -> NoopTracker:
        return NOOP

    def _disable(self) -> None:
        self._enabled = False
        self.track = self._track_off  # type: ignore[method-assign]

    def _track_with(self, st: ComponentState, agent_id: str | None, fields: dict[str, Any]) -> Tracker | NoopTracker:
        """track()'s slow path: an excluded name (NOOP), keyword fields, an injected clock or memory sampling."""
        if st.excluded:
            return NOOP
        parent = fields.pop("parent", None)
        traceparent = fields.pop("traceparent", None)
        if parent is None and traceparent:
            parent = RemoteParent.from_traceparent(traceparent)
        t = FullTracker(st, agent_id, parent)
        if st.memory and "memory" not in fields:
            fields["memory"] = True
        if fields:
            apply_track_fields(t, fields)
        return t

    def tracked(self, component: str | Callable[..., Any] | None = None, **fields: Any) -> Any:
        """Decorator for sync and `async def` functions: each call is one tracked execution.
        `@collector.tracked`, or `@collector.tracked("Retriever", agent_id=...)`; the name defaults
        to the function's qualified name. A `config=` is hashed once, here."""
        if callable(component):
            return self.tracked()(component)
        if "config" in fields:
            fields["config_hash"] = config_hash(fields.pop("config"))
        # agent_id passed positionally and `**fields` only when there are some: unpacking even an empty mapping
        # into a call builds a dict on every call of the function.
        agent_id = fields.pop("agent_id", None)

        def decorate(fn: Callable[P, R]) -> Callable[P, R]:
            import inspect  # here, not at import: it costs agents about 10 ms of start-up

            name = component or fn.__qualname__
            if inspect.iscoroutinefunction(fn):

                @functools.wraps(fn)
                async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                    with self.track(name, agent_id, **fields) if fields else self.track(name, agent_id):
                        return await fn(*args, **kwargs)

                return run_async  # type: ignore[return-value]

            @functools.wraps(fn)
            def run(*args: P.args, **kwargs: P.kwargs) -> R:
                with self.track(name, agent_id, **fields) if fields else self.track(name, agent_id):
                    return fn(*args, **kwargs)

            return run

        return decorate

    def record(self, frame: Mapping[str, Any]) -> None:
        """Record a frame measured by the caller (the frame contract's fields). Missing ts means now;
        inside a tracked block it joins that trace. Sampled like tracked executions."""
        if not self._enabled:
            return
        try:
            f = dict(frame)
        except (TypeError, ValueError):
            self.rejected += 1
            self._warn_once("record-type", f"record() needs a mapping, got {type(frame).__name__}: ignored")
            return
        try:
            rate = 1.0
            component = f.get("component")
            if isinstance(component, str):
                st = self._states.get(component) or self._state(component)
                if st.excluded:
                    return
                if st.name != component:  # folded into OTHER: the real name is kept nowhere
                    f["component"] = st.name
                n = st.n + 1
                st.n = n
                if n >= st.check_at:  # the burst check of the hot path (sampling rule 7 and CHECK)
                    check_burst(st, self._now())
                if (st.rate < 1.0 or st.tail_rate < 1.0) and f.get("sample_rate") is None:
                    total = f.get("total_ms")
                    slow = isinstance(total, (int, float)) and total * 1e6 > st.keep_above
                    rate = st.rate
                    if slow or f.get("success") is False:
                        st.tail_n += 1
                        rate = st.tail_rate
                    if rate < 1.0 and _random() >= rate:
                        st.sampled_out += 1
                        if st.idle:  # once per idle state: the flush thread adapts only running ones
                            st.idle = False
                            st.sink.wake_state(st)
                        return
            if "ts" not in f:
                f["ts"] = self._now() + self._clock.wall_offset_ns()
            buf = self._buf
            if len(buf) >= self._high_water:
                self._filling(len(buf))
            buf.append(Record(f, CURRENT.get(), rate))
        except Exception as exc:
            self._fault("record", exc)

    def _state(self, component: str) -> ComponentState:
        """The state of a name seen for the first time. Past global.max_components names, a new name shares
        the state of OTHER (or of the excluded names), so memory and the flush thread's work stay bounded
        whatever an agent calls its components."""
        with self._lock:
            st = self._states.get(component)
            if st is not None:
                return st
            excluded, rate = component_policy(self.config, component)
            if len(self._states) < self.config.global_.max_components:
                st = self._states[component] = self._new_state(component, excluded, rate)
                return st
            self.components_folded += 1
            self._warn_once(
                "max-components",
                f"more than global.max_components={self.config.global_.max_components} component names: "
                f"new names are recorded as {OTHER!r}",
            )
            key = "" if excluded else OTHER  # "" is never a valid component name: no collision
            st = self._folded.get(key)
            if st is None:
                st = self._folded[key] = self._new_state(OTHER, excluded, self.config.global_.sampling_rate)
            return st

    def _new_state(self, name: str, excluded: bool, rate: float) -> ComponentState:
        st = ComponentState(name, self._sink, self._now, rate, self.config.global_.max_frames_per_second)
        st.excluded = excluded
        st.memory = self.config.global_.track_memory
        st.full = excluded or st.memory or self._clock is not SYSTEM_CLOCK
        return st

    # -- deferred sources ---------------------------------------------------------------------
    def add_source(self, drain: Callable[[], object]) -> None:
        """Have `drain()` called at the start of every flush (the flush thread's, `flush()`, `close()`, at exit and
        on a signal), so a front-end can defer its per-event work off the application's thread: `drain` turns
        what it queued into `record()` calls. It must be thread-safe; its errors are counted like the recorder's."""
        self._sources = (*self._sources, drain)

    def wake(self) -> None:
        """Ask for a flush now without waiting for it: a source whose queue is filling up calls this."""
        if not self._woken:
            self._woken = True
            self._wake.set()

    def _run_sources(self) -> None:
        for drain in self._sources:
            try:
                drain()
            except Exception as exc:
                self._fault("source", exc)

    # -- events -------------------------------------------------------------------------------
    def on(self, event: str, callback: Callable[[Any], object]) -> None:
        """`performance-event` gets a PerformanceEvent per threshold breach; `batch-flush` gets the
        list of frame dicts just written. Callbacks run in the flush thread; their errors are counted."""
        self._events.on(event, callback)

    def off(self, event: str, callback: Callable[[Any], object]) -> None:
        self._events.off(event, callback)

    # -- flushing -----------------------------------------------------------------------------
    def flush(self, timeout: float = 10.0) -> bool:
        """Write everything recorded so far; True when done within `timeout` seconds."""
        thread = self._thread
        if thread is None or not thread.is_alive() or thread is threading.current_thread() or self._ctl.stopping:
            return self._cycle(timeout)  # no thread to ask, or (a signal during close) one that is stopping
        with self._done:
            self._requested += 1
            target = self._requested
        self._wake.set()
        with self._done:
            return self._done.wait_for(lambda: self._completed >= target, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Flush, stop the thread and close the store writer. Recording stops; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._run_sources()  # while record() still records
        self._disable()
        self._ctl.stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._cycle()
        with self._lock:
            if self._ctl.writer is not None:
                try:
                    self._ctl.writer.close()
                except store.StoreUnavailable:
                    self.store_dropped += self._unflushed
                except (OSError, ValueError) as exc:
                    self._fault("close", exc)
                else:
                    self.written += self._unflushed
                self._unflushed = 0
        self._finalizer.detach()

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, Any]:
        """Counters: what was kept, sampled out, dropped and why, priced, and every swallowed error."""
        states = [*self._states.values(), *self._folded.values()]
        return {
            "enabled": self._enabled,
            "hot_path": hotpath.IMPLEMENTATION,  # "c" or "python" (smythtop.recorder.hotpath)
            "buffered": len(self._buf),
            "kept": self.kept,
            "sampled_out": sum(st.sampled_out for st in states),
            "written": self.written,
            "dropped_buffer_full": self.dropped,
            "dropped_store_unavailable": self.store_dropped,
            "rejected": self.rejected,
            "rejected_future_ts": self.rejected_future_ts,
            "unrecorded_pending": self._unrecorded.pending(),  # lost executions whose account is not written yet
            "accounts_written": self.accounts_written,
            "tags_denied": self._tags.denied,
            "tags_invalid": self._tags.invalid,
            "components_folded": self.components_folded,
            "priced": self._pricer.priced,
            "unpriced": self._pricer.unpriced,
            "unknown_models": sorted(f"{p or '?'}/{m}" for p, m in self._pricer.unknown_models),
            "pricing_errors": self._pricer.errors,
            "callback_errors": self._events.callback_errors,
            "internal_errors": self.internal_errors,
            "rates": {st.name: st.rate for st in states if st.rate < 1.0},
        }

    # -- the flush thread ---------------------------------------------------------------------
    def _start_thread(self) -> None:
        args = (weakref.ref(self), self._ctl, self.config.global_.flush_interval_s)
        self._thread = threading.Thread(target=_flush_loop, args=args, name="smythtop-flush", daemon=True)
        self._thread.start()

    def _filling(self, n: int) -> None:
        """Called by the hot path when the buffer is at least half full."""
        if n >= self._buf.maxlen:  # type: ignore[operator]
            self.dropped += 1  # the append about to happen overwrites the oldest frame
            with contextlib.suppress(IndexError):  # drained meanwhile: nothing is overwritten after all
                self._lose_item(self._buf[0], accounts.BUFFER_FULL)
            self._warn_once(
                "buffer-full", f"recorder buffer full (buffer_size={self._buf.maxlen}): oldest frames dropped"
            )
        if not self._woken:
            self._woken = True
            self._wake.set()

    def _cycle(self, timeout: float = -1) -> bool:
        """One drain; False if another drain held the lock for `timeout` seconds (a signal handler's flush
        must not wait forever on a drain its own thread was interrupted in)."""
        if not self._flush_lock.acquire(timeout=timeout):
            return False
        try:
            self._draining = threading.get_ident()
            with self._done:
                target = self._requested
            try:
                self._drain()
            except Exception as exc:
                self._fault("flush", exc)
            finally:
                with self._done:
                    self._completed = max(self._completed, target)
                    self._done.notify_all()
        finally:
            self._draining = 0
            self._flush_lock.release()
        if _deferred_signals and threading.current_thread() is threading.main_thread():
            _on_signal(_deferred_signals.pop(), None)
        return True

    def _drain(self) -> None:
        if self._sources:
            self._run_sources()
        buf = self._buf
        popleft = buf.popleft
        items = [popleft() for _ in range(len(buf))]  # all at once: the buffer is the hot path's again
        items.reverse()  # `_frames` pops them off the end, in buffer order
        self._offset = self._clock.wall_offset_ns()
        self._ts_limit = self._now() + self._offset + self._skew_ns
        frames = self._frames(items, self._frame_defaults())
        now = self._now()
        elapsed = (now - self._last_adapt) / 1e9
        if elapsed >= ADAPT_EVERY_S or elapsed < 0:  # rates need a window of a second or more
            self._last_adapt = now
            self._adapt_active(elapsed)
        if not frames:
            self._flush_writer()
            self._write_accounts()
            return
        self.kept += len(frames)
        written = self._write(frames)  # first: nothing below may cost the batch its place on disk
        self._write_accounts()
        if self._events.wants(PERFORMANCE_EVENT):
            try:  # on frames the store accepted, so every field has its contract type
                alerts = performance_events(_dicts(written) or valid_frames(_dicts(frames)), self.config)
            except Exception as exc:
                self._fault("events", exc)
                alerts = []
            for event in alerts:
                self._events.emit(PERFORMANCE_EVENT, event, self._callback_failed)
        if written and self._events.wants(BATCH_FLUSH):
            self._events.emit(BATCH_FLUSH, _dicts(written), self._callback_failed)

    def _adapt_active(self, elapsed: float) -> None:
        """Adapt the states that ran since they were last idle: those the drained items came from, and those
        the hot path woke by sampling an execution out. A state that saw nothing in the window and runs at its
        configured rate goes idle, so the per-interval work follows the components that run, not every name
        ever seen."""
        active = self._active
        woken = self._sink.woken
        while woken:
            active.add(woken.popleft())
        cap = self.config.global_.max_frames_per_second
        for st in list(active):
            if not adapt(st, elapsed, cap) and st.rate == st.base_rate and st.tail_rate == 1.0:
                active.discard(st)
                st.seen_rate = 0.0  # as if decayed: an idle component's old volume is not its next one
                st.idle = True

    def _frames(self, items: list[Any], defaults: Defaults) -> list[TrustedRow | dict[str, Any]]:
        """The batch's frames, in buffer order (`items` reversed, and emptied): the store's row for a plain
        tracker, valid by construction so that the store encodes it without validating it; a priced frame dict
        for the rest (`_frame`), checked by the store; nothing for an item that cannot be built (counted).

        Each item is popped before its frame is built, so a tracker is freed as soon as it is handled: the
        garbage collector's count, which the tuples of `st.recent` raise, falls as much with the trackers freed,
        and the flush thread no longer sets off collections. Freed all at the end, they did: 26 gen0 and 1 gen1
        collections in the flush thread per 4 s of the bench's 10K executions/s (the process's 87 fell to 60),
        and a gen1 or gen2 one, over every buffered tracker and what the agent holds, is milliseconds.

        A plain tracker is a root that `track()` made with nothing added (its span id not frozen as hex before a
        fork): its trace is its own span's and it inherits nothing, so `tracker_frame`'s property chain (span_id,
        trace_id, parent_span_id, agent_of, _inherited_name) is skipped, and there is nothing to clean or price.
        Its fields are of known types: ts and the duration from the system's monotonic clock, the sample rate
        from the sampling rule, hex ids, the error's class name. What the caller chose is checked as the store
        would (agent id and component name: strings of 1 to MAX_ID_LEN characters; error and agent names of at
        most MAX_ID_LEN), and so are the ranges (duration, rate) whatever made them; a tracker that fails goes the
        general way, where the store rejects and counts it. The future-ts check of `_frame` cannot fire for it:
        ts is a clock reading already taken, dated with this batch's offset. `frames.row_frame` turns a row back
        into the dict `tracker_frame` builds, for events and accounts.

        Its span id, if nobody asked for it yet, is drawn here. When this loop holds the last reference to the
        tracker (`sys.getrefcount`: its variable alone, as `_SOLE_REFERENCE` measured; a Tracker takes no weak
        reference), nobody can ask for the id any more, so it is drawn from the counter without
        `Tracker._span_n`'s lock, and not stored; when the agent still holds the tracker (or a child, a record
        or a copied context refers to it), `_span_n` draws and stores it under its lock, as the agent's thread
        would. `_span_n` cost 0.4-0.6 us per frame here (two Python calls and the lock). This loop is the flush
        thread's work per frame, so it is inlined: a call per plain tracker and the bookkeeping's repeated reads
        cost 0.1 us more."""
        frames: list[TrustedRow | dict[str, Any]] = []
        add, active, offset = frames.append, self._active, self._offset
        default_agent, agent_name, span_prefix, trace_prefix = (
            defaults.agent_id, defaults.agent_name, IDS.span_prefix, IDS.trace_prefix
        )  # fmt: skip
        rows = defaults.name_fits  # else every frame goes the general way, where the store checks the agent name
        if hotpath.C is not None:  # the same loop in C (about 1.5 us of 3.5 per frame in Python)

            def general(t: Any) -> None:
                frame = self._frame(t, defaults)
                if frame is not None:
                    add(frame)

            def failed(t: Any, exc: BaseException) -> None:
                self._fault("frame", exc)
                self._lose_item(t, accounts.INTERNAL_ERROR)

            hotpath.C.plain_rows(
                items, frames, general, failed, active, Tracker, TrustedRow, _ROW_FIELDS, default_agent, agent_name,
                trace_prefix, span_prefix, IDS.counter, offset, rows, MAX_NS, MAX_ID_LEN,
            )  # fmt: skip
            return frames
        pop, refcount, counter = items.pop, sys.getrefcount, IDS.counter
        while items:
            t = pop()
            try:
                if rows and type(t) is Tracker and t._x is None and t._parent is None:
                    n = t._span
                    if n is None:  # no span id drawn yet: see the docstring
                        n = next(counter) if refcount(t) == _SOLE_REFERENCE else t._span_n()
                    agent = t.agent_id or default_agent
                    st = t._st
                    name = st.name
                    start = t._start
                    dur = t._end - start
                    err = t._err
                    rate = t._rate
                    error_type = None if err is None else getattr(err, "__name__", None) or str(err)
                    if (
                        type(n) is int  # not frozen as hex before a fork
                        and type(agent) is str
                        and 0 < len(agent) <= MAX_ID_LEN
                        and type(name) is str
                        and 0 < len(name) <= MAX_ID_LEN
                        and 0 <= dur <= MAX_NS
                        and 0.0 < rate <= 1.0
                        and (error_type is None or len(error_type) <= MAX_ID_LEN)
                    ):
                        hexed = n.to_bytes(8, "big").hex()  # IDS.trace_hex's counter half; span_hex's is its end
                        add(
                            TrustedRow(
                                ts=start + offset,
                                agent_id=agent,
                                component=name,
                                total_ms=dur / NS_PER_MS,
                                success=err is None,
                                agent_name=agent_name,
                                trace_id=trace_prefix + hexed,
                                span_id=span_prefix + hexed[8:],
                                error_type=error_type,
                                sample_rate=rate,
                            )
                        )
                        st.kept += 1
                        st.idle = False
                        active.add(st)
                        st.recent.append((dur, 1.0 / rate))
                        continue
            except Exception as exc:
                self._fault("frame", exc)
                self._lose_item(t, accounts.INTERNAL_ERROR)
                continue
            frame = self._frame(t, defaults)
            if frame is not None:
                add(frame)
        return frames

    def _frame(self, item: Any, defaults: Defaults) -> dict[str, Any] | None:
        """One buffered item as a priced frame dict; None (counted) if it cannot be built."""
        plain = False
        try:
            if isinstance(item, Tracker):
                plain = item._x is None  # nothing added: no tags, tokens, model or quality to clean or price
                frame, response = tracker_frame(item, self._offset, defaults)
                st = item._st
                st.kept += 1
                st.idle = False
                self._active.add(st)
                st.recent.append((item._end - item._start, 1.0 / item._rate))
                if response is not None:
                    self._read_usage(frame, response)
            else:
                frame = record_frame(item, defaults)
                st = self._states.get(frame.get("component"))  # type: ignore[arg-type]
                total = frame.get("total_ms")
                if st is not None and isinstance(total, (int, float)):
                    st.kept += 1
                    st.idle = False
                    self._active.add(st)
                    st.recent.append((int(total * 1e6), 1.0 / item.rate))
            ts = frame.get("ts")
            if isinstance(ts, int) and ts > self._ts_limit:
                self.rejected_future_ts += 1
                self._unrecorded.add_frames([frame], accounts.FUTURE_TS, defaults.agent_id)
                self._warn_once(
                    "future-ts",
                    f"frame dated more than global.max_clock_skew_s={self.config.global_.max_clock_skew_s:g} s "
                    "ahead of the recorder's clock: rejected and counted",
                )
                return None
            if plain:  # most frames: what follows would find nothing to do (about 1 us per frame)
                return frame
            self._tags.clean(frame)
            for key in self._tags.denied_keys:
                self._warn_once(f"tag-denied:{key}", f"tag {key!r} dropped (global.denied_tag_keys): not stored")
        except Exception as exc:
            self._fault("frame", exc)
            self._lose_item(item, accounts.INTERNAL_ERROR)
            return None
        llm = self.config.llm
        try:
            if llm.track_tokens or llm.track_costs:
                self._pricer.price(frame, track_costs=llm.track_costs)
        except PricingError as exc:
            self._warn_once(f"pricing:{frame.get('model')}", f"cost not recorded: {exc}")
        except Exception as exc:  # a genai-prices failure must never lose the frame
            self._pricer.errors += 1
            self._warn_once(f"pricing-crash:{type(exc).__name__}", f"genai-prices failed: {exc!r}")
        if not llm.track_tokens:
            for key in (*TOKEN_FIELDS, "context_window", "context_utilization"):
                frame.pop(key, None)
        if not llm.track_quality:
            frame.pop("quality", None)
        unpriced = self._pricer.unknown_models
        if unpriced and frame.get("model") and frame.get("cost_usd") is None:
            key = (frame.get("provider"), frame["model"])
            if key in unpriced:
                self._warn_once(f"unpriced:{key}", f"model {key[1]!r} ({key[0]}) unknown to genai-prices: unpriced")
        return frame

    def _read_usage(self, frame: dict[str, Any], response: tuple[Any, str | None, str | None]) -> None:
        """Token counts from a provider response (t.llm_response); fields the caller set win."""
        from smythtop.recorder.usage import usage_fields

        try:
            fields = usage_fields(*response)
        except Exception as exc:  # PricingError, or genai-prices failing: the frame is kept without usage
            self._pricer.errors += 1
            self._warn_once(f"usage:{type(exc).__name__}", f"LLM usage not recorded: {exc}")
            return
        frame.update({k: v for k, v in fields.items() if frame.get(k) is None})

    def _frame_defaults(self) -> Defaults:
        d = self._defaults
        if d is None:
            g = self.config.global_
            program = _program_name()
            agent_id = g.agent_id or os.environ.get("SMYTHTOP_AGENT_ID") or f"{program}-{os.getpid()}"
            d = self._defaults = Defaults(agent_id, g.agent_name or program, memory_limit())
        return d

    def _write(self, frames: list[TrustedRow | dict[str, Any]]) -> list[TrustedRow | dict[str, Any]]:
        """Append and flush to the store; returns the frames now on disk. While the store fails,
        the writer keeps one batch buffered for the retry and later batches are dropped, counted."""
        writer = self._get_writer()
        if writer is None or (self._unflushed and not self._try_flush(writer)):
            self.store_dropped += len(frames)
            self._unrecorded.add_frames(_dicts(frames), accounts.STORE_UNAVAILABLE, self._frame_defaults().agent_id)
            return []
        before = writer.rejected
        errors: list[store.FrameError] = []
        appended: int | None = None  # every good frame, unless the store failed part-way
        try:  # what was appended stays buffered; the flush below reports the failure
            errors = writer.append_many(frames)
        except store.AppendInterrupted as exc:
            errors, appended = exc.errors, exc.appended
        except store.StoreUnavailable:
            appended = 0
        rejected = writer.rejected - before
        agent = self._frame_defaults().agent_id
        if rejected:
            self.rejected += rejected
            for err in errors:
                self._warn_once(f"rejected:{err.field}", f"frame rejected by the store: {err}")
            # Rows are taken unvalidated: the rejected are among the dicts, found as the store found them.
            checked = [f for f in frames if isinstance(f, dict)]
            good = {id(f) for f in valid_frames(checked)}
            self._unrecorded.add_frames([f for f in checked if id(f) not in good], accounts.REJECTED, agent)
            frames = [f for f in frames if not isinstance(f, dict) or id(f) in good]
        if appended is not None:
            self.store_dropped += len(frames) - appended
            self._unrecorded.add_frames(_dicts(frames[appended:]), accounts.STORE_UNAVAILABLE, agent)
            frames = frames[:appended]
        self._unflushed += len(frames)
        return frames if self._try_flush(writer) else []

    def _write_accounts(self) -> None:
        """Write the account frames of executions lost so far (`accounts`); what cannot be written now waits."""
        if not self._unrecorded.pending():
            return
        d = self._frame_defaults()
        frames = self._unrecorded.take(self._now() + self._offset, d.agent_name)
        writer = self._get_writer()
        if writer is None:
            self._unrecorded.add_frames(frames, accounts.STORE_UNAVAILABLE, d.agent_id)
            return
        appended = len(frames)
        try:
            writer.append_many(frames)  # valid by construction
        except store.AppendInterrupted as exc:
            appended = exc.appended
        except store.StoreUnavailable:
            appended = 0
        self._unrecorded.add_frames(frames[appended:], accounts.STORE_UNAVAILABLE, d.agent_id)
        self.accounts_written += appended  # held by the writer: written now, or with its next successful flush
        self._try_flush(writer)

    def _lose_item(self, item: Any, reason: str) -> None:
        """Account for a buffered tracker or record that will never become a frame."""
        default = self._frame_defaults().agent_id
        if isinstance(item, Tracker):
            self._unrecorded.lose(agent_of(item), item._st.name, getattr(item, "_rate", 1.0), reason, default)
        else:
            f = item.frame
            self._unrecorded.lose(f.get("agent_id"), f.get("component"), item.rate, reason, default)

    def _try_flush(self, writer: store.Writer) -> bool:
        try:
            writer.flush()
        except store.StoreUnavailable as exc:
            self._warn_once("store-write", f"store unavailable, frames dropped and counted: {exc}")
            return False
        self.written += self._unflushed
        self._unflushed = 0
        return True

    def _flush_writer(self) -> None:
        if self._ctl.writer is not None and self._unflushed:
            self._try_flush(self._ctl.writer)

    def _get_writer(self) -> store.Writer | None:
        if self._ctl.writer is not None:
            return self._ctl.writer
        now = self._now()
        if now < self._writer_retry_at:
            return None
        try:
            self._ctl.writer = store.Writer(self.store_root)
        except store.StoreUnavailable as exc:
            self._writer_retry_at = now + int(WRITER_RETRY_S * 1e9)
            self._warn_once("store-open", f"store unavailable, frames dropped and counted: {exc}")
        return self._ctl.writer

    # -- never break the agent ----------------------------------------------------------------
    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("smythtop: %s", message)

    def _fault(self, where: str, exc: BaseException) -> None:
        self.internal_errors += 1
        self._warn_once(f"fault:{where}:{type(exc).__name__}", f"recorder error in {where} (ignored): {exc!r}")

    def _callback_failed(self, exc: BaseException) -> None:
        self._warn_once(f"callback:{type(exc).__name__}", f"event callback raised (ignored): {exc!r}")

    def _after_fork_in_child(self) -> None:
        """The parent's buffered frames are the parent's to write; the child starts afresh."""
        self._buf.clear()
        self._defaults = None
        self._warned = set()
        self._thread = None
        self._init_process_state()
        if self._enabled and not self._closed:
            _flush_at_process_exit(self)
            self._start_thread()


def _sole_reference() -> int:
    """What `sys.getrefcount` reads for an object that only one local variable refers to, taken off a list as
    `Collector._frames` takes a tracker (2 on CPython 3.11: the variable and the call's argument)."""
    held = [object()]
    item = held.pop()
    return sys.getrefcount(item)


_SOLE_REFERENCE = _sole_reference()
# The fields of a plain frame's row, in the order `_hotpath.plain_rows` gives their values.
_ROW_FIELDS = (
    "ts", "agent_id", "component", "total_ms", "success", "agent_name", "trace_id", "span_id", "error_type",
    "sample_rate",
)  # fmt: skip


def _dicts(frames: list[TrustedRow | dict[str, Any]]) -> list[dict[str, Any]]:
    """The frames as dicts (`row_frame` for the rows), for what takes dicts: events and accounts."""
    return [f if isinstance(f, dict) else row_frame(f) for f in frames]


class _States(dict[str, ComponentState]):
    """The component states by name. A name not seen yet gets its state from `__missing__`, so track() indexes
    (`states[name]`, no method call) where `states.get(name)` cost every execution about 30 ns more; names folded
    into OTHER are not stored under their own name and come back here each time, as they did before."""

    __slots__ = ("_make",)

    def __init__(self, make: Callable[[str], ComponentState]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, name: str) -> ComponentState:
        return self._make(name)


class _Control:
    """What the flush thread and a collector's finalizer share, instead of the collector itself: the thread
    holds only a weak reference to its collector, so one dropped without close() is collected, and its
    finalizer (`_release`) stops the thread and closes the writer's files."""

    __slots__ = ("stopping", "wake", "writer")

    def __init__(self) -> None:
        self.stopping = False
        self.wake = threading.Event()
        self.writer: store.Writer | None = None


def _flush_loop(ref: weakref.ref[Collector], ctl: _Control, interval: float) -> None:
    """The flush thread: a cycle every `interval` seconds or when woken, while the collector lives."""
    while not ctl.stopping:
        ctl.wake.wait(interval)
        ctl.wake.clear()
        collector = ref()
        if collector is None or ctl.stopping:
            break
        collector._woken = False
        collector._cycle()
        del collector  # no strong reference while waiting


def _release(ctl: _Control) -> None:
    """A collector was garbage-collected without close(): stop its thread and close its writer."""
    ctl.stopping = True
    ctl.wake.set()
    if ctl.writer is not None:
        with contextlib.suppress(store.StoreUnavailable, OSError, ValueError):
            ctl.writer.close()


def _program_name() -> str:
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-", "-c", "-m") else "python"
    path = Path(argv0)
    name = path.parent.name if path.stem == "__main__" else path.stem
    return name or "python"


def _after_fork() -> None:
    for collector in list(_live):
        collector._after_fork_in_child()


def _close_all() -> None:
    for collector in list(_live):
        try:
            collector.close(timeout=5.0)
        except Exception as exc:  # interpreter shutdown: never raise
            log.warning("smythtop: close at exit failed: %r", exc)


def _install_signal_flush() -> None:
    """On SIGTERM and SIGHUP, flush every collector, then chain to the handler that was there. Installed once,
    and only from the main thread (where Python allows it); a signal that is ignored ends nothing, so it is left
    alone, as is a handler installed from C (which Python cannot call)."""
    import signal

    if _previous_handlers or threading.current_thread() is not threading.main_thread():
        return
    for name in SIGNALS:
        signum = getattr(signal, name, None)  # Windows has no SIGHUP
        if signum is None:
            continue
        previous = signal.getsignal(signum)
        if previous is signal.SIG_IGN or previous is None:
            continue
        _previous_handlers[signum] = previous
        signal.signal(signum, _on_signal)


def _on_signal(signum: int, frame: Any) -> None:
    """Flush, then do what would have happened without smythtop: call the program's own handler, or restore
    the default action and raise the signal again, so the process ends with the same status."""
    import signal

    me = threading.get_ident()
    if any(c._draining == me for c in list(_live)):  # the frames being written are in the interrupted drain
        _deferred_signals.append(signum)
        return
    for collector in list(_live):
        try:
            if collector._buf or collector._unflushed:  # also one being closed: close() disables first
                collector.flush(timeout=SIGNAL_FLUSH_TIMEOUT_S)
        except Exception as exc:  # the signal must still take effect
            log.warning("smythtop: flush on signal %d failed: %r", signum, exc)
    previous = _previous_handlers.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _flush_at_process_exit(collector: Collector) -> None:
    """multiprocessing's children (Pool workers) end with os._exit under fork and forkserver, so atexit never runs
    there, but multiprocessing.util's finalizers do, at the end of Process._bootstrap. Bootstrap first clears them
    and then runs the after-fork hooks, so the finalizer is (re)registered from such a hook, in every child of
    every start method; it is registered now too, for a collector made inside a running child. Nothing is done
    when the program does not use multiprocessing."""
    util = sys.modules.get("multiprocessing.util")
    if util is None or collector in _mp_hooked:
        return
    _mp_hooked.add(collector)
    _exit_finalizer(collector)
    util.register_after_fork(collector, _exit_finalizer)


def _exit_finalizer(collector: Collector) -> None:
    from multiprocessing import util

    util.Finalize(collector, _close_ref, args=(weakref.ref(collector),), exitpriority=0)


def _close_ref(ref: weakref.ref[Collector]) -> None:
    collector = ref()
    if collector is not None:
        collector.close(timeout=SIGNAL_FLUSH_TIMEOUT_S)


os.register_at_fork(after_in_child=_after_fork)
atexit.register(_close_all)
