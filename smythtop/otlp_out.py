"""OTLP out: frames sent as OpenTelemetry spans to any OTLP/HTTP endpoint (`smythtop export --format otlp`,
`smythtop serve --forward-otlp`). Datadog, New Relic, Grafana, Honeycomb and CloudWatch all take OTLP/HTTP.

Method: each frame becomes an SDK `ReadableSpan` built directly (no tracer: the spans already ended, with their own
ids and times), and the OpenTelemetry SDK's own `OTLPSpanExporter` (opentelemetry-exporter-otlp-proto-http) encodes
and sends them, with its retries, gzip, TLS and `OTEL_EXPORTER_OTLP_*` settings (headers such as an API key come
from `OTEL_EXPORTER_OTLP_TRACES_HEADERS` / `OTEL_EXPORTER_OTLP_HEADERS`, never from smythtop's config or logs).
The attributes are the one mapping's inverse, `smythtop.capture.genai.frame_to_attributes`, so a span sent here and
received by `smythtop serve` (or any span processor using the mapping) is the same frame again (docs/EXPORT.md,
"OTLP"):

- span name = `component`; start = `ts`; end = `ts + total_ms` (whole nanoseconds); trace, span and parent ids are
  the frame's. A frame without ids (a store written by another tool) gets ids hashed from its agent, component and
  time, so sending the same frames twice gives the same spans, never duplicates in the backend. An id that is not
  hex of the right length is hashed the same way.
- resource `service.name` = `agent_id` (the receiver reads the agent back from it); the tag `otel.scope` is the
  instrumentation scope; status ERROR (with `error_type` as its description) when `success` is false.
- `cost_usd` rides along as the attribute `smythtop.cost_usd` for the backend's dashboards; the mapping never reads
  cost from a span (a sender could claim any cost), so a receiving smythtop re-prices from model and tokens.

Nothing here is imported by `import smythtop`: the CLI and `serve` import it only when OTLP out is asked for.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import urllib.parse
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from smythtop.capture.genai import SCOPE_TAG, frame_to_attributes

__all__ = ["COST_ATTRIBUTE", "Forwarder", "OtlpSendError", "OtlpSender", "frame_to_span", "shown", "traces_url"]

log = logging.getLogger("smythtop.otlp_out")

COST_ATTRIBUTE = "smythtop.cost_usd"
TRACES_PATH = "/v1/traces"
# Spans per request: the SDK's BatchSpanProcessor default (max_export_batch_size). A GenAI span encodes to about
# 400 bytes, so a batch is ~200 KiB, far under `smythtop serve`'s 4 MiB body limit and the SDK's 64 MiB one.
BATCH_SPANS = 512
# The exporter's own default timeout (OTEL_EXPORTER_OTLP_TIMEOUT): its retries with backoff stop at this deadline.
TIMEOUT_S = 10.0
# Frames `serve --forward-otlp` holds while the endpoint is slow or down: 40 batches, about 20 MB of frame dicts.
# Past it the oldest are dropped and counted, so a dead endpoint never grows the receiver's memory.
FORWARD_QUEUE_FRAMES = 40 * BATCH_SPANS
_EXPORTER_LOGGER = "opentelemetry.exporter.otlp.proto.http.trace_exporter"


class OtlpSendError(Exception):
    """A batch the endpoint did not take (after the SDK's retries); the message says why."""


def traces_url(url: str) -> str:
    """The endpoint's traces URL: `http://host:4318` and `http://host:4318/` get OTLP's `/v1/traces`; a URL with a
    path is used as given (as the SDK's per-signal endpoint is). ValueError for anything but http(s)://host."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"an OTLP/HTTP endpoint is an http:// or https:// URL with a host, not {url!r}")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError as exc:
        raise ValueError(f"bad port in OTLP endpoint {url!r}: {exc}") from None
    if parts.path in ("", "/"):
        parts = parts._replace(path=TRACES_PATH)
    return urllib.parse.urlunsplit(parts)


def shown(url: str) -> str:
    """`url` fit to print or log: a user name and password in it (basic auth) are replaced by `***`."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def _id(value: Any, size: int, key: str) -> int:
    """A frame's hex id as the int the SDK wants; an absent or malformed one is hashed from `key` (deterministic:
    the same frame gives the same id on every export)."""
    if isinstance(value, str) and len(value) == 2 * size:
        try:
            number = int(value, 16)
        except ValueError:
            number = 0
        if number:
            return number
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=size).digest(), "big") or 1


