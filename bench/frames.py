"""A realistic mix of LLM-agent frames, for benchmarks that must see production-like data.

Bytes per frame, encode cost and query speed all depend on what the data looks like, so this is
not random noise: five agents run traces of 5-10 spans over eight components (planner LLM,
guardrail LLM, retrieval with a nested embedding call, web and database tools, assistant LLM,
summariser), with real model names, genai-prices prices, prompt caching, reasoning tokens,
lognormal latencies measured as a recorder does (perf_counter_ns, so `total_ms = ns / 1e6`),
~2% failures, and rows in the order a recorder appends them (when each span ends).

`realistic_table` builds the columns with numpy (10M rows in seconds); `realistic_frames` turns
the same table into the dicts an agent would pass to `Writer.append` (absent fields left out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from smythtop.store.schema import FIELDS

from smythtop import store

DEFAULT_START_NS = 1_748_822_400_000_000_000  # 2025-06-02T00:00:00Z, fixed so runs are comparable
FRAMES_PER_S = 20.0  # arrival rate of the whole mix when span_s is not given

COMPONENTS = (
    "Planner", "Guardrail", "Retriever", "Embedder", "WebSearchTool", "DatabaseTool", "LLMAssistant", "Summariser",
)  # fmt: skip
PLANNER, GUARD, RETRIEVER, EMBED, WEB, DB, ASSIST, SUMMARY = range(len(COMPONENTS))
LLM_COMPONENTS = (PLANNER, GUARD, ASSIST, SUMMARY)
STREAMING = (ASSIST, SUMMARY)  # these record a time to first token


@dataclass(frozen=True)
class ModelProfile:
    name: str
    provider: str  # genai-prices provider id
    ttft_ms: float  # median time to first token
    tokens_per_s: float  # median output speed
    caches: bool  # reports prompt caching, the way its provider does
    reasoning_ratio: float | None  # reasoning tokens per visible output token; None = not reported


MODELS = (
    ModelProfile("gpt-4o", "openai", 450, 85, True, 0.0),
    ModelProfile("gpt-4o-mini", "openai", 320, 120, True, 0.0),
    ModelProfile("claude-sonnet-4", "anthropic", 850, 65, True, None),
    ModelProfile("claude-3-5-haiku", "anthropic", 480, 110, True, None),
    ModelProfile("gemini-2.5-flash", "google", 380, 190, True, 0.8),
    ModelProfile("o3-mini", "openai", 1800, 150, True, 2.5),
    ModelProfile("text-embedding-3-small", "openai", 0, 0, False, None),
)
_MODEL_INDEX = {m.name: i for i, m in enumerate(MODELS)}


@dataclass(frozen=True)
class AgentProfile:
    agent_id: str
    name: str
    weight: float  # share of traces
    models: dict[int, str]  # component -> model name, for the LLM components and the embedder
    tool_calls: tuple[float, float, float, float]  # P(0, 1, 2, 3 tool calls in a trace)
    web_share: float  # a tool call is a web search with this probability, else a database query
    context_scale: float  # multiplies prompt sizes (research reads long documents)
    p_second_answer: float  # the assistant answers again after tool results
    p_summary: float
    sample_rate: float
    tags: dict[str, str] | None  # constant tags; "tenant" is added per trace for multi-tenant agents
    tenants: int = 0
    config_hashes: tuple[str, str] = ("", "")  # before and after a deployment in the middle of the span


AGENTS = (
    AgentProfile(
        "support-bot", "Customer Support", 0.35,
        {PLANNER: "gpt-4o-mini", GUARD: "gpt-4o-mini", ASSIST: "gpt-4o", SUMMARY: "gpt-4o-mini",
         EMBED: "text-embedding-3-small"},
        (0.35, 0.45, 0.15, 0.05), 0.1, 1.0, 0.35, 0.6, 1.0, {"env": "prod"}, 40, ("3f9a1c07d2e4", "b81e44a0c95f"),
    ),
    AgentProfile(
        "research-agent", "Research Assistant", 0.15,
        {PLANNER: "claude-sonnet-4", GUARD: "claude-3-5-haiku", ASSIST: "claude-sonnet-4",
         SUMMARY: "claude-3-5-haiku", EMBED: "text-embedding-3-small"},
        (0.05, 0.25, 0.4, 0.3), 0.85, 2.5, 0.7, 0.9, 1.0, {"env": "prod"}, 0, ("7c2d90e1aa34", "7c2d90e1aa34"),
    ),
    AgentProfile(
        "code-reviewer", "Code Reviewer", 0.15,
        {PLANNER: "o3-mini", GUARD: "gpt-4o-mini", ASSIST: "claude-sonnet-4", SUMMARY: "gpt-4o-mini",
         EMBED: "text-embedding-3-small"},
        (0.3, 0.5, 0.2, 0.0), 0.0, 1.8, 0.3, 0.8, 1.0, None, 0, ("e05b3f6d1c88", "0d4e7a2b9f13"),
    ),
    AgentProfile(
        "sales-assistant", "Sales Assistant", 0.25,
        {PLANNER: "gemini-2.5-flash", GUARD: "gemini-2.5-flash", ASSIST: "gemini-2.5-flash",
         SUMMARY: "gemini-2.5-flash", EMBED: "text-embedding-3-small"},
        (0.4, 0.5, 0.1, 0.0), 0.2, 0.8, 0.2, 0.3, 1.0, None, 0, ("a9f0c3e7b214", "a9f0c3e7b214"),
    ),
    AgentProfile(
        "data-analyst", "Data Analyst", 0.10,
        {PLANNER: "gpt-4o", GUARD: "gpt-4o-mini", ASSIST: "gpt-4o", SUMMARY: "gpt-4o-mini",
         EMBED: "text-embedding-3-small"},
        (0.1, 0.3, 0.35, 0.25), 0.0, 1.2, 0.6, 0.5, 0.2, None, 0, ("5e6f7a8b9c0d", "6a1b2c3d4e5f"),
    ),
)  # fmt: skip

# Per component: (median ms, sigma) of the input phase, the core (non-LLM components), the output phase.
_INPUT_MS = {PLANNER: (0.9, 0.6), GUARD: (0.3, 0.6), RETRIEVER: (0.08, 0.5), EMBED: (0.05, 0.5),
             WEB: (0.03, 0.4), DB: (0.12, 0.5), ASSIST: (0.4, 0.7), SUMMARY: (0.35, 0.6)}  # fmt: skip
_CORE_MS = {RETRIEVER: (18.0, 0.5), EMBED: (45.0, 0.4), WEB: (650.0, 0.6), DB: (12.0, 0.9)}
_OUTPUT_MS = {PLANNER: (1.2, 0.6), GUARD: (0.1, 0.5), RETRIEVER: (0.3, 0.5), EMBED: (0.6, 0.3),
              WEB: (2.5, 0.8), DB: (0.15, 0.7), ASSIST: (0.25, 0.8), SUMMARY: (0.2, 0.6)}  # fmt: skip
# Per LLM component: (median input tokens, sigma), (median visible output tokens, sigma).
_TOKENS = {PLANNER: ((1800, 0.4), (180, 0.5)), GUARD: ((600, 0.5), (8, 0.3)),
           ASSIST: ((4500, 0.6), (400, 0.7)), SUMMARY: ((3000, 0.6), (250, 0.4))}  # fmt: skip
_MEM_PEAK = {PLANNER: (0.9e6, 0.5), GUARD: (0.4e6, 0.4), RETRIEVER: (8e6, 0.6), EMBED: (0.3e6, 0.4),
             WEB: (2.5e6, 0.7), DB: (0.6e6, 0.8), ASSIST: (1.2e6, 0.5), SUMMARY: (0.8e6, 0.5)}  # fmt: skip
_ERROR_RATE = {PLANNER: 0.02, GUARD: 0.008, RETRIEVER: 0.012, EMBED: 0.008, WEB: 0.08, DB: 0.035,
               ASSIST: 0.025, SUMMARY: 0.015}  # fmt: skip
# error type, probability, (median ms, sigma) of the failed call
_LLM_ERRORS = (("RateLimitError", 0.5, (150.0, 0.5)), ("APITimeoutError", 0.2, (30000.0, 0.05)),
               ("InternalServerError", 0.2, (2000.0, 0.6)), ("BadRequestError", 0.1, (120.0, 0.4)))  # fmt: skip
_ERRORS = {
    PLANNER: _LLM_ERRORS, GUARD: _LLM_ERRORS, ASSIST: _LLM_ERRORS, SUMMARY: _LLM_ERRORS,
    RETRIEVER: (("TimeoutError", 1.0, (5000.0, 0.02)),),
    EMBED: (("RateLimitError", 1.0, (90.0, 0.5)),),
    WEB: (("HTTPStatusError", 0.6, (300.0, 0.8)), ("ReadTimeout", 0.4, (10000.0, 0.02))),
    DB: (("OperationalError", 0.7, (25.0, 1.0)), ("ProgrammingError", 0.3, (3.0, 0.6))),
}  # fmt: skip
_ERROR_TYPES = sorted({e[0] for errs in _ERRORS.values() for e in errs})
_EMBED_DIMS = 1536
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@dataclass(frozen=True)
class _Price:
    provider: str
    context_window: int
    pico: tuple[int, int, int, int]  # pico-USD per token: uncached input, cache read, cache write, output


@cache
def _price(model: str, provider: str) -> _Price:
    """Per-token prices from genai-prices, as exact integers of pico-USD, so costs round like Decimals do."""
    from genai_prices import Usage, calc_price

    tokens = 100_000  # below every long-context price tier

    def pico(**usage: int) -> int:
        value = calc_price(Usage(**usage), model, provider_id=provider).total_price * Decimal(10**12) / tokens
        if value != value.to_integral_value():
            raise ValueError(f"{model}: price {value} pico-USD per token is not whole; use a finer unit")
        return int(value)

    result = calc_price(Usage(input_tokens=tokens), model, provider_id=provider)
    return _Price(
        result.provider.id,
        int(result.model.context_window or 0),
        (
            pico(input_tokens=tokens),
            pico(input_tokens=tokens, cache_read_tokens=tokens),
            pico(input_tokens=tokens, cache_write_tokens=tokens),
            pico(output_tokens=tokens),
        ),
    )


def _lognormal(rng: np.random.Generator, median: np.ndarray | float, sigma: np.ndarray | float, size: int):
    return median * np.exp(sigma * rng.standard_normal(size))


def _ns(ms: np.ndarray) -> np.ndarray:
    return np.maximum(np.rint(ms * 1e6), 1).astype(np.int64)


def _per(table: dict[int, tuple[float, float]], comp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(median, sigma) arrays looked up by component code; NaN where the component has none."""
    med = np.full(len(COMPONENTS), np.nan)
    sig = np.full(len(COMPONENTS), np.nan)
    for c, (m, s) in table.items():
        med[c], sig[c] = m, s
    return med[comp], sig[comp]


