"""smythtop.instrument()'s cost per SDK call (issue 9, section 1: goal under 20 us), every row measured in this run.

The same SDK call, bare and instrumented, against the same LLM stub (tests/llm_stub.py): an openai chat completion,
an openai chat stream read to its end (8 chunks, usage included), an anthropic message. Two transports:
- the stub over loopback HTTP, in its own process (the issue's set-up);
- an in-process httpx2 MockTransport answering with the stub's own bodies: the SDK's whole path (request building,
  retry loop, parsing) without a socket.
The cost is the calling thread's CPU time (time.thread_time), not wall time: the overhead is CPU work on the agent's
thread, and on a shared machine wall time of a ~1 ms call swings by more than the 20 us sought (measured: load
average 18 on 2 cores gave 8-60 ms wall per call). Rounds of ROUND calls alternate bare and instrumented
(uninstrument() / instrument() between them), so load from other processes falls on both alike; a row is the median
over rounds of (instrumented - bare) per call. The recorder's flush thread is idle during a round (a large buffer,
flushed between rounds). Quiet, then with a CPU hog on one core. `.venv/bin/python -m bench capture` runs only this
module.
"""

from __future__ import annotations

import gc
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.bench_analysis import cpu_hog
from bench.harness import Table

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"  # the LLM stub lives with the tests that use it as ground truth
ROUND = 50  # whole SDK calls per round
DIRECT_ROUND = 2_000  # capture-only calls per round (a tenth of that for streams)
ROUNDS = 21
US = 1e6
MSG = [{"role": "user", "content": "hi"}]
GOAL = "< 20 us"

SERVE_STUB = """
import sys
sys.path.insert(0, sys.argv[1])
from llm_stub import LLMStub
with LLMStub() as stub:
    print(stub.url, flush=True)
    sys.stdin.read()  # until the bench closes our stdin
"""


