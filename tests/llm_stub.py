"""A local LLM API stub: answers like OpenAI (chat completions, Responses) and Anthropic (Messages) on 127.0.0.1.

Tests drive the real `openai` and `anthropic` SDKs against it and compare what smythtop recorded with what the stub
logged as served (`LLMStub.served`): the ground truth. One stub serves both SDKs:
- OpenAI: `openai.OpenAI(base_url=stub.openai_url, api_key="x")` -> POST /v1/chat/completions, /v1/responses
- Anthropic: `anthropic.Anthropic(base_url=stub.anthropic_url, api_key="x")` -> POST /v1/messages

Usage is reported in each provider's own shape: OpenAI's `prompt_tokens` includes `cached_tokens` and
`completion_tokens` includes `reasoning_tokens`; Anthropic's `input_tokens` EXCLUDES cache reads and writes. Every
response's input count is unique (`Usage.input_tokens + n`, n the request number), so a test finds the served
response of any frame by its input tokens, whatever order threads ran in. `Served.otel` is the same usage in OTel
terms (input including the cache), the numbers a frame must hold.

Scripted failures: `stub.fail(429, 503, model="m")` makes the next two requests for model "m" (any model when
None) answer 429 then 503, with `retry-after-ms: 1` so the SDKs retry at once. `latency_s` delays every answer;
`chunk_delay_s` spaces stream events. Streams are SSE: OpenAI chunks (the usage chunk last, only when the request
asked for `stream_options.include_usage`), OpenAI Responses events, Anthropic message_start/delta/stop events.

`http.server` rather than pytest-httpserver: streams must be written event by event with delays between them, and
a client that abandons a stream half-way must only end that one response.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

RETRY_AFTER_MS = "1"  # the SDKs honour retry-after-ms (0 < x <= 60 s): retries cost ~1 ms, not 0.5-8 s of backoff
ERROR_BODIES = {  # (OpenAI error type, Anthropic error type) per status
    400: ("invalid_request_error", "invalid_request_error"),
    401: ("invalid_request_error", "authentication_error"),
    429: ("rate_limit_exceeded", "rate_limit_error"),
    500: ("server_error", "api_error"),
    503: ("server_error", "overloaded_error"),
    529: ("server_error", "overloaded_error"),
}


@dataclass(frozen=True)
class Usage:
    """Token counts in OTel terms: input includes cache reads and writes, output includes reasoning."""

    input_tokens: int = 1000
    output_tokens: int = 200
    cache_read_tokens: int = 600
    cache_write_tokens: int = 0  # Anthropic only: OpenAI has no cache writes
    cache_write_1h_tokens: int = 0  # the part of cache_write_tokens with a one-hour lifetime (Anthropic)
    reasoning_tokens: int = 0  # OpenAI only in this stub


@dataclass(frozen=True)
class Served:
    """One answer the stub gave: the ground truth a frame is compared with."""

    n: int
    api: str  # "chat", "responses", "messages", or the path when unknown
    status: int
    model: str | None  # as requested
    response_model: str | None  # as answered (a dated snapshot), None for errors
    stream: bool
    include_usage: bool  # OpenAI chat streams: whether the request asked for the usage chunk
    usage: dict[str, Any] | None  # the usage object sent, in the provider's shape
    otel: Usage | None  # the same in OTel terms
    finish_reason: str | None
    completed: bool = True  # False when the client went away before the whole stream was written


@dataclass
class _Failures:
    statuses: deque[int] = field(default_factory=deque)


class LLMStub:
    """The server, its script and its log. Thread-safe; start with `with LLMStub() as stub:`."""

    def __init__(self) -> None:
        self.usage = Usage()
        self.latency_s = 0.0
        self.chunk_delay_s = 0.0
        self.finish_reason = {"chat": "stop", "responses": "completed", "messages": "end_turn"}
        self.served: list[Served] = []
        self._failures: dict[str | None, _Failures] = {}
        self._lock = threading.Lock()
        self._n = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="llm-stub", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> LLMStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_url(self) -> str:
        return self.url

    # -- script ------------------------------------------------------------------------------
    def fail(self, *statuses: int, model: str | None = None) -> None:
        """The next requests for `model` (any model when None) answer these statuses, in order."""
        with self._lock:
            self._failures.setdefault(model, _Failures()).statuses.extend(statuses)

    def reset(self) -> None:
        """Forget the log, the script and any changed setting (between tests sharing a module's stub)."""
        with self._lock:
            self.served.clear()
            self._failures.clear()
            self.usage = Usage()
            self.latency_s = 0.0
            self.chunk_delay_s = 0.0

    def log(self) -> list[Served]:
        with self._lock:
            return list(self.served)

    def by_input(self) -> dict[int, Served]:
        """Successful answers by their OTel input token count (unique per request)."""
        return {s.otel.input_tokens: s for s in self.log() if s.otel is not None}

    # -- serving (called by the handler threads) ----------------------------------------------
    def _next(self, model: str | None) -> tuple[int, int | None]:
        """This request's number and its scripted failure status, if any."""
        with self._lock:
            self._n += 1
            for key in (model, None):
                f = self._failures.get(key)
                if f is not None and f.statuses:
                    return self._n, f.statuses.popleft()
            return self._n, None

    def _log(self, served: Served) -> None:
        with self._lock:
            self.served.append(served)

    def _unfinished(self, n: int) -> None:
        with self._lock:
            self.served[:] = [dataclasses.replace(s, completed=False) if s.n == n else s for s in self.served]


def _dated(model: str, api: str) -> str:
    """The response model a real API answers with: the requested alias pinned to a dated snapshot."""
    return f"{model}-20250929" if api == "messages" else f"{model}-2025-04-14"


def _openai_chat_usage(u: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cache_read_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens, "audio_tokens": 0},
    }


