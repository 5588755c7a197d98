"""The report's shape, the grade rule, the span-tree semantics and the drill-down."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from analysis_testlib import MIN, MS, T0, T0_NS, frames
from msgspec import to_builtins
from smythtop.analysis.baseline import establish_baseline
from smythtop.analysis.detail import UnknownComponent, component_detail, span_tree
from smythtop.analysis.report import build_live, build_report, build_slow, compose
from smythtop.analysis.thresholds import Thresholds

SHAPE = {
    "window": {"from", "to"},
    "summary": {"executions", "success_rate", "p50_ms", "p95_ms", "p99_ms", "total_cost_usd", "unpriced_llm_calls",
                "grade", "grade_reason", "throughput_per_min"},
    "components": {"component", "executions", "error_rate", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "time_share",
                   "cost_usd", "input_tokens", "output_tokens", "executions_per_min", "trend"},
    "models": {"model", "provider", "calls", "input_tokens", "output_tokens", "cache_read_tokens", "cost_usd",
               "mean_context_utilization", "p95_ms", "unpriced_calls", "burn_usd_per_hour"},
    "bottlenecks": {"component", "kind", "severity", "evidence", "suggestion"},
    "anomalies": {"component", "metric", "from", "to", "direction", "score"},
    "trends": {"component", "metric", "slope_per_hour", "p_value", "forecast_next_hour"},
    "regressions": {"component", "metric", "baseline", "current", "p_value"},
    "recommendations": {"kind", "component", "title", "rationale", "est_savings_usd_per_day", "est_latency_gain_ms",
                        "confidence"},
    "flows": {"from", "to", "count", "probability", "bytes"},
    "cost_series": {"t", "cost_usd"},
}  # fmt: skip
LIVE_KEYS = ("window", "summary", "components", "models", "cost_series", "thresholds", "estimation", "requests",
             "unrecorded")  # fmt: skip


def _fleet(n_traces: int = 120, seed: int = 0) -> pl.DataFrame:
    """Traces: root -> planner (LLM) -> search, fetch (same tool, fan-out) -> answer (LLM)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_traces):
        start = T0_NS + i * MIN // 2
        tid = f"tr{i}"
        t = start + MS
        kids = [("planner", 300.0, "gpt-4o", 4000), ("search", 120.0, None, 0), ("search", 90.0, None, 0),
                ("answer", 800.0, "gpt-4o-mini", 1200)]  # fmt: skip
        for j, (name, ms, model, tin) in enumerate(kids):
            ms = ms * rng.uniform(0.8, 1.2)
            row = {"ts": t, "component": name, "total_ms": ms, "trace_id": tid, "span_id": f"{tid}.{j}",
                   "parent_span_id": f"{tid}.r", "input_bytes": int(rng.integers(100, 1000)),
                   "output_bytes": int(rng.integers(100, 1000)), "agent_id": f"agent-{i % 3}"}  # fmt: skip
            if model:
                row |= {"model": model, "provider": "openai", "input_tokens": tin, "output_tokens": 50,
                        "cost_usd": 0.001, "context_utilization": tin / 128000, "ttft_ms": ms / 4}  # fmt: skip
            rows.append(row)
            t += int(ms * MS) + MS
        rows.append(
            {
                "ts": start,
                "component": "agent_run",
                "total_ms": (t - start) / MS,
                "trace_id": tid,
                "span_id": f"{tid}.r",
                "agent_id": f"agent-{i % 3}",
                "input_bytes": 50,
                "output_bytes": 500,
            }
        )
    return frames(rows)


def test_report_has_the_documented_shape_and_is_strict_json() -> None:
    report = to_builtins(build_report(_fleet()))
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    for key, fields in SHAPE.items():
        assert key in report
        if isinstance(report[key], dict):
            assert fields <= set(report[key]), (key, fields - set(report[key]))
        for item in report[key] if isinstance(report[key], list) else []:
            assert fields <= set(item), (key, fields - set(item))
    assert report["summary"]["grade"] in set("ABCDF")
    # largest self-time share first: agent_run's own time is the 1 ms gaps between its children
    assert report["components"][0]["component"] == "answer"
    assert next(c for c in report["components"] if c["component"] == "agent_run")["time_share"] < 0.01
    shares = [c["time_share"] for c in report["components"]]
    assert shares == sorted(shares, reverse=True) and sum(shares) == pytest.approx(1.0)
    assert all(len(c["trend"]) == len(report["cost_series"]) for c in report["components"])
    assert {a["agent_id"] for a in report["agent_components"]} == {"agent-0", "agent-1", "agent-2"}
    assert report["summary"]["throughput_per_min"] == pytest.approx(
        report["summary"]["executions"] / (report["window"]["basis"]["seconds"] / 60)
    )


