"""A store with known frames written through store.Writer, and running the real `smythtop` console script."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from genai_prices import Usage, calc_price

from smythtop import store

REPO = Path(__file__).resolve().parents[2]
SMYTHTOP = str(Path(sys.executable).with_name("smythtop"))
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T0_NS = int(T0.timestamp()) * 1_000_000_000
WEIRD = 'tool, "quoted"\nand a new line\rand a carriage return'
N_TRACES = 240  # over two hours, one every 30 s


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def write_store(root: Path) -> list[dict]:
    """Traces of root -> answer (LLM; gpt-4o-mini for the first hour, gpt-4o after) and a weirdly named tool."""
    frames = []
    for i in range(N_TRACES):
        start = T0_NS + i * 30_000_000_000
        model = "gpt-4o-mini" if i < N_TRACES // 2 else "gpt-4o"
        tin, tout = 1000 + (i % 7) * 50, 100 + (i % 5) * 10
        cost = float(calc_price(Usage(input_tokens=tin, output_tokens=tout), model, provider_id="openai").total_price)
        agent = f"agent-{i % 2}"
        tid = f"trace-{i}"
        ok = i % 6 != 0
        frames += [
            {"ts": start, "agent_id": agent, "component": "workflow", "total_ms": 1500.0 + i % 10,
             "success": True, "trace_id": tid, "span_id": f"{tid}/0"},
            {"ts": start + 1_000_000, "agent_id": agent, "component": "answer", "total_ms": 900.0 + (i % 11) * 10,
             "success": True, "trace_id": tid, "span_id": f"{tid}/1", "parent_span_id": f"{tid}/0",
             "model": model, "provider": "openai", "input_tokens": tin, "output_tokens": tout, "cost_usd": cost,
             "context_utilization": tin / 128_000, "input_bytes": 4000, "output_bytes": 600},
            {"ts": start + 950_000_000, "agent_id": agent, "component": WEIRD, "total_ms": 200.0 + i % 13,
             "success": ok, "error_type": None if ok else 'Bad "thing", here', "trace_id": tid,
             "span_id": f"{tid}/2", "parent_span_id": f"{tid}/0", "sample_rate": 0.5 if i % 4 == 1 else 1.0,
             "region": "eu"},
        ]  # fmt: skip
    with store.Writer(root) as writer:
        for f in frames:
            writer.append(f)
    return frames


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SMYTHTOP_STORE": "/nonexistent-smythtop-test-store"}
    proc = subprocess.run([SMYTHTOP, *args], capture_output=True, text=True, env=env, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"smythtop {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def user_error(proc: subprocess.CompletedProcess[str]) -> str:
    """Assert the run failed as a user error: exit 2, one line on stderr, no traceback; return that line."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


HOUR = timedelta(hours=1)
