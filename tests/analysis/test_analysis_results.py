"""The typed results are the documented JSON: they round-trip through it, a missing key is an error naming
it, values are strict JSON, and the shapes that repeat a field list keep it in step."""

from __future__ import annotations

import dataclasses
import json

import msgspec
import numpy as np
import polars as pl
import pytest
from msgspec import to_builtins
from smythtop.analysis import results
from smythtop.analysis.baseline import establish_baseline
from smythtop.analysis.detail import component_detail, span_tree
from smythtop.analysis.report import build_report
from smythtop.analysis.results import Detail, Report, Severity, Span
from smythtop.analysis.thresholds import Thresholds
from test_analysis_report import _fleet


def test_report_and_detail_round_trip_through_their_json() -> None:
    fleet = _fleet()
    base = establish_baseline(fleet.filter(pl.col("component") == "answer"), "answer")
    report = build_report(fleet, baselines={"answer": base})
    data = to_builtins(report)
    assert msgspec.convert(data, Report) == report
    assert msgspec.json.decode(json.dumps(data, allow_nan=False), type=Report) == report
    assert list(data) == list(Report.__struct_fields__)
    assert list(data["window"]) == ["from", "to", "bucket_s", "duration_s", "basis"]
    assert list(data["window"]["basis"]) == ["from", "to", "seconds", "frames", "burstiness", "confidence", "note"]
    assert "over_cost_per_operation" in data["llm"]["by_component"][0] and "model" not in data["llm"]["by_agent"][0]
    detail = component_detail(fleet, "answer", baseline=base)
    assert msgspec.convert(to_builtins(detail), Detail) == detail
    tree = span_tree(fleet, "tr1")
    assert msgspec.convert(to_builtins(tree), list[Span]) == tree


def test_an_empty_window_has_only_the_grade_rule() -> None:
    empty = build_report(_fleet().head(0))
    detail = to_builtins(empty.summary.grade_detail)
    assert list(detail) == ["rule"]
    assert msgspec.convert(to_builtins(empty), Report) == empty


def test_a_missing_key_is_an_error_naming_it() -> None:
    data = to_builtins(build_report(_fleet(n_traces=20)))
    del data["summary"]["p95_ms"]
    with pytest.raises(msgspec.ValidationError, match=r"p95_ms.*\$\.summary"):
        msgspec.convert(data, Report)


def test_values_are_strict_json_on_construction() -> None:
    basis = results.Basis(from_="a", to="b", seconds=1.0, frames=0, burstiness=float("nan"), confidence=0.0, note="")
    w = results.Window(from_="a", to="b", bucket_s=np.float64(60.0), duration_s=float("inf"), basis=basis)
    assert w.duration_s is None and type(w.bucket_s) is float and w.basis.burstiness is None
    point = results.CostPoint(t="a", cost_usd=np.int64(3))
    assert type(point.cost_usd) is int
    b = results.Bottleneck(component="c", kind="queue", severity=Severity.LOW, evidence="", suggestion="", score=0.5,
                           metrics={"queue_ms": float("nan")})  # fmt: skip
    assert b.metrics == {"queue_ms": None}


def test_shapes_that_repeat_a_field_list_keep_it_in_step() -> None:
    stat = msgspec.structs.fields(results.StatRow)
    agent = msgspec.structs.fields(results.AgentComponentRow)
    assert [(f.name, f.type) for f in agent[1:]] == [(f.name, f.type) for f in stat]
    assert agent[0].name == "agent_id"
    assert results.ThresholdsUsed.__struct_fields__ == tuple(f.name for f in dataclasses.fields(Thresholds))
    estimation = results.LiveEstimation.__struct_fields__ + results.SpanEstimation.__struct_fields__
    assert results.Estimation.__struct_fields__ == estimation
    live, slow = set(results.LiveReport.__struct_fields__), set(results.Findings.__struct_fields__)
    assert live & slow == {"estimation"} and live | slow == set(Report.__struct_fields__)


def test_severity_has_one_style_per_level_and_grades_map_onto_it() -> None:
    assert all(level.style for level in Severity)
    assert [Severity.of_grade(g) for g in "ABCDF"] == [Severity.OK, Severity.LOW, Severity.MEDIUM, Severity.HIGH,
                                                      Severity.CRITICAL]  # fmt: skip
    assert Severity.of_grade("-") is None
    assert sorted(Severity, key=lambda s: s.rank)[-1] is Severity.CRITICAL
    assert to_builtins({"s": Severity.HIGH}) == {"s": "high"}


def test_drill_down_trends_keep_their_json_fields_and_order() -> None:
    """`analyze --format json` trends read as before the typed results (unit third, relative_slope after level),
    with the effect size appended."""
    rng = np.random.default_rng(5)
    n = 6000
    ts = np.arange(n) * 600_000_000 + 1_764_000_000_000_000_000
    frames = pl.DataFrame(
        {
            "ts": pl.Series(ts).cast(pl.Datetime("ns", "UTC")),
            "agent_id": ["a"] * n,
            "component": ["slow"] * n,
            "total_ms": 100.0 + np.arange(n) * 0.2 + rng.normal(0, 5, n),  # latency climbs steadily
            "success": [True] * n,
        }
    )
    trends = to_builtins(component_detail(frames, "slow").trends)
    (trend,) = [t for t in trends if t["metric"] == "latency_p95_ms"]
    assert list(trend) == [
        "component", "metric", "unit", "slope_per_hour", "p_value", "forecast_next_hour", "ci_low", "ci_high",
        "level", "relative_slope", "change", "relative_change",
    ]  # fmt: skip
    assert trend["relative_slope"] == pytest.approx(trend["slope_per_hour"] / trend["level"])
