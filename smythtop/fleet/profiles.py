"""The simulated agents: who they are, which real models and tools they use, and how those behave.

Models are real ones genai-prices knows (OpenAI, Anthropic, Google), so costs and context windows
come out real; one agent summarises with a self-hosted model, which the recorder reports unpriced.
Latencies are lognormal (median, p95) pairs in milliseconds; `ToolCall:browser` is the clearly slow
component.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    provider: str
    ttft_ms: tuple[float, float]  # time to first token: median, p95
    tokens_per_s: float  # streaming output speed
    reasoning: bool = False  # emits reasoning tokens (part of output_tokens)


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    latency_ms: tuple[float, float]  # median, p95
    error_rate: float
    error_type: str
    output_bytes: tuple[int, int]  # min, max


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    planner: Model
    assistant: Model
    summariser: Model
    tools: tuple[Tool, ...]
    system_prompt_tokens: int  # the cached prefix every LLM call starts with
    prompt_version: str


GPT_41 = Model("gpt-4.1", "openai", (420, 1400), 95)
GPT_41_MINI = Model("gpt-4.1-mini", "openai", (280, 900), 140)
GPT_4O_MINI = Model("gpt-4o-mini", "openai", (300, 950), 120)
O4_MINI = Model("o4-mini", "openai", (1600, 6000), 110, reasoning=True)
GPT_5_MINI = Model("gpt-5-mini", "openai", (900, 3500), 120, reasoning=True)
SONNET = Model("claude-sonnet-4-5", "anthropic", (650, 2000), 75)
HAIKU = Model("claude-haiku-4-5", "anthropic", (380, 1100), 150)
GEMINI_PRO = Model("gemini-2.5-pro", "google", (1400, 4500), 85, reasoning=True)
GEMINI_FLASH = Model("gemini-2.5-flash", "google", (450, 1500), 180)
GEMINI_LITE = Model("gemini-2.5-flash-lite", "google", (250, 700), 240)
LOCAL_LLAMA = Model("llama-3.1-8b-instruct", "self-hosted", (120, 500), 60)
EMBEDDER = Model("text-embedding-3-small", "openai", (0, 0), 0)

TOOLS = {
    t.name: t
    for t in (
        Tool("crm_lookup", (90, 320), 0.010, "HTTPError", (600, 4_000)),
        Tool("kb_search", (140, 450), 0.005, "TimeoutError", (2_000, 12_000)),
        Tool("http_fetch", (260, 1_300), 0.040, "TimeoutError", (4_000, 60_000)),
        Tool("web_search", (650, 2_000), 0.015, "HTTPError", (3_000, 20_000)),
        Tool("browser", (4_200, 12_500), 0.060, "TimeoutError", (20_000, 400_000)),
        Tool("pdf_extract", (900, 3_200), 0.020, "ValueError", (10_000, 150_000)),
        Tool("repo_search", (120, 600), 0.005, "HTTPError", (2_000, 30_000)),
        Tool("code_exec", (450, 2_600), 0.080, "RuntimeError", (200, 8_000)),
        Tool("lint", (200, 700), 0.010, "RuntimeError", (300, 6_000)),
        Tool("sql_query", (70, 900), 0.030, "OperationalError", (1_000, 80_000)),
        Tool("chart_render", (300, 900), 0.010, "ValueError", (20_000, 120_000)),
        Tool("ticket_update", (110, 400), 0.020, "HTTPError", (200, 1_200)),
    )
}

PROFILES = (
    Profile("support-bot", HAIKU, SONNET, HAIKU, tuple(TOOLS[n] for n in ("crm_lookup", "kb_search", "ticket_update")),
            2_400, "support-v7"),
    Profile("research-agent", O4_MINI, GPT_41, GPT_41_MINI,
            tuple(TOOLS[n] for n in ("web_search", "browser", "pdf_extract", "http_fetch")), 3_100, "research-v3"),
    Profile("code-reviewer", GEMINI_FLASH, GEMINI_PRO, GEMINI_LITE,
            tuple(TOOLS[n] for n in ("repo_search", "code_exec", "lint")), 4_200, "review-v12"),
    Profile("data-analyst", GPT_41_MINI, SONNET, GPT_4O_MINI,
            tuple(TOOLS[n] for n in ("sql_query", "code_exec", "chart_render")), 2_900, "analyst-v5"),
    Profile("triage-bot", GEMINI_LITE, GPT_5_MINI, LOCAL_LLAMA,
            tuple(TOOLS[n] for n in ("kb_search", "ticket_update")), 1_500, "triage-v2"),
    Profile("sales-assistant", GPT_4O_MINI, HAIKU, GEMINI_LITE,
            tuple(TOOLS[n] for n in ("crm_lookup", "http_fetch", "web_search")), 1_800, "sales-v4"),
)  # fmt: skip


def profile_for(index: int) -> tuple[str, Profile]:
    """The agent id and profile of the index-th agent; ids repeat the profiles with a number."""
    profile = PROFILES[index % len(PROFILES)]
    round_ = index // len(PROFILES)
    return (profile.name if round_ == 0 else f"{profile.name}-{round_ + 1}"), profile