def run(table: Table) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="smythtop-bench-capture-", dir="/tmp"))
    try:
        for hog in (False, True):  # the precise rows first, then the whole calls
            with cpu_hog(hog):
                _direct(table, tmp, hog)
        with _stub_process() as url:
            for hog in (False, True):
                with cpu_hog(hog):
                    _overhead(table, tmp, url, hog)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _direct(table: Table, tmp: Path, hog: bool) -> None:
    """The capture's own work per call, resolved below a microsecond: the SDK's `request()` is replaced by a
    function returning an answer the SDK parsed before (a stream: a fresh SDK Stream yielding the 9 chunks it
    parsed before, read to its end), called bare and through the very wrapper instrument() installs. Whole SDK
    calls cost a millisecond or more of CPU on a busy machine and their difference is noise at this scale; this is
    not."""
    import anthropic
    import httpx2
    import openai
    from anthropic._models import FinalRequestOptions as AnthropicOptions
    from openai._models import FinalRequestOptions as OpenAIOptions

    from smythtop.capture import sdks
    from smythtop.recorder import Collector

    collector = Collector(
        {"global": {"buffer_size": 4 * DIRECT_ROUND, "flush_interval_s": 3600, "max_frames_per_second": 0}},
        store=tmp / ("direct-hog" if hog else "direct-quiet"),
    )
    h = sdks.Instrumentation(collector)  # a handle of its own: nothing is patched
    transport, oa, an = _clients(None)
    completion = oa.chat.completions.create(model="gpt-4.1", messages=MSG)
    message = an.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=MSG)
    sse = transport.handle_request(
        httpx2.Request("POST", "http://stub.invalid/v1/chat/completions", content=b'{"stream": true}')
    ).read()

    def parsing_stream() -> Any:
        response = httpx2.Response(200, content=sse, request=httpx2.Request("POST", "http://stub.invalid"))
        return openai.Stream(cast_to=openai.types.chat.ChatCompletionChunk, response=response, client=oa)

    chunks = list(parsing_stream())  # parsed once: the SDK's parsing (~1.5 ms, +-0.3 ms run to run) is not ours

    def new_stream() -> object:
        stream = parsing_stream()
        stream._iterator = iter(chunks)  # the SDK's own Stream, yielding the chunks it parsed before
        return stream

    def build_request(self: object) -> None:  # stands for the SDK's per-attempt _build_request
        return None

    hooked = sdks._attempt_hook(build_request)
    stream_body = {"model": "gpt-4.1", "messages": MSG, "stream": True, "stream_options": {"include_usage": True}}
    cases = {  # name: (SDK, options, answer, stream types, consume)
        "openai chat": (sdks.SDKS[0], OpenAIOptions.construct(method="post", url="/chat/completions",
                        json_data={"model": "gpt-4.1", "messages": MSG}), lambda: completion, (openai.Stream,)),
        "openai chat stream": (sdks.SDKS[0], OpenAIOptions.construct(method="post", url="/chat/completions",
                               json_data=stream_body), new_stream, (openai.Stream,)),
        "anthropic message": (sdks.SDKS[1], AnthropicOptions.construct(method="post", url="/v1/messages",
                              json_data={"model": "claude-sonnet-4-5", "messages": MSG}), lambda: message,
                              (anthropic.Stream,)),
    }  # fmt: skip
    load = "CPU hog" if hog else "quiet"
    try:
        for name, (sdk, options, answer, streams) in cases.items():

            def bare_request(self: Any, cast_to: Any, options: Any, answer: Any = answer, **kw: Any) -> Any:
                build_request(self)
                return answer()

            def hooked_request(self: Any, cast_to: Any, options: Any, answer: Any = answer, **kw: Any) -> Any:
                hooked(self)
                return answer()

            wrapped = sdks._sync_request(h, sdk, hooked_request, streams)
            is_stream = name.endswith("stream")

            def bare(options: Any = options, is_stream: bool = is_stream, f: Any = bare_request) -> object:
                result = f(None, None, options, stream=is_stream)
                return sum(1 for _ in result) if is_stream else result

            def inst(options: Any = options, is_stream: bool = is_stream, f: Any = wrapped) -> object:
                result = f(None, None, options, stream=is_stream)
                return sum(1 for _ in result) if is_stream else result

            b, i, d = _paired(bare, inst, collector, DIRECT_ROUND if not is_stream else DIRECT_ROUND // 10)
            table.add(
                "capture",
                f"{name}, capture work only, {load}",
                d * US,
                "us/call",
                GOAL,
                f"bare {b * US:.1f} us, instrumented {i * US:.1f} us",
            )
        assert h.internal_errors == 0, "the capture faulted during the bench"
    finally:
        collector.close()


@contextmanager
def _stub_process() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE_STUB, str(TESTS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


def _mock_transport() -> Any:
    """An httpx2 transport answering in-process with the stub's own bodies and events."""
    import httpx2

    sys.path.insert(0, str(TESTS))
    import llm_stub

    usage = llm_stub.Usage()
    chat = llm_stub._openai_chat_usage(usage)
    chat_body = json.dumps(llm_stub._chat_body(1, "gpt-4.1-2025-04-14", chat, "stop")).encode()
    events = llm_stub._chat_events(1, "gpt-4.1-2025-04-14", chat, "stop", True)
    sse = "".join(f"data: {d if d == '[DONE]' else json.dumps(d)}\n\n" for _, d in events).encode()
    msg = llm_stub._anthropic_usage(usage)
    msg_body = json.dumps(llm_stub._messages_body(1, "claude-sonnet-4-5-20250929", msg, "end_turn")).encode()

    def handle(request: Any) -> Any:
        if request.url.path.endswith("/messages"):
            return httpx2.Response(200, content=msg_body, headers={"content-type": "application/json"})
        if b'"stream":true' in request.content.replace(b" ", b""):
            return httpx2.Response(200, content=sse, headers={"content-type": "text/event-stream"})
        return httpx2.Response(200, content=chat_body, headers={"content-type": "application/json"})

    return httpx2.MockTransport(handle)


def _clients(url: str | None) -> tuple[Any, Any, Any]:
    """(in-process transport or None, openai client, anthropic client): in-process when `url` is None."""
    import anthropic
    import httpx2
    import openai

    if url is not None:
        return None, openai.OpenAI(base_url=f"{url}/v1", api_key="x"), anthropic.Anthropic(base_url=url, api_key="x")
    transport = _mock_transport()
    oa = openai.OpenAI(base_url="http://stub.invalid/v1", api_key="x", http_client=httpx2.Client(transport=transport))
    an = anthropic.Anthropic(
        base_url="http://stub.invalid", api_key="x", http_client=httpx2.Client(transport=transport)
    )
    return transport, oa, an


def _calls(url: str | None) -> dict[str, Callable[[], object]]:
    _, oa, an = _clients(url)

    def chat() -> object:
        return oa.chat.completions.create(model="gpt-4.1", messages=MSG)

    def stream() -> object:
        kw: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}}
        return sum(1 for _ in oa.chat.completions.create(model="gpt-4.1", messages=MSG, **kw))

    def message() -> object:
        return an.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=MSG)

    return {"openai chat": chat, "openai chat stream": stream, "anthropic message": message}