class _Spans:
    """Builds ReadableSpans, sharing one Resource per agent and one scope per scope name (the encoder groups spans
    by these objects, so sharing them makes one ResourceSpans per agent in a request)."""

    def __init__(self) -> None:
        self._resources: dict[str, Resource] = {}
        self._scopes: dict[str, InstrumentationScope] = {}

    def span(self, frame: Mapping[str, Any]) -> ReadableSpan:
        agent = str(frame.get("agent_id") or "")
        start = int(frame["ts"])
        # Ids that are not OTel's (a store written by another tool: "trace-7", "trace-7/1", or none) are hashed
        # within their trace, so a child's hashed parent id is its parent's hashed span id.
        trace = frame.get("trace_id") or f"{agent}\0{frame['component']}\0{start}\0{frame.get('component_id') or ''}"
        trace_id = _id(frame.get("trace_id"), 16, trace)
        span = frame.get("span_id") or f"{frame['component']}\0{start}"
        context = SpanContext(trace_id, _id(span, 8, f"{trace}\0{span}"), False, TraceFlags(TraceFlags.SAMPLED))
        parent_id = frame.get("parent_span_id")
        parent = (
            SpanContext(trace_id, _id(parent_id, 8, f"{trace}\0{parent_id}"), False, TraceFlags(TraceFlags.SAMPLED))
            if parent_id
            else None
        )
        attributes: dict[str, Any] = dict(frame_to_attributes(frame))
        cost = frame.get("cost_usd")
        if cost is not None:
            attributes[COST_ATTRIBUTE] = float(cost)
        resource = self._resources.get(agent)
        if resource is None:
            resource = self._resources[agent] = Resource({"service.name": agent} if agent else {})
        scope_name = (frame.get("tags") or {}).get(SCOPE_TAG)
        scope = None
        if scope_name:
            scope = self._scopes.get(scope_name)
            if scope is None:
                scope = self._scopes[scope_name] = InstrumentationScope(scope_name)
        failed = frame.get("success") is False
        return ReadableSpan(
            name=frame["component"],
            context=context,
            parent=parent,
            resource=resource,
            attributes=attributes,
            kind=SpanKind.CLIENT if frame.get("model") else SpanKind.INTERNAL,
            status=Status(StatusCode.ERROR, frame.get("error_type")) if failed else Status(StatusCode.UNSET),
            start_time=start,
            end_time=start + round(float(frame["total_ms"]) * 1e6),
            instrumentation_scope=scope,
        )


def frame_to_span(frame: Mapping[str, Any]) -> ReadableSpan:
    """The span of one frame (`ts` as int ns since the epoch). For many frames `OtlpSender` shares resources."""
    return _Spans().span(frame)


