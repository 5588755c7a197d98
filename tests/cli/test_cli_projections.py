"""The CLI's projections do not depend on the window: `--since 15m`, `--since 1h` and the whole store give the
same $/day and $/h for the same frames (in-process, like the hostile analyze test: three start-ups cost ~6 s)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from smythtop import store
from smythtop.cli import main

S = 1_000_000_000


def _write(root: Path) -> None:
    """Two minutes of traces every 2 s, ending 8 minutes ago: a gpt-4o classifier at low context utilisation
    (a model_downgrade with $/day) and a tool, so the data fills a fraction of each window."""
    start = time.time_ns() - 10 * 60 * S  # where the data sits, not a timing: every window holds it with room
    with store.Writer(root) as writer:
        for i in range(60):
            t = start + i * 2 * S
            writer.append({"ts": t, "agent_id": "a", "component": "tool", "total_ms": 40.0, "success": True})
            writer.append({"ts": t + 50_000_000, "agent_id": "a", "component": "classifier", "total_ms": 700.0,
                           "success": True, "model": "gpt-4o", "provider": "openai", "input_tokens": 1000,
                           "output_tokens": 20, "cost_usd": 0.0027, "context_utilization": 0.008})  # fmt: skip


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main([*args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_report_and_optimize_project_the_same_in_every_window(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "store"
    _write(root)
    windows = {"15m": ["--since", "15m"], "1h": ["--since", "1h"], "whole store": []}
    reports = {name: _json(capsys, "report", "--store", str(root), *w) for name, w in windows.items()}
    optimized = {name: _json(capsys, "optimize", "--store", str(root), *w) for name, w in windows.items()}
    durations = sorted(r["window"]["duration_s"] for r in reports.values())
    # 30x apart; --since 1h is answered from rollups, which cover the whole minutes it overlaps (window_for)
    assert durations[0] < 121 and 3600.0 <= durations[-1] <= 3660.0
    want = reports["whole store"]
    assert want["window"]["basis"]["seconds"] == pytest.approx(120.0, abs=0.1)
    assert want["window"]["basis"]["note"] == "from 2 min of data"
    (rec,) = [r for r in want["recommendations"] if r["kind"] == "model_downgrade"]
    assert rec["basis_note"] == "from 2 min of data" and rec["est_savings_usd_per_day"] > 0
    for name, r in reports.items():
        assert r["window"]["basis"] == want["window"]["basis"], name
        assert r["summary"]["burn_usd_per_hour"] == pytest.approx(0.0027 * 60 * 30, rel=1e-3), name  # $/h
        assert r["summary"]["burn_usd_per_hour"] == pytest.approx(want["summary"]["burn_usd_per_hour"], rel=1e-9)
        assert r["models"][0]["burn_usd_per_hour"] == pytest.approx(want["models"][0]["burn_usd_per_hour"], rel=1e-9)
        assert r["summary"]["throughput_per_min"] == pytest.approx(60.0, rel=1e-3), name
        assert r["recommendations"] == want["recommendations"], name
        assert optimized[name]["recommendations"] == want["recommendations"], name