def _overhead(table: Table, tmp: Path, url: str, hog: bool) -> None:
    from smythtop.recorder import Collector

    collector = Collector(
        {"global": {"buffer_size": 100_000, "flush_interval_s": 3600, "max_frames_per_second": 0}},
        store=tmp / ("hog" if hog else "quiet"),
    )
    load = "CPU hog" if hog else "quiet"
    try:
        for transport, calls in (("in-process", _calls(None)), ("loopback stub", _calls(url))):
            for name, call in calls.items():
                bare, instrumented, diffs = _rounds(call, collector)
                table.add(
                    "capture",
                    f"{name}, {transport}, {load}",
                    diffs * US,
                    "us/call",
                    GOAL,
                    f"bare {bare * US:.0f} us, instrumented {instrumented * US:.0f} us",
                )
    finally:
        collector.close()


def _paired(
    bare: Callable[[], object], inst: Callable[[], object], collector: Any, n: int
) -> tuple[float, float, float]:
    """Median CPU seconds per call bare, instrumented, and the median over rounds of their difference."""
    for _ in range(n // 10):
        bare()
        inst()
    b: list[float] = []
    i: list[float] = []
    for _ in range(ROUNDS):
        collector.flush()
        gc.collect()
        b.append(_timed(bare, n))
        i.append(_timed(inst, n))
    diffs = [x - y for x, y in zip(i, b, strict=True)]
    return statistics.median(b), statistics.median(i), statistics.median(diffs)


def _rounds(call: Callable[[], object], collector: Any) -> tuple[float, float, float]:
    """Median per-call seconds bare, instrumented, and the median over rounds of their difference."""
    import smythtop

    for _ in range(ROUND // 5):  # warm up both paths (connections, pydantic models, genai-prices untouched)
        call()
    h = smythtop.instrument(collector)
    for _ in range(ROUND // 5):
        call()
    h.uninstrument()
    bare: list[float] = []
    inst: list[float] = []
    for _ in range(ROUNDS):
        collector.flush()
        gc.collect()
        bare.append(_timed(call))
        h = smythtop.instrument(collector)
        try:
            inst.append(_timed(call))
        finally:
            h.uninstrument()
    diffs = [i - b for i, b in zip(inst, bare, strict=True)]
    return statistics.median(bare), statistics.median(inst), statistics.median(diffs)


def _timed(call: Callable[[], object], n: int = ROUND) -> float:
    """CPU seconds of this thread per call."""
    start = time.thread_time()
    for _ in range(n):
        call()
    return (time.thread_time() - start) / n
