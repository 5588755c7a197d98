"""Bounded cardinality: a store with 5,000 distinct component names and 300 model names, whose top names are
known. The report lists exactly the top `max_rows` of each list plus one "(other)" row holding the sum of the
rest, and the totals do not change."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import msgspec
import polars as pl
import pytest
from analysis_testlib import MS, T0_NS
from smythtop.analysis.detail import UnknownComponent, component_detail
from smythtop.analysis.fold import OTHER
from smythtop.analysis.report import build_report
from smythtop.analysis.thresholds import Thresholds

from smythtop import store

NAMES = 5_000
MODELS = 300
AGENTS = ("agent-a", "agent-b", "agent-c")
KEEP = 40


def _frames() -> list[dict]:
    """Per component i: one trace per agent, a root `run` span and the component's span under it.

    Component i takes 10,000 - i ms (so c00000 ... c00039 are the top 40 by time; every trace's root is
    longer, so `run` ranks first) and calls model m{i % 300} at a cost that grows with the model number (so
    the top 40 models by cost are m299 down to m260). Agent b's frames are sampled at 1/2 (weight 2).
    """
    rows = []
    for i in range(NAMES):
        for a, agent in enumerate(AGENTS):
            trace, ts = f"t{i}-{a}", T0_NS + (i * len(AGENTS) + a) * 10 * MS
            rate = 0.5 if agent == "agent-b" else 1.0
            common = {"agent_id": agent, "trace_id": trace, "sample_rate": rate, "success": True}
            rows.append({**common, "ts": ts, "component": "run", "span_id": f"{trace}.0", "total_ms": 20_000.0})
            rows.append({
                **common, "ts": ts + MS, "component": f"c{i:05d}", "span_id": f"{trace}.1",
                "parent_span_id": f"{trace}.0", "total_ms": float(10_000 - i), "success": i % 7 != 0,
                "model": f"m{i % MODELS}", "provider": "acme", "input_tokens": 100,
                "cost_usd": 0.001 * (1 + i % MODELS),
            })  # fmt: skip
    return rows


def _by(rows: list[dict], key: str, value: str) -> dict[str, float]:
    """Weighted sums of `value` (1 counts executions) per `key`, computed in plain Python."""
    out: dict[str, float] = defaultdict(float)
    for r in rows:
        if r.get(key) is not None:
            out[r[key]] += (1.0 if value == "1" else r[value]) / r["sample_rate"]
    return out


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("cardinality") / "store"
    rows = _frames()
    with store.Writer(root) as writer:
        for r in rows:
            writer.append(r)
    return root, rows


def test_the_report_keeps_the_top_names_and_folds_the_rest_into_one_other_row(written) -> None:
    root, rows = written
    report = build_report(store.scan(root), thresholds=Thresholds(max_rows=KEEP))
    executions, time_ms, cost = (
        _by(rows, "component", "1"),
        _by(rows, "component", "total_ms"),
        _by(rows, "model", "cost_usd"),
    )

    ranked = sorted(time_ms, key=lambda c: (-time_ms[c], c))
    assert [r.component for r in report.components] == [*ranked[:KEEP], OTHER]
    assert ranked[:3] == ["run", "c00000", "c00001"]
    other = report.components[-1]
    rest = set(ranked[KEEP:])
    assert other.executions == pytest.approx(sum(executions[c] for c in rest))
    assert other.rows == 2 * len(AGENTS) * NAMES - sum(r.rows for r in report.components[:-1])
    assert other.cost_usd == pytest.approx(sum(r["cost_usd"] / r["sample_rate"] for r in rows
                                               if r["component"] in rest))  # fmt: skip
    assert sum(r.executions for r in report.components) == pytest.approx(sum(executions.values()))
    assert sum(r.time_share for r in report.components) == pytest.approx(1.0)

    s = report.summary
    assert s.executions == pytest.approx(sum(executions.values()))
    assert s.total_cost_usd == pytest.approx(sum(cost.values()))
    assert s.components == NAMES + 1 and s.folded.components == NAMES + 1 - KEEP
    assert s.folded.models == MODELS - KEEP and s.folded.llm_agents == 0 and s.folded.llm_providers == 0
    assert s.folded.agent_components == len(AGENTS) * (KEEP + 1) - KEEP
    assert report.thresholds.max_rows == KEEP

    models = [m.model for m in report.models]
    assert models == [*[f"m{j}" for j in range(MODELS - 1, MODELS - 1 - KEEP, -1)], OTHER]
    assert report.models[-1].cost_usd == pytest.approx(sum(v for m, v in cost.items() if m not in models))
    assert sum(m.calls for m in report.models) == pytest.approx(s.llm_calls)

    pairs = report.agent_components
    assert len(pairs) == KEEP + 1 and (pairs[-1].agent_id, pairs[-1].component) == (OTHER, OTHER)
    assert sum(p.executions for p in pairs) == pytest.approx(s.executions)

    kept = {r.component for r in report.components}
    named = [b.component for b in report.bottlenecks] + [c.component for c in report.critical_path]
    named += [a.component for a in report.anomalies] + [t.component for t in report.trends if t.component != "(all)"]
    named += [f.from_ for f in report.flows] + [f.to for f in report.flows]
    assert set(named) <= kept and OTHER in {c.component for c in report.critical_path}
    assert all(OTHER not in (r.component, r.model) for r in report.recommendations)
    with pytest.raises(UnknownComponent, match="folded"):
        component_detail(store.scan(root), OTHER, thresholds=Thresholds(max_rows=KEEP))


def test_a_report_within_max_rows_folds_nothing(written) -> None:
    root, _ = written
    few = store.scan(root).filter(pl.col("component").is_in(["run", "c00001", "c00002"]))
    report = build_report(few, thresholds=Thresholds(max_rows=9))
    assert [r.component for r in report.components] == ["run", "c00001", "c00002"]
    assert [m.model for m in report.models] == ["m2", "m1"]
    assert msgspec.structs.asdict(report.summary.folded) == dict.fromkeys(
        msgspec.structs.asdict(report.summary.folded), 0
    )
    with pytest.raises(ValueError, match="max_rows"):
        Thresholds(max_rows=0)
