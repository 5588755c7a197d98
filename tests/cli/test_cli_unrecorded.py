"""`smythtop report` counts the executions the recorder lost: a real Collector with a 100-frame buffer and a
stalled flush loses 500 of 600 executions, writes them as account frames, and the report adds them back to
the component counts (JSON and text)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lossy import lose_500

from smythtop.cli import main

T0_NS = 1_767_225_600 * 10**9


@pytest.fixture(scope="module")
def lossy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """First: 1 execution; then 600 while the flush is stalled, every third one Other: the buffer keeps the last
    100 (Burst 67, Other 33) and accounts for the first 500 (Burst 333, Other 167) as buffer_full."""
    root = tmp_path_factory.mktemp("lossy") / "store"
    lose_500(root, T0_NS)
    return root


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SMYTHTOP_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def test_report_json_counts_the_lost_executions(lossy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["report", "--store", str(lossy), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    lost = report["unrecorded"]
    assert lost["executions"] == 500 and lost["unmatched"] == 0
    assert lost["by_reason"] == [{"name": "buffer_full", "executions": 500}]
    assert lost["by_component"] == [{"name": "Burst", "executions": 333}, {"name": "Other", "executions": 167}]
    rows = {c["component"]: (c["executions"], c["rows"], c["unrecorded"]) for c in report["components"]}
    # every execution that ran is counted: the recorded frames plus the accounted ones
    assert rows == {"First": (1, 1, 0), "Burst": (400, 67, 333), "Other": (200, 33, 167)}
    assert report["summary"]["executions"] == 601 and report["summary"]["rows"] == 101


def test_report_text_says_what_was_lost_and_what_is_unknown(lossy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["report", "--store", str(lossy)]) == 0
    out = capsys.readouterr().out
    assert "500 executions not recorded (buffer_full 500)" in out
    assert "latency, errors and cost are unknown" in out
    assert "400*" in out and "200*" in out


def test_an_agent_filter_applies_to_the_accounts_too(lossy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["report", "--store", str(lossy), "--agent", "a", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["unrecorded"]["executions"] == 0