def _hex(raw: np.ndarray) -> np.ndarray:
    """Rows of random bytes to rows of lowercase hex characters (uint8), twice as wide."""
    chars = np.empty((raw.shape[0], 2 * raw.shape[1]), dtype=np.uint8)
    chars[:, 0::2] = _HEX[raw >> 4]
    chars[:, 1::2] = _HEX[raw & 15]
    return chars


def _fixed_strings(chars: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A string array straight from a (rows, width) uint8 matrix: no Python string per row."""
    count, width = chars.shape
    offsets = np.arange(0, width * count + 1, width, dtype=np.int32)
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    nulls = 0 if valid is None else int(count - valid.sum())
    return pa.Array.from_buffers(
        pa.string(), count, [bitmap, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars))], nulls
    )


def _strings(values: list[str], index: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    idx = pa.array(index.astype(np.int32), mask=None if valid is None else ~valid)
    return pc.take(pa.array(values, pa.string()), idx)


def _tags(rng: np.random.Generator, agent: np.ndarray, trace: np.ndarray, n_traces: int) -> pa.MapArray:
    """Constant tags per agent, plus a tenant per trace for multi-tenant agents; null for untagged agents."""
    tenant_of_trace = rng.integers(0, 1 << 16, n_traces)
    key_words = sorted({k for a in AGENTS for k in a.tags or {}} | {"tenant"})
    value_words = sorted({v for a in AGENTS for v in (a.tags or {}).values()})
    value_words += [f"t-{t:03d}" for t in range(max(a.tenants for a in AGENTS))]
    has_tags = np.array([a.tags is not None for a in AGENTS])[agent]
    rows = np.flatnonzero(has_tags)
    counts = np.array([len(a.tags or {}) + (1 if a.tenants else 0) for a in AGENTS])[agent[rows]]
    starts = np.concatenate([[0], np.cumsum(counts)])[:-1]
    keys = np.zeros(counts.sum(), dtype=np.int32)
    values = np.zeros(counts.sum(), dtype=np.int32)
    for ai, a in enumerate(AGENTS):
        mine = agent[rows] == ai
        pos = starts[mine]
        items = sorted((a.tags or {}).items())
        for j, (k, v) in enumerate(items):
            keys[pos + j], values[pos + j] = key_words.index(k), value_words.index(v)
        if a.tenants:
            keys[pos + len(items)] = key_words.index("tenant")
            values[pos + len(items)] = value_words.index("t-000") + tenant_of_trace[trace[rows[mine]]] % a.tenants
    offsets = np.zeros(len(agent) + 1, dtype=np.int32)
    offsets[rows + 1] = counts
    return pa.MapArray.from_arrays(
        pa.array(np.cumsum(offsets, dtype=np.int32)),
        _strings(key_words, keys),
        _strings(value_words, values),
        type=pa.map_(pa.string(), pa.string()),
        mask=pa.array(~has_tags),
    )


def _trace_shapes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Agent, tool-call count, second answer and summary per trace; just enough traces for n spans."""
    count = n // 5 + 16  # every trace has at least 5 spans
    agent = rng.choice(len(AGENTS), size=count, p=[a.weight for a in AGENTS])
    cum = np.cumsum([a.tool_calls for a in AGENTS], axis=1)[agent]
    tools = (rng.random(count)[:, None] > cum[:, :3]).sum(axis=1)
    second = (tools > 0) & (rng.random(count) < np.array([a.p_second_answer for a in AGENTS])[agent])
    summary = rng.random(count) < np.array([a.p_summary for a in AGENTS])[agent]
    spans = 5 + tools + second + summary
    keep = int(np.searchsorted(np.cumsum(spans), n)) + 1
    return agent[:keep], tools[:keep], second[:keep], summary[:keep]


def realistic_table(
    n: int, *, seed: int = 0, start_ns: int = DEFAULT_START_NS, span_s: float | None = None
) -> pa.Table:
    """n frames of the realistic mix with `store.arrow_schema()`, in recorder append order (span end)."""
    if n <= 0:
        return store.arrow_schema().empty_table()
    rng = np.random.default_rng(seed)
    span_ns = int((span_s if span_s is not None else n / FRAMES_PER_S) * 1e9)
    agent_t, tools_t, second_t, summary_t = _trace_shapes(rng, n)
    n_traces = len(agent_t)
    trace_start = start_ns + np.sort(rng.integers(0, max(span_ns, 1), n_traces))

    # Rows are built slot by slot (execution order inside a trace), then sorted by span end.
    every = np.ones(n_traces, dtype=bool)
    slots = [
        (PLANNER, every), (GUARD, every), (RETRIEVER, every), (EMBED, every),
        (-1, tools_t >= 1), (-1, tools_t >= 2), (-1, tools_t >= 3),
        (ASSIST, every), (ASSIST, second_t), (SUMMARY, summary_t),
    ]  # fmt: skip
    blocks = [np.flatnonzero(mask) for _, mask in slots]
    trace = np.concatenate(blocks)
    slot_of = np.concatenate([np.full(len(b), i, dtype=np.int8) for i, b in enumerate(blocks)])
    rows = len(trace)
    agent = agent_t[trace]
    comp = np.concatenate([np.full(len(b), max(c, 0), dtype=np.int8) for (c, _), b in zip(slots, blocks, strict=True)])
    is_tool = np.isin(slot_of, (4, 5, 6))
    web_share = np.array([a.web_share for a in AGENTS])[agent]
    comp[is_tool] = np.where(rng.random(rows)[is_tool] < web_share[is_tool], WEB, DB)
    is_llm = np.isin(comp, LLM_COMPONENTS)

    model_table = np.full((len(AGENTS), len(COMPONENTS)), -1, dtype=np.int8)
    for ai, a in enumerate(AGENTS):
        for c, name in a.models.items():
            model_table[ai, c] = _MODEL_INDEX[name]
    model = model_table[agent, comp]
    has_model = model >= 0
    prices = [_price(m.name, m.provider) for m in MODELS]

    # Failures first: they change timing and blank the usage fields.
    err_rate = np.array([_ERROR_RATE[c] for c in range(len(COMPONENTS))])[comp]
    failed = rng.random(rows) < err_rate
    error_idx = np.full(rows, -1, dtype=np.int32)
    fail_ms = np.zeros(rows)
    for c, errs in _ERRORS.items():
        sel = np.flatnonzero(failed & (comp == c))
        pick = rng.choice(len(errs), size=len(sel), p=[e[1] for e in errs])
        for k, (name, _, (med, sig)) in enumerate(errs):
            hit = sel[pick == k]
            error_idx[hit] = _ERROR_TYPES.index(name)
            fail_ms[hit] = _lognormal(rng, med, sig, len(hit))
    usage_ok = has_model & ~failed

    # Tokens (OTel semantics: input includes cache reads/writes, output includes reasoning).
    scale = np.array([a.context_scale for a in AGENTS])[agent]
    in_med = np.full(rows, 45.0)
    in_sig = np.full(rows, 0.6)
    out_med = np.zeros(rows)
    out_sig = np.zeros(rows)
    for c, ((im, isg), (om, osg)) in _TOKENS.items():
        sel = comp == c
        in_med[sel], in_sig[sel], out_med[sel], out_sig[sel] = im * scale[sel], isg, om, osg
    ctx = np.array([p.context_window for p in prices])[np.maximum(model, 0)]
    input_tokens = np.clip(np.rint(_lognormal(rng, in_med, in_sig, rows)), 3, np.maximum(ctx * 0.9, 3)).astype(np.int64)
    visible = np.maximum(np.rint(_lognormal(rng, np.maximum(out_med, 1), out_sig, rows)), 1).astype(np.int64)
    ratio = np.array([np.nan if m.reasoning_ratio is None else m.reasoning_ratio for m in MODELS])[np.maximum(model, 0)]
    has_reasoning = is_llm & ~np.isnan(ratio)
    reasoning = np.where(
        has_reasoning & (ratio > 0), np.rint(visible * np.nan_to_num(ratio) * _lognormal(rng, 1.0, 0.5, rows)), 0
    ).astype(np.int64)
    output_tokens = visible + reasoning

    cache_kind = np.array([m.provider if m.caches else "" for m in MODELS])[np.maximum(model, 0)]
    u = rng.random(rows)
    share = rng.uniform(0.3, 0.95, rows)
    cache_read = np.zeros(rows, dtype=np.int64)
    cache_write = np.zeros(rows, dtype=np.int64)
    oa = is_llm & (cache_kind == "openai")  # 128-token increments past the first 1024 tokens
    hit = oa & (input_tokens >= 1024) & (u < 0.55)
    cache_read[hit] = np.maximum(np.floor(input_tokens[hit] * share[hit] / 128) * 128, 1024)
    an = is_llm & (cache_kind == "anthropic")
    cache_read[an & (u < 0.65)] = np.rint(input_tokens * share)[an & (u < 0.65)]
    wr = an & (u >= 0.65) & (u < 0.77)
    cache_write[wr] = np.rint(input_tokens * share * 0.7)[wr]
    go = is_llm & (cache_kind == "google") & (u < 0.35)
    cache_read[go] = np.rint(input_tokens * share * 0.8)[go]
    has_cache_read = is_llm
    has_cache_write = an

    pico = np.array([p.pico for p in prices], dtype=np.int64)[np.maximum(model, 0)]
    cost_pico = (
        (input_tokens - cache_read - cache_write) * pico[:, 0]
        + cache_read * pico[:, 1]
        + cache_write * pico[:, 2]
        + np.where(comp == EMBED, 0, output_tokens) * pico[:, 3]
    )
    cost_usd = cost_pico / 1e12  # both exact below 2**53: the same double as float(Decimal)

    # Timing phases, in integer ns as perf_counter_ns gives them.
    contended = rng.random(rows) < 0.12
    queue_ns = _ns(np.where(contended, _lognormal(rng, 80.0, 1.0, rows), _lognormal(rng, 0.003, 0.5, rows)))
    queue_ns[~is_llm] = 0
    input_ns = _ns(_lognormal(rng, *_per(_INPUT_MS, comp), rows))
    output_ns = _ns(_lognormal(rng, *_per(_OUTPUT_MS, comp), rows))
    core_med, core_sig = _per(_CORE_MS, comp)
    core_ms = _lognormal(rng, np.nan_to_num(core_med, nan=1.0), np.nan_to_num(core_sig), rows)
    m_ttft = np.array([m.ttft_ms for m in MODELS])[np.maximum(model, 0)]
    m_tps = np.array([max(m.tokens_per_s, 1.0) for m in MODELS])[np.maximum(model, 0)]
    ttft_ns = _ns(_lognormal(rng, np.maximum(m_ttft, 1.0), 0.35, rows))
    gen_ms = output_tokens / _lognormal(rng, m_tps, 0.2, rows) * 1e3
    core_ns = np.where(is_llm, ttft_ns + _ns(gen_ms), _ns(core_ms))
    core_ns = np.where(failed, _ns(fail_ms), core_ns)
    output_ns[failed] = _ns(_lognormal(rng, 0.05, 0.5, rows))[failed]
    overhead_ns = _ns(_lognormal(rng, 0.015, 0.4, rows))
    total_ns = queue_ns + input_ns + core_ns + output_ns + overhead_ns

    # Place spans on the time line: sequential inside a trace, the embedder nested in the retriever.
    ts = np.zeros(rows, dtype=np.int64)
    parent = np.full(rows, -1, dtype=np.int64)
    first = np.concatenate([[0], np.cumsum([len(b) for b in blocks])])
    retr = np.arange(first[2], first[3])
    emb = np.arange(first[3], first[4])
    core_ns[retr] += total_ns[emb]
    total_ns[retr] += total_ns[emb]
    cursor = trace_start.copy()
    gaps = _ns(_lognormal(rng, 0.15, 0.8, rows))
    for i, block in enumerate(blocks):
        r = np.arange(first[i], first[i + 1])
        if i == 3:  # embedder: inside the retriever, right after its input phase
            ts[r] = ts[retr] + input_ns[retr] + gaps[r] // 10
            parent[r] = retr
            continue
        ts[r] = cursor[block] + gaps[r]
        cursor[block] = ts[r] + total_ns[r]
        if i:
            parent[r] = block  # the planner row of the same trace: slot 0 holds every trace in order

    # Memory, data sizes and the rest.
    peak = np.rint(_lognormal(rng, *_per(_MEM_PEAK, comp), rows)).astype(np.int64)
    delta = np.rint(peak * rng.normal(0.01, 0.06, rows)).astype(np.int64)
    t_h = (ts - start_ns) / 3.6e12
    pressure = 0.42 + 0.08 * np.sin(2 * np.pi * t_h / 6) + 0.02 * np.sin(2 * np.pi * t_h / 0.62)
    pressure = np.round(np.clip(pressure + rng.normal(0, 0.003, rows), 0, 1), 3)  # psutil percent / 100
    jitter = rng.uniform(0.9, 1.1, rows)
    in_bytes = np.rint(input_tokens * 4 * jitter)
    out_bytes = np.rint(output_tokens * 4.2 * jitter)
    sizes = {RETRIEVER: ((220, 0.4), (12000, 0.6)), WEB: ((120, 0.3), (45000, 0.8)), DB: ((350, 0.5), (2000, 1.2))}
    for c, ((im, isg), (om, osg)) in sizes.items():
        sel = comp == c
        in_bytes[sel] = np.rint(_lognormal(rng, im, isg, int(sel.sum())))
        out_bytes[sel] = np.rint(_lognormal(rng, om, osg, int(sel.sum())))
    out_bytes[comp == EMBED] = _EMBED_DIMS * 4
    complexity = np.round(np.clip(np.log(input_tokens) / math.log(200_000) + rng.normal(0, 0.05, rows), 0, 1), 3)
    has_complexity = np.isin(comp, (PLANNER, ASSIST))
    quality = np.round(rng.beta(9, 2, rows), 2)
    has_quality = (comp == ASSIST) & usage_ok & (rng.random(rows) < 0.1)
    retries = np.where(rng.random(rows) < 0.03, 1, 0) + np.where(rng.random(rows) < 0.006, 1, 0)
    retries[failed & np.isin(comp, (*LLM_COMPONENTS, WEB, DB))] = 2  # the client gave up after its retries
    has_retry = np.isin(comp, (*LLM_COMPONENTS, WEB, DB))

    sample_rate = np.array([a.sample_rate for a in AGENTS])[agent]
    deploy = ts >= start_ns + int(span_ns * 0.6)
    config_idx = agent * 2 + deploy
    config_values = [h for a in AGENTS for h in a.config_hashes]
    comp_ids = [f"{a.agent_id}/{c}" for a in AGENTS for c in COMPONENTS]
    trace_hex = _hex(rng.integers(0, 256, size=(n_traces, 16), dtype=np.uint8))
    span_hex = _hex(rng.integers(0, 256, size=(rows, 8), dtype=np.uint8))

    # The recorder appends a frame when its span ends: permute every column into that order
    # (numpy indexing here is much cheaper than taking from the finished Arrow table).
    o = np.argsort(ts + total_ns, kind="stable")[:n]
    agent, comp, model, trace, parent = agent[o], comp[o], model[o], trace[o], parent[o]
    failed, usage_ok, is_llm, has_model = failed[o], usage_ok[o], is_llm[o], has_model[o]
    f64, i64 = pa.float64(), pa.int64()

    def col(values: np.ndarray, typ: pa.DataType, valid: np.ndarray | None = None) -> pa.Array:
        return pa.array(values[o], type=typ, mask=None if valid is None else ~valid[o])

    columns = {
        "ts": col(ts, pa.timestamp("ns", tz="UTC")),
        "agent_id": _strings([a.agent_id for a in AGENTS], agent),
        "component": _strings(list(COMPONENTS), comp),
        "total_ms": col(total_ns / 1e6, f64),
        "success": pa.array(~failed),
        "agent_name": _strings([a.name for a in AGENTS], agent),
        "component_id": _strings(comp_ids, agent * len(COMPONENTS) + comp),
        "trace_id": _fixed_strings(trace_hex[trace]),
        "span_id": _fixed_strings(span_hex[o]),
        "parent_span_id": _fixed_strings(span_hex[np.maximum(parent, 0)], parent >= 0),
        "input_ms": col(input_ns / 1e6, f64),
        "core_ms": col(core_ns / 1e6, f64),
        "output_ms": col(output_ns / 1e6, f64),
        "queue_ms": pa.array(queue_ns[o] / 1e6, f64, mask=~is_llm),
        "mem_peak_bytes": col(peak, i64),
        "mem_delta_bytes": col(delta, i64),
        "mem_pressure": col(pressure, f64),
        "input_bytes": col(in_bytes.astype(np.int64), i64),
        "output_bytes": pa.array(out_bytes[o].astype(np.int64), i64, mask=failed),
        "complexity": col(complexity, f64, has_complexity),
        "model": _strings([m.name for m in MODELS], np.maximum(model, 0), has_model),
        "provider": _strings([p.provider for p in prices], np.maximum(model, 0), has_model),
        "input_tokens": pa.array(input_tokens[o], i64, mask=~usage_ok),
        "output_tokens": pa.array(output_tokens[o], i64, mask=~(usage_ok & is_llm)),
        "cache_read_tokens": pa.array(cache_read[o], i64, mask=~(usage_ok & has_cache_read[o])),
        "cache_write_tokens": pa.array(cache_write[o], i64, mask=~(usage_ok & has_cache_write[o])),
        "reasoning_tokens": pa.array(reasoning[o], i64, mask=~(usage_ok & has_reasoning[o])),
        "cost_usd": pa.array(cost_usd[o], f64, mask=~usage_ok),
        "context_window": pa.array(ctx[o], i64, mask=~has_model),
        "context_utilization": pa.array(input_tokens[o] / np.maximum(ctx[o], 1), f64, mask=~usage_ok),
        "quality": col(quality, f64, has_quality),
        "ttft_ms": pa.array(ttft_ns[o] / 1e6, f64, mask=~(np.isin(comp, STREAMING) & ~failed)),
        "error_type": _strings(_ERROR_TYPES, np.maximum(error_idx[o], 0), failed),
        "config_hash": _strings(config_values, config_idx[o]),
        "retry_count": col(retries, i64, has_retry),
        "sample_rate": pa.array(sample_rate[o], f64),
        "tags": _tags(rng, agent, trace, n_traces),
    }
    schema = store.arrow_schema()  # fields this mix does not model (the capture extension) are null
    nulls = {f.name: pa.nulls(len(columns["ts"]), f.type) for f in schema if f.name not in columns}
    return pa.Table.from_arrays([columns[f] if f in columns else nulls[f] for f in FIELDS], schema=schema)


def realistic_frames(
    n: int, *, seed: int = 0, start_ns: int = DEFAULT_START_NS, span_s: float | None = None
) -> list[dict]:
    """The same mix as dicts for `Writer.append`: ts as int ns, absent fields left out, tags as a dict."""
    table = realistic_table(n, seed=seed, start_ns=start_ns, span_s=span_s)
    columns = []
    for name in FIELDS:
        col = table.column(name)
        if name == "ts":
            col = col.cast(pa.int64())
        values = col.to_pylist()
        if name == "tags":
            values = [None if v is None else dict(v) for v in values]
        columns.append(values)
    return [{k: v for k, v in zip(FIELDS, row, strict=True) if v is not None} for row in zip(*columns, strict=True)]
