"""Stores with known frames for the fleet-store tests: each host's frames, costs and file count are known."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smythtop import store

BASE_TS = 1_700_000_000_000_000_000  # 2023-11-14 22:13:20 UTC, ns
HOUR_NS = 3600 * 10**9


def frame(host: int, i: int) -> dict[str, Any]:
    """Frame i of host `host`: spread over 5 hours; the cost is a multiple of 1e-6 USD, so sums are exact."""
    return {
        "ts": BASE_TS + (i % 5) * HOUR_NS + host * 1000 + i,
        "agent_id": f"host{host}-agent-{i % 3}",
        "component": "LLMAssistant" if i % 2 else "Retriever",
        "total_ms": float(i % 97) + 0.25,
        "success": i % 7 != 0,
        "cost_usd": (i % 11) * 1e-6 if i % 2 else None,
    }


def make_store(root: Path, host: int, *, files: int, per_file: int) -> list[dict[str, Any]]:
    """A compacted store of `files` Parquet files (one writer session each, compacted without merging)."""
    frames = []
    for f in range(files):
        batch = [frame(host, f * per_file + i) for i in range(per_file)]
        with store.Writer(root) as writer:
            writer.append_many(batch)
        store.compact(root, merge=False)
        frames.extend(batch)
    return frames
