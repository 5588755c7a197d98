"""`smythtop report | optimize` answer windows of an hour or more from rollups (and say so); `--raw` reads raw
frames. Run in-process (`smythtop.cli.main`): a console script per call would cost seconds each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_testlib import HOUR, T0, iso, write_store

from smythtop import store
from smythtop.cli import main

WINDOW = ["--from", iso(T0), "--to", iso(T0 + 2 * HOUR)]


@pytest.fixture(scope="module")
def compacted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-rollups") / "store"
    write_store(root)
    store.compact(root)
    return root


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main([*args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_long_window_is_read_from_rollups_and_says_so(compacted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rolled = _json(capsys, "report", "--store", str(compacted), *WINDOW)
    raw = _json(capsys, "report", "--store", str(compacted), *WINDOW, "--raw")
    assert rolled["basis"]["source"] == "rollups" and rolled["basis"]["rollup_files"] == 1
    assert raw["basis"]["source"] == "raw frames" and raw["basis"]["unavailable"] == []
    assert any("self time" in x for x in rolled["basis"]["unavailable"])
    a, b = rolled["summary"], raw["summary"]
    assert a["rows"] == b["rows"] == 720 and a["executions"] == b["executions"]
    assert a["total_cost_usd"] == pytest.approx(b["total_cost_usd"], rel=1e-12)
    mine = {c["component"]: c for c in rolled["components"]}
    for c in raw["components"]:
        assert mine[c["component"]]["executions"] == c["executions"]
        assert c["p95_ms"] <= mine[c["component"]]["p95_ms"] <= c["p95_ms"] * 1.01
        assert mine[c["component"]]["p95_self_ms"] is None and c["p95_self_ms"] is not None  # not faked
    assert rolled["flows"]  # span-tree findings: from the raw frames of the window's last 15 minutes


def test_text_and_optimize_name_the_source(compacted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--store", str(compacted), *WINDOW]) == 0
    text = capsys.readouterr().out
    assert "source  rollups (minute tier" in text and "not available: self time" in text
    recs = _json(capsys, "optimize", "--store", str(compacted), *WINDOW)
    assert recs["basis"]["source"] == "rollups" and any(r["kind"] == "model_downgrade" for r in recs["recommendations"])


def test_short_windows_and_agents(compacted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    short = _json(capsys, "report", "--store", str(compacted), "--from", iso(T0), "--to", iso(T0 + HOUR / 2))
    assert short["basis"]["source"] == "raw frames"  # under an hour: raw frames, as before
    agent = _json(capsys, "report", "--store", str(compacted), *WINDOW, "--agent", "agent-1")
    assert agent["basis"]["source"] == "rollups" and agent["summary"]["rows"] == 360
    assert {a["agent_id"] for a in agent["agent_components"]} == {"agent-1"}
