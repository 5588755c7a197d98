"""One SDK call as one frame: begun when the request starts, recorded when the answer, the error or the stream's end
comes.

The frame is a recorder `Tracker` started with `begin()`, not entered: its parent is the `track()` block around the
call (trace and parent ids as for any child), but it never becomes the current execution, because a stream's call
ends later, wherever the stream is read, and what runs meanwhile must not nest under it.

Nothing here may raise into the agent: every step is guarded, and a failure is counted and logged once by the
`Instrumentation` (`fault`). The SDK's own result or exception always passes through unchanged.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from smythtop.capture.apis import Api, StreamState

if TYPE_CHECKING:
    from smythtop.recorder.tracker import Tracker

_now = time.perf_counter_ns
NS_PER_MS = 1e6

# The call whose request is being sent in this context: the SDK's per-attempt hook (`_build_request`) counts its
# attempts here. Set and reset around the SDK's request method, so a retry loop sees its own call only.
Fault = Callable[[str, BaseException], None]  # where, what: a failure of the capture itself

CURRENT_CALL: ContextVar[Call | None] = ContextVar("smythtop_capture_call", default=None)

# Why a frame has no token counts (tag `usage_missing`): unknown, never 0.
NO_INCLUDE_USAGE = "no_include_usage"  # an OpenAI chat stream without stream_options.include_usage
NOT_IN_RESPONSE = "not_in_response"  # the answer had no usage object
STREAM_UNFINISHED = "stream_unfinished"  # closed, dropped or failed before the usage came
RAW_RESPONSE = "raw_response"  # with_raw_response / with_streaming_response: the body is the caller's to read


class Call:
    """The frame of one SDK call in the making."""

    __slots__ = ("api", "attempts", "done", "fault", "missing", "provider", "start", "state", "t", "ttft")

    def __init__(self, fault: Fault, t: Tracker, api: Api, provider: str, missing: str | None) -> None:
        self.fault = fault  # Instrumentation.fault: counts and logs once
        self.missing = missing  # known at the start: why a stream will carry no usage
        self.t = t
        self.api = api
        self.provider = provider
        self.attempts = 0  # HTTP attempts sent, counted by the SDK's per-attempt hook (sdks._attempt_hook)
        self.done = False
        self.state: StreamState | None = None
        self.ttft: float | None = None
        self.start = _now()

    # -- the request -------------------------------------------------------------------------
    def _record(self, where: str, facts: Callable[[], None], error: type[BaseException] | None = None) -> None:
        """Add `facts` to the frame and record it, once. A fault in `facts` is counted and the frame is still
        recorded with what it had."""
        if self.done:
            return
        self.done = True
        try:
            if self.attempts:  # 0: the per-attempt hook never ran (an SDK that moved it): retries unknown
                self.t.set(retry_count=self.attempts - 1)
            facts()
        except Exception as exc:
            self.fault(where, exc)
        self.t.end(error)  # never raises: the recorder counts its own faults

    def failed(self, exc: BaseException) -> None:
        """The SDK raised (after its retries, or while a stream was read): model, provider, status, error type."""

        def facts() -> None:
            status = getattr(exc, "status_code", None)
            if type(status) is int and 100 <= status <= 599:
                self.t.set(http_status=status)
            self._stream_facts()

        self._record("failed", facts, type(exc))

    def returned(self, result: Any, stream_types: tuple[type, ...], async_stream: bool) -> Any:
        """The SDK's answer: recorded now, or, for a stream, watched until it ends. Returns `result` itself."""
        if isinstance(result, stream_types):
            try:
                watch_stream(result, self, async_stream)
            except Exception as exc:  # an SDK whose stream we cannot watch: the call is recorded as returned
                self._record("watch-stream", lambda: self.t.tag(usage_missing=STREAM_UNFINISHED))
                self.fault("watch-stream", exc)
            return result

        def facts() -> None:
            t, api = self.t, self.api
            if not hasattr(result, "model"):  # an SDK raw response: the caller reads (and parses) the body
                t.tag(usage_missing=RAW_RESPONSE)
                return
            t.set(response_model=result.model, finish_reason=api.finish(result))
            if api.has_usage(result):
                t.llm_response(result, self.provider, api_flavor=api.flavor)
            else:
                t.tag(usage_missing=NOT_IN_RESPONSE)

        self._record("returned", facts)
        return result

    # -- a stream ----------------------------------------------------------------------------
    def first_event(self) -> StreamState:
        """The stream's first event arrived: TTFT, and the state its events are folded into."""
        self.ttft = (_now() - self.start) / NS_PER_MS
        state = self.state = StreamState()
        return state

    def fold_failed(self, exc: Exception) -> None:
        self.fault("stream-event", exc)

    def _stream_facts(self) -> None:
        """What the stream said so far, on the tracker."""
        t = self.t
        if self.ttft is not None:
            t.set(ttft_ms=self.ttft)
        state = self.state
        if state is not None:
            if state.model is not None:
                t.set(response_model=state.model)
            if state.finish is not None:
                t.set(finish_reason=state.finish)

    def stream_end(self, finished: bool) -> None:
        """The stream was read to its end (`finished`), or closed or dropped before it."""

        def facts() -> None:
            t = self.t
            self._stream_facts()
            state = self.state
            if finished and state is not None and state.usage is not None:
                t.llm_response(state.usage, self.provider, api_flavor=self.api.flavor)
            else:
                t.tag(usage_missing=self.missing or (NOT_IN_RESPONSE if finished else STREAM_UNFINISHED))
            if not finished:
                t.tag(stream="unfinished")

        self._record("stream-end", facts)


