"""Executions the recorder lost (account frames): summed by component and reason, added to the counts they
belong to, and nothing else about them invented (`analysis.unrecorded`)."""

from __future__ import annotations

import polars as pl
import pytest
from analysis_testlib import MS, T0, T0_NS, frames
from smythtop.analysis.report import build_report
from smythtop.analysis.results import Report
from smythtop.analysis.unrecorded import correct, unrecorded

SEC = 1_000_000_000


def accounts(rows: list[tuple[str, str, float]]) -> pl.DataFrame:
    """Account rows as `store.unrecorded` returns them: (component, reason, executions)."""
    return pl.DataFrame(
        {
            "ts": [T0_NS + i * SEC for i in range(len(rows))],
            "agent_id": ["a"] * len(rows),
            "component": [c for c, _, _ in rows],
            "unrecorded": [n for _, _, n in rows],
            "reason": [r for _, r, _ in rows],
        }
    )


@pytest.fixture(scope="module")
def report() -> Report:
    """plan: 40 executions of 100 ms; answer: 20 of 1 s, 4 failed; over ten minutes."""
    rows = [{"ts": T0_NS + i * 15 * SEC, "component": "plan", "total_ms": 100.0} for i in range(40)]
    rows += [{"ts": T0_NS + i * 30 * SEC + MS, "component": "answer", "total_ms": 1000.0, "success": i % 5 != 0}
             for i in range(20)]  # fmt: skip
    return build_report(frames(rows), window_from=T0, window_to=None)


def test_accounts_are_summed_by_component_and_reason() -> None:
    lost = unrecorded(accounts([("plan", "buffer_full", 7), ("plan", "rejected", 3), ("gone", "buffer_full", 5)]))
    assert lost.executions == 15
    assert [(c.name, c.executions) for c in lost.by_component] == [("plan", 10), ("gone", 5)]
    assert [(c.name, c.executions) for c in lost.by_reason] == [("buffer_full", 12), ("rejected", 3)]
    assert unrecorded(None).executions == 0 and unrecorded(accounts([])).by_reason == []


def test_counts_are_corrected_and_nothing_else(report: Report) -> None:
    lost = unrecorded(accounts([("plan", "buffer_full", 10), ("gone", "store_unavailable", 5)]))
    fixed = correct(report, lost)
    plan = {c.component: c for c in fixed.components}["plan"]
    before = {c.component: c for c in report.components}["plan"]
    assert (plan.executions, plan.unrecorded) == (50, 10)
    assert plan.executions_per_min == pytest.approx(before.executions_per_min * 50 / 40)
    # the lost executions' latency, errors and cost are unknown: the recorded ones' figures stand
    assert (plan.p95_ms, plan.error_rate, plan.cost_usd) == (before.p95_ms, before.error_rate, before.cost_usd)
    answer = {c.component: c for c in fixed.components}["answer"]
    assert answer == {c.component: c for c in report.components}["answer"]
    assert fixed.summary.executions == 60 + 15
    assert fixed.summary.throughput_per_min == pytest.approx(report.summary.throughput_per_min * 75 / 60)
    assert (fixed.summary.error_rate, fixed.summary.p95_ms) == (report.summary.error_rate, report.summary.p95_ms)
    assert fixed.unrecorded.unmatched == 5 and fixed.unrecorded.executions == 15
    assert "unknown" in fixed.unrecorded.note


def test_a_second_correction_replaces_the_first(report: Report) -> None:
    """The app corrects the report it reuses from the previous tick: the counts must not grow each tick."""
    once = correct(report, unrecorded(accounts([("plan", "buffer_full", 10)])))
    again = correct(once, unrecorded(accounts([("plan", "buffer_full", 10), ("plan", "rejected", 2)])))
    assert {c.component: c.executions for c in again.components}["plan"] == 52
    assert again.summary.executions == 72
    assert correct(again, unrecorded(None)) == correct(report, unrecorded(None))