def _close(a: object, b: object, path: str = "") -> None:
    """Equal, floats to 1e-12 relative (means and rates of exact sums may round differently once)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert list(a) == list(b), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-15), path
    else:
        assert a == b, path


def _exact_fleet() -> pl.DataFrame:
    """_fleet with every summed value a binary fraction, so that sums do not depend on the order polars' parallel
    group-bys add them in (the report is then bit-reproducible), and distinct costs per model."""
    mini = pl.col("model") == "gpt-4o-mini"
    return _fleet().with_columns(
        total_ms=(pl.col("total_ms") * 8).round() / 8,
        ttft_ms=(pl.col("ttft_ms") * 8).round() / 8,
        cost_usd=pl.when(mini).then(2.0**-12).when(pl.col("model").is_not_null()).then(2.0**-10),
        context_utilization=pl.when(mini).then(2.0**-7).otherwise("context_utilization"),
    )


def test_live_and_slow_parts_compose_the_whole_report() -> None:
    fleet = _exact_fleet()
    base = establish_baseline(fleet.filter(pl.col("component") == "answer"), "answer")
    kw = {"window_from": T0, "window_to": T0 + timedelta(hours=1)}
    live = build_live(fleet, **kw)
    assert set(to_builtins(live.report)) == set(LIVE_KEYS)
    composed = to_builtins(compose(live.report, build_slow(live, baselines={"answer": base})))
    _close(composed, to_builtins(build_report(fleet, baselines={"answer": base}, **kw)))
    assert composed["bottlenecks"] and composed["recommendations"] and composed["flows"]


def test_findings_of_earlier_frames_leave_the_live_numbers_current() -> None:
    """What the app shows between two findings refreshes: live numbers of now, findings of a moment ago."""
    fleet = _exact_fleet()
    earlier = fleet.filter(pl.col("ts") < pl.lit(T0_NS + 40 * MIN).cast(pl.Datetime("ns", "UTC")))
    kw = {"window_from": T0, "window_to": T0 + timedelta(hours=1)}
    live, old = build_live(fleet, **kw), build_live(earlier, **kw)
    mixed = to_builtins(compose(live.report, build_slow(old)))
    now, then = to_builtins(build_report(fleet, **kw)), to_builtins(build_report(earlier, **kw))
    assert now["summary"]["executions"] > then["summary"]["executions"]
    for key in set(LIVE_KEYS) - {"estimation"}:
        _close(mixed[key], now[key], key)
    for key in set(now) - set(LIVE_KEYS):
        _close(mixed[key], then[key], key)
    spans = {k: v for k, v in then["estimation"].items() if k != "subsample_factor"}  # estimation: one key is live
    assert mixed["estimation"] == {"subsample_factor": now["estimation"]["subsample_factor"], **spans}


def test_flows_affinity_and_parallelize() -> None:
    report = to_builtins(build_report(_fleet()))
    flows = {(f["from"], f["to"]): f for f in report["flows"]}
    assert flows[("agent_run", "search")]["count"] == 240
    assert flows[("agent_run", "search")]["probability"] == pytest.approx(0.5)
    assert flows[("agent_run", "planner")]["probability"] == pytest.approx(0.25)
    assert flows[("agent_run", "planner")]["bytes"] > 0
    aff = {(a["from"], a["to"]): a for a in report["affinity"]}
    assert aff[("planner", "search")]["probability"] == 1.0
    assert aff[("search", "search")]["probability"] == pytest.approx(0.5)
    par = [r for r in report["recommendations"] if r["kind"] == "parallelize"]
    assert par and par[0]["component"] == "agent_run"
    fan_out = next(r for r in par if "search" in r["title"])
    assert fan_out["est_latency_gain_ms"] > 0


def test_parallelize_gain_is_sum_minus_slowest() -> None:
    rows = []
    for i in range(30):
        start, tid = T0_NS + i * 10_000 * MS, f"f{i}"
        rows.append({"ts": start, "component": "batch", "total_ms": 603.0, "trace_id": tid, "span_id": "r"})
        t = start + MS
        for j, ms in enumerate((100.0, 300.0, 200.0)):  # one tool three times, one after another
            rows.append({"ts": t, "component": "fetch_page", "total_ms": ms, "trace_id": tid, "span_id": f"c{j}",
                         "parent_span_id": "r"})  # fmt: skip
            t += int(ms * MS)
    rec = next(r for r in build_report(frames(rows)).recommendations if r.kind == "parallelize")
    assert rec.est_latency_gain_ms == pytest.approx(100 + 300 + 200 - 300)


def test_grade_is_per_component_slo_not_pooled_p95() -> None:
    rows = []
    for i in range(400):
        ts = T0_NS + i * MS * 100
        rows.append({"ts": ts, "component": "cache", "total_ms": 5.0})
        rows.append({"ts": ts, "component": "llm", "total_ms": 3000.0})
    th = Thresholds(latency_p95_ms=50.0, latency_p95_ms_by_component={"llm": 5000.0})
    good = to_builtins(build_report(frames(rows), thresholds=th))
    assert good["summary"]["p95_ms"] > 50  # a pooled p95 would fail the cache SLO...
    assert good["summary"]["grade"] == "A"  # ...but every execution met its own component's SLO
    rows += [{"ts": T0_NS + i * MS, "component": "search", "total_ms": 400.0} for i in range(100)]
    bad = to_builtins(build_report(frames(rows), thresholds=th))
    assert bad["summary"]["grade"] == "F"
    assert "search" in bad["summary"]["grade_reason"]
    assert bad["summary"]["grade_detail"]["worst_component"]["component"] == "search"


def test_grade_from_error_rate() -> None:
    rows = [{"ts": T0_NS + i * MS, "component": "c", "total_ms": 10.0, "success": i % 25 != 0} for i in range(500)]
    summary = to_builtins(build_report(frames(rows)).summary)  # 4 % errors vs the 5 % threshold
    assert summary["grade"] == "C" and "error rate 4.00%" in summary["grade_reason"]


def test_empty_window_and_missing_columns() -> None:
    df = frames([{"ts": T0_NS, "component": "c", "total_ms": 10.0}])
    empty = to_builtins(build_report(df, window_from=T0 + timedelta(hours=1), window_to=T0 + timedelta(hours=2)))
    assert empty["summary"]["executions"] == 0 and empty["components"] == [] and empty["summary"]["grade"] == "-"
    assert json.dumps(empty, allow_nan=False)
    minimal = pl.DataFrame({"ts": [T0], "component": ["c"], "total_ms": [10.0]})
    assert build_report(minimal).summary.executions == 1


def test_component_detail_and_span_tree() -> None:
    df = _fleet()
    d = to_builtins(component_detail(df, "search"))
    assert d["summary"]["executions"] == 240
    assert sum(b["count"] for b in d["histogram"]) == 240
    assert {c["from"] for c in d["callers"]} == {"agent_run"}
    assert {n["to"] for n in d["next"]} == {"search", "answer"}
    slowest = d["slowest_traces"]
    assert len(slowest) == 10 and slowest[0]["total_ms"] == max(s["total_ms"] for s in slowest)
    assert len(d["latency_series"]) == len(build_report(df).cost_series)
    planner = component_detail(df, "planner")
    assert planner.models[0].model == "gpt-4o" and planner.models[0].p95_ttft_ms > 0
    with pytest.raises(UnknownComponent, match="nope"):
        component_detail(df, "nope")
    tree = to_builtins(span_tree(df, slowest[0]["trace_id"]))
    assert [(r["depth"], r["component"]) for r in tree] == [
        (0, "agent_run"), (1, "planner"), (1, "search"), (1, "search"), (1, "answer")]  # fmt: skip
    offsets = [r["start_ms"] for r in tree]
    assert offsets == sorted(offsets) and offsets[0] == 0
    assert span_tree(df, "no-such-trace") == []
