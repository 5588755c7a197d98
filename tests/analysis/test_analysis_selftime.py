"""Self time, requests and error attribution on a hand-built trace-shaped workload with known answers."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from analysis_testlib import MIN, MS, T0_NS, frames
from msgspec import to_builtins
from smythtop.analysis.detail import span_tree
from smythtop.analysis.report import build_report
from smythtop.analysis.selftime import annotate, reach
from smythtop.analysis.thresholds import Thresholds
from smythtop.analysis.window import prepare

N = 20
ROOT = "HandleRequest"
PLANNER_USD, ANSWER_USD = 0.01, 0.02


def _span(tid: str, sid: str, parent: str | None, name: str, lo: float, hi: float, **kw: object) -> dict:
    start = T0_NS + int(tid[1:]) * MIN
    return {"ts": start + int(lo * MS), "component": name, "total_ms": hi - lo, "trace_id": tid, "span_id": sid,
            "parent_span_id": parent, **kw}  # fmt: skip


def _workload() -> pl.DataFrame:
    """N requests, one a minute: HandleRequest -> planner (LLM), tool_a and tool_b in parallel (overlapping;
    tool_b -> db), answer (LLM, 1 s longer each request). Request i % 5 == 0: db fails, so tool_b and the root
    fail with it; i % 5 == 1: tool_a fails on its own and the request still succeeds."""
    rows = []
    for i in range(N):
        tid, end = f"t{i}", 9700.0 + 1000 * i
        fail_db, fail_a = i % 5 == 0, i % 5 == 1
        rows += [
            _span(tid, "r", None, ROOT, 0, end, success=not fail_db),
            _span(tid, "p", "r", "planner", 100, 2100, model="gpt-4o", provider="openai", cost_usd=PLANNER_USD,
                  input_tokens=900, output_tokens=40),
            _span(tid, "a", "r", "tool_a", 2200, 5200, success=not fail_a),
            _span(tid, "b", "r", "tool_b", 2500, 6500, success=not fail_db),
            _span(tid, "d", "b", "db", 3000, 4000, success=not fail_db),
            _span(tid, "n", "r", "answer", 6600, 9600 + 1000 * i, model="gpt-4o", provider="openai",
                  cost_usd=ANSWER_USD, input_tokens=1500, output_tokens=300),
        ]  # fmt: skip
    return frames(rows)


def _inverted_cdf(values: list[float], q: float) -> float:
    return float(np.percentile(values, q * 100, method="inverted_cdf"))


def test_self_time_is_total_minus_the_union_of_children() -> None:
    df, _ = prepare(_workload())
    out = annotate(df).group_by("component").agg(pl.col("self_ms").unique().sort())
    got = dict(out.iter_rows())
    # root: 9700 + 1000i minus planner 2000, tool_a|tool_b union [2200, 6500) = 4300 (not 3000 + 4000), answer
    assert got[ROOT] == [400.0]
    assert got["tool_b"] == [3000.0]  # 4000 minus db's 1000
    assert got["tool_a"] == [3000.0] and got["db"] == [1000.0] and got["planner"] == [2000.0]
    assert got["answer"] == [3000.0 + 1000 * i for i in range(N)]


def test_report_on_the_trace_workload_matches_a_hand_computation() -> None:
    th = Thresholds(request_latency_p95_ms=20_000.0)
    report = to_builtins(build_report(_workload(), thresholds=th))
    comps = {c["component"]: c for c in report["components"]}
    assert sum(c["time_share"] for c in comps.values()) == pytest.approx(1.0)
    # every span lies inside its root, so self times add up to the roots' totals, plus the 2,700 ms in which
    # tool_a and tool_b both ran (each did that work itself)
    total_self = sum(9700.0 + 1000 * i for i in range(N)) + 2700.0 * N
    assert comps[ROOT]["time_share"] == pytest.approx(400.0 * N / total_self)
    assert comps[ROOT]["mean_self_ms"] == pytest.approx(400.0)
    assert comps[ROOT]["mean_ms"] == pytest.approx(np.mean([9700.0 + 1000 * i for i in range(N)]))
    assert comps["tool_b"]["p95_self_ms"] == pytest.approx(3000.0, rel=0.01)

    # errors belong to the deepest failing span: db's 4 failures are not tool_b's nor the root's
    assert {c: comps[c]["own_errors"] for c in comps} == {ROOT: 0, "planner": 0, "tool_a": 4, "tool_b": 0, "db": 4,
                                                          "answer": 0}  # fmt: skip
    assert comps[ROOT]["errors"] == 4 and comps["tool_b"]["errors"] == 4  # executions still failed
    assert report["summary"]["success_rate"] == pytest.approx(1 - 16 / (6 * N))

    flagged = {(b["component"], b["kind"]) for b in report["bottlenecks"]}
    assert not any(c in (ROOT, "tool_b") and k in ("error_rate", "retry_waste") for c, k in flagged)
    assert ("tool_b", "slo_p95") in flagged  # its own 3 s (without db's second) is over the 2 s tool SLO
    assert {c for c, k in flagged if k == "error_rate"} == {"db", "tool_a"}
    assert ("tool_a", "slo_p95") in flagged and ("answer", "slo_p95") in flagged  # 3 s tool; 21 s p95 LLM call
    assert ("planner", "slo_p95") not in flagged  # a 2 s LLM call is within the LLM-call SLO
    assert all(b["component"] != ROOT for b in report["bottlenecks"])
    assert not [r for r in report["recommendations"] if r["kind"] == "retry_policy"]  # nobody retried

    latencies = [9700.0 + 1000 * i for i in range(N)]
    req = report["summary"]["requests"]
    assert req["requests"] == N and req["success_rate"] == pytest.approx(16 / N)
    assert req["p50_ms"] == _inverted_cdf(latencies, 0.5)
    assert req["p95_ms"] == _inverted_cdf(latencies, 0.95)
    assert req["p99_ms"] == _inverted_cdf(latencies, 0.99)
    assert req["slo_p95_ms"] == 20_000.0
    assert req["slo_attainment"] == pytest.approx(sum(x <= 20_000 for x in latencies) / N)
    assert req["cost_per_request_usd"] == pytest.approx(PLANNER_USD + ANSWER_USD)
    assert req["requests_per_min"] == pytest.approx(N / (report["window"]["basis"]["seconds"] / 60))  # rates: data time
    (row,) = report["requests"]
    assert row["component"] == ROOT and row["requests"] == N and row["p95_ms"] == req["p95_ms"]


def test_grade_is_not_failed_by_the_end_to_end_span() -> None:
    """Before self time, the root's 10-29 s total against a 2 s SLO graded the whole fleet F."""
    rows = _workload().with_columns(success=pl.lit(True))
    report = build_report(rows, thresholds=Thresholds(latency_p95_ms=5000.0, llm_latency_p95_ms=30_000.0))
    assert report.summary.grade == "A", report.summary.grade_reason