def watch_stream(stream: Any, call: Call, is_async: bool) -> None:
    """Route the SDK stream's own iterator through the call, and its close() too, on this instance only.

    The stream stays the SDK's object (its type, its helpers such as Anthropic's MessageStream work as before).
    Its events are read from `_iterator`, which both SDKs' Stream and AsyncStream iterate (a plain attribute in
    openai, a cached_property in anthropic: an instance attribute set here wins in both)."""
    inner = stream._iterator
    close = stream.close
    # A stream dropped before it was ever read has no running iterator to notice: record it when it is collected.
    weakref.finalize(stream, call.stream_end, False)
    if is_async:
        stream._iterator = _watch_async(inner, call)

        async def aclose_and_record() -> None:
            try:
                await close()
            finally:
                call.stream_end(False)

        stream.close = aclose_and_record
    else:
        stream._iterator = _watch(inner, call)

        def close_and_record() -> None:
            try:
                close()
            finally:
                call.stream_end(False)

        stream.close = close_and_record


# The two watchers fold each event inline (no method call per event: a stream has tens to thousands of them).
def _watch(inner: Iterator[Any], call: Call) -> Iterator[Any]:
    state = None
    fold = call.api.event
    try:
        for item in inner:
            if state is None:
                state = call.first_event()
            try:
                fold(state, item)
            except Exception as exc:
                call.fold_failed(exc)
            yield item
    except GeneratorExit:  # closed or garbage-collected half-way
        call.stream_end(False)
        close = getattr(inner, "close", None)
        if close is not None:
            close()  # the SDK's generator closes its HTTP response
        raise
    except BaseException as exc:
        call.failed(exc)
        raise
    call.stream_end(True)


async def _watch_async(inner: AsyncIterator[Any], call: Call) -> AsyncIterator[Any]:
    state = None
    fold = call.api.event
    try:
        async for item in inner:
            if state is None:
                state = call.first_event()
            try:
                fold(state, item)
            except Exception as exc:
                call.fold_failed(exc)
            yield item
    except GeneratorExit:  # closed or collected half-way (the SDK's close() ends the HTTP response)
        call.stream_end(False)
        raise
    except BaseException as exc:
        call.failed(exc)
        raise
    call.stream_end(True)