def _openai_responses_usage(u: Usage) -> dict[str, Any]:
    return {
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cache_read_tokens},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.input_tokens + u.output_tokens,
    }


def _anthropic_usage(u: Usage) -> dict[str, Any]:
    return {
        "input_tokens": u.input_tokens - u.cache_read_tokens - u.cache_write_tokens,  # Anthropic excludes the cache
        "output_tokens": u.output_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": u.cache_write_tokens - u.cache_write_1h_tokens,
            "ephemeral_1h_input_tokens": u.cache_write_1h_tokens,
        },
        "service_tier": "standard",
    }


def _handler(stub: LLMStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as against the real APIs
        disable_nagle_algorithm = True  # headers and body are two writes: with Nagle, 40 ms of delayed ACK each

        def log_message(self, format: str, *args: Any) -> None:  # quiet: the log is stub.served
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                body = {}
            api = {"/v1/chat/completions": "chat", "/v1/responses": "responses", "/v1/messages": "messages"}.get(
                self.path.split("?")[0], self.path
            )
            model = body.get("model") if isinstance(body.get("model"), str) else None
            stream = bool(body.get("stream"))
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            n, failure = stub._next(model)
            if stub.latency_s:
                time.sleep(stub.latency_s)
            if api not in ("chat", "responses", "messages"):
                failure = 404
            if failure is not None:  # logged before it is sent: a client that has the answer finds it in the log
                stub._log(Served(n, api, failure, model, None, stream, include_usage, None, None, None))
                self._error(api, failure)
                return
            base = stub.usage
            u = Usage(
                input_tokens=base.input_tokens + n,
                output_tokens=base.output_tokens,
                cache_read_tokens=base.cache_read_tokens,
                cache_write_tokens=base.cache_write_tokens if api == "messages" else 0,
                cache_write_1h_tokens=base.cache_write_1h_tokens if api == "messages" else 0,
                reasoning_tokens=base.reasoning_tokens if api != "messages" else 0,
            )
            rmodel = _dated(model or "unknown", api)
            finish = stub.finish_reason[api]
            usage = {"chat": _openai_chat_usage, "responses": _openai_responses_usage, "messages": _anthropic_usage}[
                api
            ](u)
            sent_usage = usage if not (api == "chat" and stream and not include_usage) else None
            otel = u if sent_usage is not None else None
            served = Served(n, api, 200, model, rmodel, stream, include_usage, sent_usage, otel, finish)
            if stream:  # logged first, like every answer; marked if the client goes away before the end
                events = {"chat": _chat_events, "responses": _responses_events, "messages": _messages_events}[api](
                    n, rmodel, usage, finish, include_usage
                )
                stub._log(served)
                if not self._stream(events):
                    stub._unfinished(n)
            else:
                answer = {"chat": _chat_body, "responses": _responses_body, "messages": _messages_body}[api](
                    n, rmodel, usage, finish
                )
                stub._log(served)
                self._json(200, answer)

        def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("x-request-id", "req_stub")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, api: str, status: int) -> None:
            oa, an = ERROR_BODIES.get(status, ("server_error", "api_error"))
            if api == "messages":
                payload: dict[str, Any] = {"type": "error", "error": {"type": an, "message": f"stub {status}"}}
            else:
                payload = {"error": {"message": f"stub {status}", "type": oa, "param": None, "code": oa}}
            self._json(status, payload, {"retry-after-ms": RETRY_AFTER_MS})

        def _stream(self, events: Iterator[tuple[str | None, Any]]) -> bool:
            """Write SSE events; False when the client went away before the end."""
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")  # no length: the end of the stream is the end of the body
            self.end_headers()
            self.close_connection = True
            try:
                for event, data in events:
                    line = (
                        f"event: {event}\n" if event else ""
                    ) + f"data: {json.dumps(data) if data != '[DONE]' else data}\n\n"
                    self.wfile.write(line.encode())
                    self.wfile.flush()
                    if stub.chunk_delay_s:
                        time.sleep(stub.chunk_delay_s)
            except (BrokenPipeError, ConnectionResetError):
                return False
            return True

    return Handler


