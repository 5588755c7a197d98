"""`smythtop report | analyze | optimize | baseline` through the real console script."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_testlib import HOUR, N_TRACES, T0, WEIRD, iso, run, user_error


def test_report_json_shape_and_counts(fleet_store: tuple[Path, list[dict]]) -> None:
    root, frames = fleet_store
    report = json.loads(run("report", "--store", str(root), "--format", "json").stdout)
    assert set(report) >= {"window", "summary", "components", "models", "bottlenecks", "anomalies", "trends",
                           "regressions", "recommendations", "flows"}  # fmt: skip
    expected = sum(1 / f.get("sample_rate", 1.0) for f in frames)
    assert report["summary"]["executions"] == pytest.approx(expected)
    assert report["summary"]["grade"] in set("ABCDF")
    comps = {c["component"]: c for c in report["components"]}
    assert set(comps) == {"workflow", "answer", WEIRD}
    assert comps[WEIRD]["error_rate"] == pytest.approx(
        sum(1 / f.get("sample_rate", 1.0) for f in frames if f["component"] == WEIRD and not f["success"])
        / sum(1 / f.get("sample_rate", 1.0) for f in frames if f["component"] == WEIRD)
    )
    total = sum(f["cost_usd"] for f in frames if "cost_usd" in f)
    assert report["summary"]["total_cost_usd"] == pytest.approx(total, rel=1e-9)
    assert {m["model"] for m in report["models"]} == {"gpt-4o", "gpt-4o-mini"}
    assert report["flows"][0]["from"] == "workflow"


def test_report_text_and_agent_filter(fleet_store: tuple[Path, list[dict]]) -> None:
    root, _ = fleet_store
    text = run("report", "--store", str(root), "--agent", "agent-1").stdout
    assert "Components" in text and "answer" in text and "grade" in text
    assert f"{N_TRACES // 2 * 2 + N_TRACES // 2:,}" not in text  # only half the traces: agent-1's
    report = json.loads(run("report", "--store", str(root), "--agent", "agent-1", "--format", "json").stdout)
    assert {a["agent_id"] for a in report["agent_components"]} == {"agent-1"}


@pytest.mark.integration  # 20-26 s of CLI subprocesses: `make test-integration` (CI) runs it; make test keeps 4 min
def test_baseline_then_report_shows_the_model_switch(fleet_store: tuple[Path, list[dict]]) -> None:
    root, _ = fleet_store
    first, second = iso(T0), iso(T0 + HOUR)
    out = run("baseline", "--store", str(root), "--component", "answer", "--from", first, "--to", second,
              "--format", "json").stdout  # fmt: skip
    saved = json.loads(out)
    assert saved["rows"] == N_TRACES // 2 and Path(saved["path"]).is_file()
    assert Path(saved["path"]).parent == root / "baselines"
    report = json.loads(
        run("report", "--store", str(root), "--from", second, "--to", iso(T0 + 2 * HOUR), "--format", "json").stdout
    )
    cost = [r for r in report["regressions"] if r["component"] == "answer" and r["metric"] == "cost_per_call_usd"]
    assert cost and cost[0]["p_value"] < 0.01 and cost[0]["current"] > cost[0]["baseline"]
    detail = json.loads(run("analyze", "--store", str(root), "--component", "answer", "--from", second,
                            "--format", "json").stdout)  # fmt: skip
    assert detail["baseline"]["component"] == "answer"
    assert any(r["metric"] == "cost_per_call_usd" for r in detail["regressions"])
    assert detail["callers"][0]["from"] == "workflow"
    text = run("baseline", "--store", str(root), "--component", "answer").stdout
    assert "p95_ms" in text and "saved to" in text


def test_analyze_text_and_optimize(fleet_store: tuple[Path, list[dict]]) -> None:
    root, _ = fleet_store
    text = run("analyze", "--store", str(root), "--component", WEIRD).stdout
    assert "Latency histogram" in text and "Errors by type" in text and 'Bad "thing", here' in text
    recs = json.loads(run("optimize", "--store", str(root), "--format", "json").stdout)["recommendations"]
    keys = [(r["est_savings_usd_per_day"], r["est_latency_gain_ms"] or 0.0) for r in recs]
    assert keys == sorted(keys, reverse=True)
    assert any(r["kind"] == "model_downgrade" and r["component"] == "answer" for r in recs)
    assert "Recommendations" in run("optimize", "--store", str(root)).stdout


@pytest.mark.integration  # 20-26 s of CLI subprocesses: `make test-integration` (CI) runs it; make test keeps 4 min
def test_user_errors_are_one_line(fleet_store: tuple[Path, list[dict]], tmp_path: Path) -> None:
    root, _ = fleet_store
    assert "no frames" in user_error(run("report", "--store", str(root), "--since", "1h", check=False))
    assert "nope" in user_error(run("analyze", "--store", str(root), "--component", "nope", check=False))
    assert "no store" in user_error(run("report", "--store", str(tmp_path / "missing"), check=False))
    assert "--to must be after --from" in user_error(
        run("report", "--store", str(root), "--from", iso(T0 + HOUR), "--to", iso(T0), check=False)
    )
    bad = run("report", "--store", str(root), "--since", "5 fortnights", check=False)
    assert bad.returncode == 2 and "not a duration" in bad.stderr and "Traceback" not in bad.stderr
    (tmp_path / "empty").mkdir()
    assert "no frames" in user_error(run("optimize", "--store", str(tmp_path / "empty"), check=False))
    for args in (["--since", "999999d"], ["--from", "9999-12-31T23:59:59"], ["--to", "1600-01-01"]):
        proc = run("report", "--store", str(root), *args, check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert "out of range" in proc.stderr or "too long" in proc.stderr
    config = tmp_path / "th.toml"
    config.write_text('[alerts]\nerror_rate = "high"\n')
    assert "alerts.error_rate" in user_error(run("report", "--store", str(root), "--config", str(config), check=False))


def test_config_thresholds_change_the_grade(fleet_store: tuple[Path, list[dict]], tmp_path: Path) -> None:
    root, _ = fleet_store
    config = tmp_path / "th.toml"
    config.write_text("[alerts]\nlatency_p95_ms = 100\nerror_rate = 0.5\n[llm.cost_thresholds]\n"
                      "burn_warning_usd_per_hour = 0.0001\nburn_critical_usd_per_hour = 0.001\n")  # fmt: skip
    report = json.loads(run("report", "--store", str(root), "--config", str(config), "--format", "json").stdout)
    assert report["summary"]["grade"] == "F"  # nothing meets a 100 ms SLO
    assert report["summary"]["cost_status"] == "critical"
    assert report["thresholds"]["latency_p95_ms"] == 100