def test_roots_remote_parents_orphans_and_sampled_children() -> None:
    rows = [
        # a trace whose caller is another process: its top span has a parent id that is not in the store
        _span("t0", "x", "remote", "ingest", 0, 1000),
        _span("t0", "y", "x", "parse", 100, 300),
        # a trace with its own root, and a span whose parent was sampled out: not a request
        _span("t1", "r", None, ROOT, 0, 1000, cost_usd=0.5),
        _span("t1", "o", "gone", "tool_a", 10, 20, cost_usd=0.25),
        # a child that runs past its parent's end is clipped to the parent
        _span("t1", "c", "r", "tool_b", 900, 1500),
        # two sequential children kept at sample_rate 0.5 stand for four: 4 x 100 ms of the parent is covered
        _span("t2", "r", None, ROOT, 0, 1000),
        _span("t2", "s1", "r", "db", 0, 100, sample_rate=0.5),
        _span("t2", "s2", "r", "db", 500, 600, sample_rate=0.5),
        # no span ids at all: its own request, self = total
        {"ts": T0_NS + 3 * MIN, "component": "lone", "total_ms": 50.0, "cost_usd": 0.125},
    ]
    df, _ = prepare(frames(rows))
    out = {(r["trace_id"], r["span_id"]): r for r in annotate(df).iter_rows(named=True)}
    roots = {k for k, r in out.items() if r["root"]}
    assert roots == {("t0", "x"), ("t1", "r"), ("t2", "r"), (None, None)}
    assert out[("t0", "x")]["self_ms"] == 800.0
    assert out[("t1", "r")]["self_ms"] == 900.0  # tool_b counts only up to its parent's end
    assert out[("t2", "r")]["self_ms"] == pytest.approx(600.0)
    assert out[("t1", "r")]["request_cost"] == 0.75  # the orphan's cost is the trace's all the same
    assert out[(None, None)]["request_cost"] == 0.125 and out[(None, None)]["self_ms"] == 50.0


def test_trace_screen_data_has_self_time_tokens_and_cost() -> None:
    spans = span_tree(_workload(), "t3")
    by = {s.component: s for s in spans}
    assert by[ROOT].self_ms == 400.0 and by["tool_b"].self_ms == 3000.0 and by[ROOT].depth == 0
    assert by["answer"].output_tokens == 300 and by["planner"].cost_usd == PLANNER_USD


def test_running_reach_lifted_and_windowed_agree() -> None:
    """The lifted running maximum (the fast path) against `cum_max().over` (the fallback), on random siblings."""
    rng = np.random.default_rng(3)
    lo = rng.integers(0, 10_000, 5_000)
    kids = pl.DataFrame(
        {"pk": rng.integers(0, 400, 5_000).astype(np.uint64), "_lo": lo, "_hi": lo + rng.integers(0, 3_000, 5_000)}
    ).sort("pk", "_lo")
    fast, slow = (reach(kids, lifted=x).collect() for x in (True, False))
    assert fast["_reach"].to_list() == slow["_reach"].to_list()
    assert fast["_reach"].null_count() == kids["pk"].n_unique()
