"""`SmythtopSpanProcessor`: every ended OpenTelemetry span becomes a frame in the smythtop store.

    from opentelemetry.sdk.trace import TracerProvider
    from smythtop.otel import SmythtopSpanProcessor
    provider = TracerProvider()
    provider.add_span_processor(SmythtopSpanProcessor())

Any OpenTelemetry-instrumented agent (pydantic-ai, LangChain/LangGraph through OpenLLMetry or OpenInference, Google
ADK, smolagents, CrewAI, the `openai-v2` instrumentation, the `anthropic` SDK's own spans) is then recorded with no
per-call code. GenAI spans carry model, provider, tokens, retries and errors; every other span (HTTP, database) is
recorded too, so the trace tree is whole. The mapping is `smythtop.capture.genai` (docs/FORMAT.md, "OpenTelemetry
spans"), shared with `smythtop serve`.

Method: `on_end` only appends the ended span (immutable from then on) to a bounded queue. The recorder's flush
thread drains it at the start of every flush (`Collector.add_source`): there each span is mapped to a frame (a walk
over its attributes) and handed to `Collector.record`; pricing with genai-prices, validation and the store write
follow as for every frame. So the application's thread pays an append, not the mapping (measured in `make bench`,
bench/bench_otel.py), and every path that flushes the recorder (its interval, `flush()`, `close()`, process exit,
SIGTERM) records the queued spans too. The queue holds `global.buffer_size` spans; past half of it the flush thread
is woken, and when full the oldest span is dropped and counted. Sampling and excluded components are the
recorder's. Nothing here raises into the application: a span that cannot be mapped is counted (`stats()`) and logged
once.

Trace tree: a root span started inside a `smythtop` `track()` block is recorded as that execution's child, and its
descendants join the tracker's trace (their OTel trace id is replaced by the tracker's) and its agent (when a
tracked block names one), so spans and tracked components form one tree. The link is kept for the most recent
`LINKED_TRACES` traces.

This is the only module of `smythtop` (with the OTLP receiver) that imports opentelemetry; `import smythtop` does not.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from smythtop.capture.genai import SpanError, SpanIn, span_to_frame
from smythtop.recorder import Collector
from smythtop.recorder.frames import agent_of
from smythtop.recorder.trace import CURRENT
from smythtop.recorder.tracker import RemoteParent, Tracker

__all__ = ["SmythtopSpanProcessor"]

log = logging.getLogger("smythtop.otel")

# OTel traces linked to a smythtop execution, kept for this many traces: a trace is linked from its root span's
# start until its spans have ended, and an agent has far fewer traces than this in flight at once. Bounded so a
# long-running process does not grow with every trace it ever made (about 200 bytes an entry).
LINKED_TRACES = 4096


class SmythtopSpanProcessor(SpanProcessor):
    """Records every ended span as a frame through the recorder (`Collector.get_instance()` unless given)."""

    def __init__(self, collector: Collector | None = None, *, exclude_scopes: tuple[str, ...] | None = None) -> None:
        self._collector = collector if collector is not None else Collector.get_instance()
        config = self._collector.config
        scopes = config.capture.exclude_scopes if exclude_scopes is None else exclude_scopes
        self._exclude_exact = frozenset(s for s in scopes if not s.endswith("*"))
        self._exclude_prefixes = tuple(s[:-1] for s in scopes if s.endswith("*"))
        self._agent_id = config.global_.agent_id  # an explicit setting wins over the span's resource
        # OTel trace id -> (trace id, parent span id, agent id) of the smythtop execution it was started in
        self._links: OrderedDict[int, tuple[str, str, str | None]] = OrderedDict()
        self._lock = threading.Lock()
        self._resource: tuple[Any, dict[str, Any]] | None = None  # the last span's Resource and its attributes
        self._warned: set[str] = set()
        size = config.global_.buffer_size
        self._pending: deque[ReadableSpan] = deque(maxlen=size)
        self._high_water = max(1, size // 2)
        self._drain_lock = threading.Lock()  # one drain at a time
        self._full_lock = threading.Lock()  # a pop against an append into a full queue
        self.dropped = 0  # the queue was full: the oldest span was overwritten
        self.recorded = 0
        self.excluded = 0
        self.rejected = 0  # spans with bad ids or times (SpanError)
        self.errors = 0  # anything else that went wrong inside the processor
        self._collector.add_source(self._drain)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Link a root span started inside a smythtop execution to that execution."""
        try:
            parent = span.parent
            if parent is not None and not parent.is_remote:
                return
            current = CURRENT.get()
            if not isinstance(current, (Tracker, RemoteParent)) or current.span_id is None:
                return
            with self._lock:
                agent = agent_of(current) if isinstance(current, Tracker) else None
                self._links[span.context.trace_id] = (current.trace_id, current.span_id, agent)
                if len(self._links) > LINKED_TRACES:
                    self._links.popitem(last=False)
        except Exception as exc:
            self._fault("on_start", exc)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            pending = self._pending
            if len(pending) < self._high_water:
                pending.append(span)  # the common path: no lock (deque.append is atomic)
                return
            with self._full_lock:  # past half full, so that a drop is counted exactly once
                if len(pending) == pending.maxlen:
                    self.dropped += 1  # the append below overwrites the oldest span
                    self._warn_once("full", f"span queue full (global.buffer_size={pending.maxlen}): oldest dropped")
                pending.append(span)
            self._collector.wake()
        except Exception as exc:
            self._fault("on_end", exc)

    def _drain(self) -> None:
        """In the flush thread (or a flushing caller): every queued span becomes a frame."""
        with self._drain_lock:
            pending, full_lock = self._pending, self._full_lock
            while pending:
                with full_lock:
                    span = pending.popleft()
                self._record(span)

    def _record(self, span: ReadableSpan) -> None:
        try:
            scope = span.instrumentation_scope.name if span.instrumentation_scope is not None else None
            if scope is not None and (scope in self._exclude_exact or scope.startswith(self._exclude_prefixes)):
                self.excluded += 1
                return
            frame = span_to_frame(self._span_in(span, scope), agent_id=self._agent_id)
            if self._links:
                self._link(span, frame)
            self._collector.record(frame)
            self.recorded += 1
        except SpanError as exc:
            self.rejected += 1
            self._warn_once("span", f"span {span.name!r} not recorded: {exc}")
        except Exception as exc:
            self._fault("mapping", exc)

    def _link(self, span: ReadableSpan, frame: dict[str, Any]) -> None:
        link = self._links.get(span.context.trace_id)
        if link is None:
            return
        frame["trace_id"] = link[0]
        parent = span.parent
        if parent is None or parent.is_remote:
            frame["parent_span_id"] = link[1]
        if link[2] is not None:  # the agent the tracked block names is more precise than the process's resource
            frame["agent_id"] = link[2]

    def _span_in(self, span: ReadableSpan, scope: str | None) -> SpanIn:
        """The transport-neutral view of an SDK span. Attributes are read from the plain dict inside the SDK's
        `BoundedAttributes` (private, so with a fallback to the public read-only view): iterating the public view
        goes through two Mapping layers and a lock per item, which cost more than the whole mapping. A provider's
        resource never changes, so its attributes are copied once."""
        ctx = span.context
        parent = span.parent
        status_error = span.status.status_code is StatusCode.ERROR
        exception_type = None
        if status_error:
            for event in reversed(span.events):
                if event.name == "exception" and event.attributes:
                    value = event.attributes.get("exception.type")
                    if isinstance(value, str):
                        exception_type = value
                        break
        attributes = getattr(getattr(span, "_attributes", None), "_dict", None)
        if not isinstance(attributes, dict):
            attributes = span.attributes or {}
        resource = span.resource
        cached = self._resource
        if cached is None or cached[0] is not resource:
            cached = self._resource = (resource, dict(resource.attributes) if resource is not None else {})
        return SpanIn(
            name=span.name,
            start_ns=span.start_time or 0,
            end_ns=span.end_time or 0,
            trace_id=f"{ctx.trace_id:032x}",
            span_id=f"{ctx.span_id:016x}",
            parent_span_id=f"{parent.span_id:016x}" if parent is not None else None,
            attributes=attributes,
            status_error=status_error,
            scope=scope,
            resource=cached[1],
            exception_type=exception_type,
        )

    def shutdown(self) -> None:
        self._collector.flush()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._collector.flush(timeout_millis / 1000.0)

    def stats(self) -> dict[str, int]:
        return {
            "recorded": self.recorded,
            "excluded": self.excluded,
            "rejected": self.rejected,
            "dropped": self.dropped,
            "errors": self.errors,
        }

    def _fault(self, where: str, exc: BaseException) -> None:
        self.errors += 1
        self._warn_once(f"{where}:{type(exc).__name__}", f"span processor failed in {where}: {exc!r}")

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("smythtop: %s", message)
