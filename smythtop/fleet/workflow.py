"""One simulated agent request, recorded through the real recorder API.

HandleRequest
├── Planner            LLM: cached system prompt, reasoning tokens on reasoning models
├── Retriever          Embedder (embedding model) then VectorSearch; memory grows with the documents
├── ToolCall:<tool>    1-4 calls, often in parallel; occasional errors the agent survives
├── LLMAssistant       LLM: the big context (documents + tool output), streamed; retried on rate limits
└── Summariser         LLM: a cheap model

Every draw comes from the request's own `random.Random`, seeded from the fleet's seed, so a seed
reproduces the run.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from smythtop.fleet.pacing import Pacing
from smythtop.fleet.profiles import EMBEDDER, Model, Profile, Tool
from smythtop.recorder import Collector, config_hash

RSS_LIMIT = 4 << 30  # the simulated agents' memory limit, for mem_pressure
_Z95 = 1.6448536269514722


class RateLimitError(Exception):
    """A provider's 429: retried with backoff."""


class APITimeoutError(Exception):
    """A provider call that timed out: retried."""


_TOOL_ERRORS: dict[str, type[Exception]] = {}


def tool_error(name: str) -> type[Exception]:
    """A simulated tool failure class, so frames carry a real exception class name."""
    cls = _TOOL_ERRORS.get(name)
    if cls is None:
        cls = _TOOL_ERRORS[name] = type(name, (Exception,), {"__module__": __name__})
    return cls


def lognormal(rng: random.Random, median: float, p95: float) -> float:
    sigma = math.log(max(p95, median * 1.0001) / median) / _Z95
    return median * math.exp(rng.gauss(0.0, sigma))


@dataclass
class Agent:
    """A simulated agent: identity, its recorder, how time passes, and its slowly drifting memory."""

    agent_id: str
    profile: Profile
    collector: Collector
    pacing: Pacing
    rss: float  # simulated resident memory, bytes
    hashes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        p = self.profile
        for component, model in (("Planner", p.planner), ("LLMAssistant", p.assistant), ("Summariser", p.summariser)):
            settings = {"model": model.name, "prompt": p.prompt_version, "temperature": 0.2, "agent": p.name}
            self.hashes[component] = config_hash(settings)
        for tool in p.tools:
            self.hashes[tool.name] = config_hash({"tool": tool.name, "timeout_s": 30, "agent": p.name})

    def handle_request(self, seed: int, queue_ms: float | None = None) -> None:
        """One request with its own random stream, so concurrent requests stay reproducible;
        `queue_ms` is how long it waited for a worker."""
        Request(self, random.Random(seed)).run(queue_ms)