WORDS = ("Hello", " from", " the", " stub", ".")


def _chat_body(n: int, model: str, usage: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": 1_764_633_600,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(WORDS), "refusal": None},
                "finish_reason": finish,
                "logprobs": None,
            }
        ],
        "usage": usage,
        "service_tier": "default",
    }


def _chat_events(
    n: int, model: str, usage: dict[str, Any], finish: str, include_usage: bool
) -> Iterator[tuple[str | None, Any]]:
    def chunk(choices: list[dict[str, Any]], usage: Any = None) -> dict[str, Any]:
        c: dict[str, Any] = {
            "id": f"chatcmpl-{n}",
            "object": "chat.completion.chunk",
            "created": 1_764_633_600,
            "model": model,
            "choices": choices,
        }
        if include_usage:
            c["usage"] = usage
        return c

    yield None, chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
    for word in WORDS:
        yield None, chunk([{"index": 0, "delta": {"content": word}, "finish_reason": None}])
    yield None, chunk([{"index": 0, "delta": {}, "finish_reason": finish}])
    if include_usage:
        yield None, chunk([], usage)
    yield None, "[DONE]"


def _responses_body(n: int, model: str, usage: dict[str, Any] | None, finish: str) -> dict[str, Any]:
    return {
        "id": f"resp_{n}",
        "object": "response",
        "created_at": 1_764_633_600,
        "status": finish,
        "model": model,
        "output": [
            {
                "type": "message",
                "id": f"msg_{n}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "".join(WORDS), "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
    }


def _responses_events(
    n: int, model: str, usage: dict[str, Any], finish: str, include_usage: bool
) -> Iterator[tuple[str | None, Any]]:
    seq = iter(range(1000))
    text = "".join(WORDS)
    ids = {"item_id": f"msg_{n}", "output_index": 0, "content_index": 0}
    item = {"type": "message", "id": f"msg_{n}", "status": "in_progress", "role": "assistant", "content": []}
    part = {"type": "output_text", "text": "", "annotations": []}

    def ev(kind: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        return kind, {"type": kind, "sequence_number": next(seq), **fields}

    started = {**_responses_body(n, model, None, "in_progress"), "output": []}
    yield ev("response.created", response=started)
    yield ev("response.output_item.added", output_index=0, item=item)
    yield ev("response.content_part.added", **ids, part=part)
    for word in WORDS:
        yield ev("response.output_text.delta", **ids, delta=word, logprobs=[])
    yield ev("response.output_text.done", **ids, text=text, logprobs=[])
    yield ev("response.content_part.done", **ids, part={**part, "text": text})
    done = _responses_body(n, model, usage, finish)
    yield ev("response.output_item.done", output_index=0, item=done["output"][0])
    yield ev("response.completed", response=done)


def _messages_body(n: int, model: str, usage: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": f"msg_{n}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "".join(WORDS)}],
        "stop_reason": finish,
        "stop_sequence": None,
        "usage": usage,
    }


def _messages_events(
    n: int, model: str, usage: dict[str, Any], finish: str, include_usage: bool
) -> Iterator[tuple[str | None, Any]]:
    # As the API does: message_start carries the input side (output_tokens 1 so far); message_delta the final
    # output count.
    start = {**_messages_body(n, model, {**usage, "output_tokens": 1}, finish), "content": [], "stop_reason": None}
    yield "message_start", {"type": "message_start", "message": start}
    yield (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    )
    for word in WORDS:
        yield (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}},
        )
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": finish, "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        },
    )
    yield "message_stop", {"type": "message_stop"}


@pytest.fixture(scope="module")
def llm_stub_server() -> Iterator[LLMStub]:
    """One stub per test module (starting one costs a thread and a socket)."""
    with LLMStub() as stub:
        yield stub


@pytest.fixture
def llm_stub(llm_stub_server: LLMStub) -> LLMStub:
    """The module's stub, its log and script reset for this test."""
    llm_stub_server.reset()
    return llm_stub_server