class _LastError(logging.Handler):
    """Keeps the exporter's warnings and errors of one batch, so a failure is reported once by its owner, in the
    exporter's words: its final verdict and the first error (the cause: connection refused, a 4xx answer...)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def reason(self) -> str:
        if not self.messages:
            return "the exporter gave no reason"
        last, first = self.messages[-1], self.messages[0]
        return last if first == last else f"{last} (first error: {first[:300]})"


class OtlpSender:
    """The SDK's OTLP/HTTP span exporter, fed frames in batches. The exporter's log lines are captured (not
    printed) while this sender is open: a failure is raised as OtlpSendError carrying the last of them."""

    def __init__(self, endpoint: str, *, timeout_s: float = TIMEOUT_S) -> None:
        url = traces_url(endpoint)
        self.endpoint = shown(url)  # what is printed and logged
        self._exporter = OTLPSpanExporter(endpoint=url, timeout=timeout_s)
        self._spans = _Spans()
        self._errors = _LastError()
        self._logger = logging.getLogger(_EXPORTER_LOGGER)
        self._propagate = self._logger.propagate
        self._logger.addHandler(self._errors)
        self._logger.propagate = False

    def send_batch(self, frames: Sequence[Mapping[str, Any]]) -> None:
        """Send up to BATCH_SPANS frames as one request; OtlpSendError if the endpoint did not take them."""
        spans = [self._spans.span(frame) for frame in frames]
        self._errors.messages.clear()
        if self._exporter.export(spans) is not SpanExportResult.SUCCESS:
            raise OtlpSendError(self._errors.reason())

    def send(self, frames: Iterable[Mapping[str, Any]]) -> int:
        """Send every frame, BATCH_SPANS a request; the number sent. OtlpSendError at the first failed batch."""
        sent = 0
        batch: list[Mapping[str, Any]] = []
        for frame in frames:
            batch.append(frame)
            if len(batch) == BATCH_SPANS:
                self.send_batch(batch)
                sent += len(batch)
                batch = []
        if batch:
            self.send_batch(batch)
            sent += len(batch)
        return sent

    def close(self) -> None:
        self._exporter.shutdown()
        self._logger.removeHandler(self._errors)
        self._logger.propagate = self._propagate

    def __enter__(self) -> OtlpSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(slots=True)
class ForwardStats:
    forwarded: int = 0  # frames the endpoint took
    failed: int = 0  # frames in batches the endpoint refused or never answered (after the SDK's retries)
    dropped: int = 0  # frames dropped unsent: the queue was full, or still queued at stop


class Forwarder:
    """`serve --forward-otlp`: frames the receiver stored are queued (`submit` never blocks and never raises) and a
    background thread sends them in batches with an `OtlpSender`. A failed batch is counted and logged once per
    reason, never retried past the SDK's own retries: the frames are safe in the local store either way."""

    def __init__(
        self, endpoint: str, *, timeout_s: float = TIMEOUT_S, queue_frames: int = FORWARD_QUEUE_FRAMES
    ) -> None:
        self._sender = OtlpSender(endpoint, timeout_s=timeout_s)
        self.endpoint = self._sender.endpoint
        self.stats = ForwardStats()
        self._queue: deque[Mapping[str, Any]] = deque()
        self._limit = queue_frames
        self._cond = threading.Condition()
        self._stopping = False
        self._busy = False
        self._logged: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="smythtop-forward-otlp", daemon=True)

    def start(self) -> Forwarder:
        self._thread.start()
        return self

    def submit(self, frames: Sequence[Mapping[str, Any]]) -> None:
        with self._cond:
            self._queue.extend(frames)
            over = len(self._queue) - self._limit
            for _ in range(max(0, over)):
                self._queue.popleft()
            if over > 0:
                self.stats.dropped += over
                self._log_once("full", "forward queue full (%d frames): oldest frames not forwarded", self._limit)
            self._cond.notify()

    def wait_idle(self, timeout: float) -> bool:
        """True once everything submitted so far has been sent or counted as failed (tests, and `stop`)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._busy, timeout)

    def stop(self, timeout: float = TIMEOUT_S + 5.0) -> None:
        """Send what is queued (up to `timeout`), then stop; frames still queued are counted as dropped."""
        self.wait_idle(timeout)
        with self._cond:
            self._stopping = True
            self.stats.dropped += len(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sender.close()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._stopping)
                if self._stopping:
                    return
                batch = [self._queue.popleft() for _ in range(min(BATCH_SPANS, len(self._queue)))]
                self._busy = True
            try:
                self._sender.send_batch(batch)
                ok, reason = True, ""
            except OtlpSendError as exc:
                ok, reason = False, str(exc)
            except Exception as exc:  # a bug costs this batch (counted, logged once), never the receiver
                ok, reason = False, repr(exc)
            with self._cond:
                if ok:
                    self.stats.forwarded += len(batch)
                else:
                    self.stats.failed += len(batch)
                self._busy = False
                self._cond.notify_all()
            if not ok:
                self._log_once(reason.split(":", 1)[0], "forwarding to %s failed: %s", self.endpoint, reason)

    def _log_once(self, key: str, fmt: str, *args: object) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.warning("smythtop serve: " + fmt, *args)