@dataclass
class Request:
    agent: Agent
    rng: random.Random

    @property
    def profile(self) -> Profile:
        return self.agent.profile

    @property
    def collector(self) -> Collector:
        return self.agent.collector

    @property
    def pacing(self) -> Pacing:
        return self.agent.pacing

    @property
    def agent_id(self) -> str:
        return self.agent.agent_id

    @property
    def hashes(self) -> dict[str, str]:
        return self.agent.hashes

    # -- the request ---------------------------------------------------------------------------
    def run(self, queue_ms: float | None = None) -> None:
        """One request; an LLM failure that outlives its retries fails the whole request."""
        rng = self.rng
        complexity = rng.betavariate(2.0, 3.0)
        request_tokens = int(lognormal(rng, 180, 900))
        c = self.collector
        fields = {"agent_name": self.profile.name, "complexity": complexity, "input": request_tokens * 4}
        if queue_ms is not None:
            fields["queue_ms"] = queue_ms
        try:
            with c.track("HandleRequest", self.agent_id, **fields) as root:
                plan_tokens = self.planner(request_tokens, complexity)
                docs_bytes = self.retriever(request_tokens + plan_tokens)
                tool_bytes = self.tools(complexity)
                answer_tokens = self.assistant(request_tokens + plan_tokens, docs_bytes + tool_bytes)
                self.summariser(answer_tokens)
                root.io(output=answer_tokens * 4)
        except (RateLimitError, APITimeoutError):
            pass  # recorded as a failed request; the agent moves on to the next one

    def planner(self, request_tokens: int, complexity: float) -> int:
        rng = self.rng
        history = int(rng.uniform(0, 3_000) * complexity)
        output = int(lognormal(rng, 160, 450))
        reasoning = int(lognormal(rng, 500, 2_400) * (0.5 + complexity)) if self.profile.planner.reasoning else 0
        self.llm_call("Planner", self.profile.planner, request_tokens + history, output + reasoning, reasoning)
        return output

    def retriever(self, query_tokens: int) -> int:
        rng = self.rng
        c = self.collector
        with c.track("Retriever", self.agent_id) as t:
            with c.track("Embedder", self.agent_id) as e:
                self.pacing.wait(lognormal(rng, 55, 160))
                e.llm(EMBEDDER.name, EMBEDDER.provider, input_tokens=min(query_tokens, 8_000), output_tokens=0)
                e.io(input=query_tokens * 4, output=1_536 * 4)
            docs = rng.randint(4, 12)
            docs_bytes = sum(rng.randint(800, 3_500) for _ in range(docs))
            with c.track("VectorSearch", self.agent_id, component_id="pgvector-main") as v:
                self.pacing.wait(lognormal(rng, 28, 95))
                v.io(input=1_536 * 4, output=docs_bytes)
            self.pacing.wait(rng.uniform(1, 6))  # rerank and trim
            delta = int(docs_bytes * rng.uniform(2.0, 4.0))
            agent = self.agent
            agent.rss = min(RSS_LIMIT * 0.97, max(200e6, agent.rss + rng.gauss(delta * 0.1, 2e6)))
            peak = int(agent.rss + delta)
            t.set(mem_delta_bytes=delta, mem_peak_bytes=peak, mem_pressure=min(1.0, peak / RSS_LIMIT))
            t.io(input=query_tokens * 4, output=docs_bytes, complexity=min(1.0, docs / 12))
        return docs_bytes

    def tools(self, complexity: float) -> int:
        rng = self.rng
        count = min(len(self.profile.tools), 1 + int(complexity * 3.5 + rng.random() * 0.8))
        chosen = rng.sample(self.profile.tools, count)
        # Draw every outcome up front, in order, so the run is reproducible however branches are scheduled.
        plans = [(tool, lognormal(rng, *tool.latency_ms), rng.random() < tool.error_rate,
                  rng.randint(*tool.output_bytes), rng.random()) for tool in chosen]  # fmt: skip
        outputs: list[int] = []

        def branch(plan: tuple[Tool, float, bool, int, float]) -> None:
            outputs.append(self.tool_call(*plan))

        if len(plans) > 1 and rng.random() < 0.6:
            self.pacing.parallel([lambda p=p: branch(p) for p in plans])
        else:
            for plan in plans:
                branch(plan)
        return sum(outputs)

    def tool_call(self, tool: Tool, latency: float, fails: bool, out_bytes: int, jitter: float) -> int:
        c = self.collector
        try:
            with c.track(f"ToolCall:{tool.name}", self.agent_id, config_hash=self.hashes[tool.name]) as t:
                with t.phase("input"):
                    self.pacing.wait(0.3 + jitter)
                with t.phase("core"):
                    self.pacing.wait(latency * (0.4 if fails else 1.0))
                    if fails:
                        raise tool_error(tool.error_type)(f"{tool.name} failed")
                with t.phase("output"):
                    self.pacing.wait(0.2 + out_bytes / 200_000)
                t.io(input=int(200 + jitter * 600), output=out_bytes)
                if tool.name == "code_exec":
                    delta = int(jitter * 180e6)
                    t.set(mem_delta_bytes=delta, mem_peak_bytes=int(self.agent.rss + delta))
        except Exception:
            return 0  # the agent carries on without this tool's output
        return out_bytes

    def assistant(self, prompt_tokens: int, context_bytes: int) -> int:
        rng = self.rng
        context_tokens = prompt_tokens + context_bytes // 4
        output = int(lognormal(rng, 420, 1_400))
        reasoning = int(lognormal(rng, 700, 3_000)) if self.profile.assistant.reasoning else 0
        quality = rng.betavariate(9.0, 2.0) * (1.0 - 0.35 * min(1.0, context_tokens / 120_000))
        self.llm_call("LLMAssistant", self.profile.assistant, context_tokens, output + reasoning, reasoning, quality)
        return output

    def summariser(self, answer_tokens: int) -> None:
        output = int(lognormal(self.rng, 110, 260))
        self.llm_call("Summariser", self.profile.summariser, answer_tokens + 200, output, 0, prefix=600)

    # -- one LLM call, with retries ------------------------------------------------------------
    def llm_call(
        self,
        component: str,
        model: Model,
        fresh_tokens: int,
        output_tokens: int,
        reasoning_tokens: int,
        quality: float | None = None,
        prefix: int | None = None,
    ) -> None:
        """Stream one completion: a cached system prompt plus fresh tokens in, output out.
        Rate limits and timeouts are retried twice with backoff; the third failure propagates."""
        rng = self.rng
        c = self.collector
        prefix = self.profile.system_prompt_tokens if prefix is None else prefix
        for attempt in range(3):
            roll = rng.random()
            failure = RateLimitError if roll < 0.02 else APITimeoutError if roll < 0.025 else None
            try:
                with c.track(component, self.agent_id, retry_count=attempt, config_hash=self.hashes[component]) as t:
                    input_tokens = prefix + fresh_tokens
                    cache_hit = rng.random() < 0.85
                    with t.phase("input"):
                        self.pacing.wait(0.5 + input_tokens / 8_000)
                    with t.phase("core"):
                        if failure is RateLimitError:
                            self.pacing.wait(lognormal(rng, 60, 200))
                            raise RateLimitError(f"429 from {model.provider}")
                        if failure is APITimeoutError:
                            self.pacing.wait(30_000 * rng.uniform(0.3, 1.0))
                            raise APITimeoutError(f"{model.name} timed out")
                        ttft = lognormal(rng, *model.ttft_ms) * (1 + input_tokens / 200_000)
                        stream_ms = output_tokens / model.tokens_per_s * 1000 * rng.uniform(0.8, 1.25)
                        self.pacing.wait(ttft + stream_ms)
                    with t.phase("output"):
                        self.pacing.wait(0.3 + output_tokens / 4_000)
                    cache_read, cache_write = self.cache(model, prefix, cache_hit)
                    t.llm(
                        model.name,
                        model.provider,
                        input_tokens=input_tokens,
                        output_tokens=output_tokens,
                        cache_read_tokens=cache_read,
                        cache_write_tokens=cache_write,
                        reasoning_tokens=reasoning_tokens or None,
                        ttft_ms=ttft,
                        quality=quality,
                    )
                    t.io(input=input_tokens * 4, output=output_tokens * 4)
                return
            except (RateLimitError, APITimeoutError):
                if attempt == 2:
                    raise
                self.pacing.wait(500 * 2**attempt * rng.uniform(0.8, 1.6))

    @staticmethod
    def cache(model: Model, prefix: int, hit: bool) -> tuple[int | None, int | None]:
        """Prompt caching as each provider bills it: Anthropic writes the prefix on a miss; OpenAI
        and Google cache automatically in 128-token blocks; a self-hosted model reports nothing."""
        if model.provider == "self-hosted":
            return None, None
        if model.provider == "anthropic":
            return (prefix, 0) if hit else (0, prefix)
        return ((prefix // 128) * 128 if hit else 0), None
