"""Bottleneck detectors on traces with a known answer; the worst offender comes first."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_testlib import MS, T0_NS, frames
from msgspec import to_builtins
from smythtop.analysis.report import build_report
from smythtop.analysis.thresholds import Thresholds


def _trace(i: int, children: list[tuple[str, float]], *, start_ns: int, gap_ms: float = 1.0) -> list[dict]:
    """A root span and sequential children (name, ms); the root lasts until the last child ends."""
    tid = f"t{i}"
    t = start_ns + MS
    rows = []
    for j, (name, ms) in enumerate(children):
        rows.append({"ts": t, "component": name, "total_ms": ms, "trace_id": tid, "span_id": f"{tid}.{j + 1}",
                     "parent_span_id": f"{tid}.0"})  # fmt: skip
        t += int((ms + gap_ms) * MS)
    root_ms = (t - start_ns) / MS
    rows.append({"ts": start_ns, "component": "handle_request", "total_ms": root_ms, "trace_id": tid,
                 "span_id": f"{tid}.0"})  # fmt: skip
    return rows


def test_injected_slow_span_is_found_and_ranked_first() -> None:
    rng = np.random.default_rng(1)
    rows = []
    for i in range(200):
        kids = [("parse", rng.uniform(5, 15)), ("lookup", rng.uniform(20, 60)), ("render", rng.uniform(10, 30))]
        if i % 2 == 0:
            kids.insert(2, ("slow_tool", rng.uniform(2500, 3500)))  # injected
        rows += _trace(i, kids, start_ns=T0_NS + i * 5000 * MS)
    th = Thresholds(latency_p95_ms=1000.0, latency_p95_ms_by_component={"handle_request": 5000.0})
    report = to_builtins(build_report(frames(rows), thresholds=th))
    top = report["bottlenecks"][0]
    assert top["component"] == "slow_tool"
    assert top["kind"] in {"critical_path", "slo_p95"}
    kinds = {(b["component"], b["kind"]) for b in report["bottlenecks"]}
    assert ("slow_tool", "critical_path") in kinds and ("slow_tool", "slo_p95") in kinds
    crit = next(b for b in report["bottlenecks"] if b["kind"] == "critical_path")
    assert crit["metrics"]["critical_share"] > 0.8  # 3000 of ~3060 ms in half the traces
    assert report["critical_path"][0]["component"] == "slow_tool"
    assert sum(c["share"] for c in report["critical_path"]) == pytest.approx(1.0)
    scores = [b["score"] for b in report["bottlenecks"]]
    assert scores == sorted(scores, reverse=True)


def test_critical_path_counts_parallel_children_once() -> None:
    """Two children run concurrently: only the longer one is on the critical path."""
    rows = []
    for i in range(50):
        start = T0_NS + i * 1000 * MS
        tid = f"p{i}"
        rows += [
            {"ts": start, "component": "root", "total_ms": 502.0, "trace_id": tid, "span_id": "r"},
            {"ts": start + MS, "component": "fast_branch", "total_ms": 100.0, "trace_id": tid, "span_id": "a",
             "parent_span_id": "r"},
            {"ts": start + MS, "component": "slow_branch", "total_ms": 500.0, "trace_id": tid, "span_id": "b",
             "parent_span_id": "r"},
        ]  # fmt: skip
    shares = {c.component: c.share for c in build_report(frames(rows)).critical_path}
    assert shares["slow_branch"] == pytest.approx(500 / 502)
    assert shares.get("fast_branch", 0.0) == 0.0
    assert shares["root"] == pytest.approx(2 / 502)


def test_each_detector_fires_on_its_own_problem() -> None:
    rows = []
    for i in range(100):
        ts = T0_NS + i * 100 * MS
        rows.append({"ts": ts, "component": "queued", "total_ms": 400.0, "queue_ms": 300.0, "core_ms": 100.0})
        rows.append({"ts": ts, "component": "flaky", "total_ms": 100.0, "success": i % 4 != 0,
                     "error_type": "TimeoutError"})  # fmt: skip
        rows.append({"ts": ts, "component": "retrier", "total_ms": 300.0, "retry_count": 2})
        rows.append({"ts": ts, "component": "hungry", "total_ms": 50.0, "mem_pressure": 0.97 if i < 60 else 0.5})
        rows.append({"ts": ts, "component": "fine", "total_ms": 50.0})
    found = {(b["component"], b["kind"]): b for b in to_builtins(build_report(frames(rows)).bottlenecks)}
    assert found[("queued", "queue")]["severity"] == "high"  # 75 % of its time in the queue
    assert found[("flaky", "error_rate")]["severity"] == "critical"  # 25 % = 5x the 5 % threshold
    assert found[("flaky", "retry_waste")]["metrics"]["waste_share"] == pytest.approx(0.25)
    assert found[("retrier", "retry_waste")]["metrics"]["waste_share"] == pytest.approx(2 / 3)
    assert found[("hungry", "memory")]["severity"] == "high"  # 60 % of executions over 85 % pressure
    assert not any(c == "fine" for c, _ in found)
    assert "25.0%" in found[("flaky", "error_rate")]["evidence"]
