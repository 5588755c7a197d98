"""A small real agent on the official `openai` SDK, monitored by smythtop with one line: `smythtop.instrument()`.

It answers a few questions concurrently (asyncio): for each, it plans with one chat completion, looks facts up in a
local "knowledge base" (the agent's own component, timed with `track()`), and writes the answer as a stream. Every
SDK call becomes a frame under the question's `track()` block: model, tokens with cached input, cost, TTFT, retries.

No API key needed: without OPENAI_BASE_URL it starts the repository's LLM stub (tests/llm_stub.py) on 127.0.0.1,
which answers like the OpenAI API and fails some calls with 429 and 503, so the SDK's retries show up too.

    .venv/bin/python examples/openai_agent.py --store /tmp/agent-store
    .venv/bin/smythtop top --store /tmp/agent-store      # or: smythtop report --store /tmp/agent-store
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from contextlib import ExitStack
from pathlib import Path

import openai

import smythtop
from smythtop import Collector

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = (
    "Why is the p95 latency of the planner higher on Mondays?",
    "Which model should summarise support tickets?",
    "How much did yesterday's batch run cost?",
    "What does the cache hit rate look like for long prompts?",
)
KNOWLEDGE = {"latency": "Mondays carry 3x the traffic.", "model": "gpt-4.1-mini is enough.", "cost": "$4.20."}


def look_up(collector: Collector, question: str) -> str:
    """The agent's own tool: not an SDK call, so it is timed with track()."""
    with collector.track("KnowledgeBase", input=question) as t:
        facts = " ".join(v for k, v in KNOWLEDGE.items() if k in question.lower())
        t.io(output=facts)
        return facts


async def answer(client: openai.AsyncOpenAI, collector: Collector, question: str) -> str:
    with collector.track("Question", agent_id="example-agent"):
        plan = await client.chat.completions.create(
            model="gpt-4.1-mini", messages=[{"role": "user", "content": f"Plan an answer to: {question}"}]
        )
        facts = look_up(collector, question)
        prompt = f"{plan.choices[0].message.content}\nFacts: {facts}\nQuestion: {question}"
        stream = await client.chat.completions.create(
            model="gpt-4.1",
            messages=[{"role": "user", "content": prompt}],
            stream=True,
            stream_options={"include_usage": True},  # without it, a stream reports no tokens (smythtop says so)
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


async def run_agent(base_url: str, collector: Collector) -> list[str]:
    client = openai.AsyncOpenAI(base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY", "stub"), max_retries=3)
    return await asyncio.gather(*(answer(client, collector, q) for q in QUESTIONS))


def main(store: Path, base_url: str | None = None) -> list[str]:
    collector = Collector(store=store)
    handle = smythtop.instrument(collector)  # the one line: every openai/anthropic SDK call is now a frame
    with ExitStack() as stack:
        stack.callback(collector.close)
        stack.callback(handle.uninstrument)
        if base_url is None:
            sys.path.insert(0, str(REPO / "tests"))
            from llm_stub import LLMStub

            stub = stack.enter_context(LLMStub())
            stub.fail(429, 503)  # the first calls are retried by the SDK: retry_count shows it
            base_url = stub.openai_url
        return asyncio.run(run_agent(base_url, collector))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True, help="the smythtop store to record into")
    args = parser.parse_args()
    for question, text in zip(QUESTIONS, main(args.store, os.environ.get("OPENAI_BASE_URL")), strict=True):
        print(f"{question}\n  -> {text}")
    print(f"\nrecorded into {args.store}: smythtop top --store {args.store}")
