"""Shared helpers for the app tests: known frames, a fixed clock, waiting on the app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smythtop import store

NOW = 1_750_000_000 * 10**9  # 2025-06-15 15:06:40 UTC: the fixed clock of every app test
SEC = 10**9


def known_frames(now: int = NOW) -> list[dict[str, Any]]:
    """Four components with round numbers, all inside the last 15 minutes before `now`.

    planner: 60 runs of 100 ms; retriever: 30 runs of 200 ms, 3 failed (Timeout);
    llm_call: 20 runs of 1000 ms on gpt-4o at $0.01 each; tool.search: 10 runs of 50 ms.
    """
    frames: list[dict[str, Any]] = []
    for i in range(60):
        frames.append({"ts": now - (i + 1) * 10 * SEC, "agent_id": "a1", "component": "planner", "total_ms": 100.0,
                       "success": True, "trace_id": f"t{i:03d}", "span_id": f"t{i:03d}-p"})  # fmt: skip
    for i in range(30):
        ok = i % 10 != 0
        frames.append({"ts": now - (i + 1) * 20 * SEC, "agent_id": "a1", "component": "retriever", "total_ms": 200.0,
                       "success": ok, "error_type": None if ok else "Timeout", "trace_id": f"t{i:03d}",
                       "span_id": f"t{i:03d}-r", "parent_span_id": f"t{i:03d}-p"})  # fmt: skip
    for i in range(20):
        frames.append({"ts": now - (i + 1) * 30 * SEC, "agent_id": "a1", "component": "llm_call", "total_ms": 1000.0,
                       "success": True, "model": "gpt-4o", "provider": "openai", "input_tokens": 1000,
                       "output_tokens": 100, "cost_usd": 0.01, "trace_id": f"t{i:03d}", "span_id": f"t{i:03d}-l",
                       "parent_span_id": f"t{i:03d}-p"})  # fmt: skip
    for i in range(10):
        frames.append({"ts": now - (i + 1) * 60 * SEC, "agent_id": "a1", "component": "tool.search", "total_ms": 50.0,
                       "success": True})  # fmt: skip
    return frames


def write_frames(root: Path, frames: list[dict[str, Any]]) -> None:
    with store.Writer(root) as writer:
        for f in frames:
            writer.append(f)


async def wait_for(pilot, predicate: Callable[[], bool], what: str = "the app", timeout: float = 20.0) -> None:
    """Let the app run until `predicate()` holds (ticks run in worker threads); fail naming `what`
    after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(0.05)
