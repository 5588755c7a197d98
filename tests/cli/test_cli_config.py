"""One store, one config file, one judgement: `report`, `analyze`, `optimize` and the app all find the file by
the same rule ($SMYTHTOP_CONFIG here, no --config) and judge against the same thresholds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from smythtop.analysis.results import Report

from smythtop import store
from smythtop.app.config import AppConfig
from smythtop.app.data import Loader, TickRequest
from smythtop.app.window import TimeWindow
from smythtop.cli import main

NOW = 1_750_000_000 * 10**9
SEC = 10**9
# Every `answer` takes 500 ms: within the default 2000 ms SLO, far over this file's 300 ms.
CONFIG = "[alerts.latency_p95_ms_by_component]\nanswer = 300\n[app]\nrefresh_s = 1\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    with store.Writer(root) as writer:
        for i in range(60):
            writer.append({"ts": NOW - (i + 1) * 10 * SEC, "agent_id": "a", "component": "answer",
                           "total_ms": 500.0, "success": True})  # fmt: skip
            writer.append({"ts": NOW - (i + 1) * 10 * SEC + 1, "agent_id": "a", "component": "plan",
                           "total_ms": 50.0, "success": True})  # fmt: skip
    return root


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SMYTHTOP_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert main([*args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def app_report(root: Path, monkeypatch: pytest.MonkeyPatch) -> Report:
    """What the app shows: the config `smythtop top` hands the app (its entry point, not a copy of its loading),
    and the app's loader on the whole store with that config's thresholds."""
    import smythtop.cli.top_cmd as top_cmd

    handed: list[AppConfig] = []
    monkeypatch.setattr(top_cmd, "open_app", lambda root, config=None: handed.append(config) or 0)
    assert main(["top", "--store", str(root)]) == 0
    loader = Loader(root, clock=lambda: NOW, thresholds=handed[0].thresholds)
    return loader.tick(TickRequest(window=TimeWindow().preset("all"))).report


def judged(capsys: pytest.CaptureFixture[str], root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    report = cli_json(capsys, "report", "--store", str(root))
    detail = cli_json(capsys, "analyze", "--store", str(root), "--component", "answer")
    optimize = cli_json(capsys, "optimize", "--store", str(root))
    return {
        "report": report["summary"]["grade"],
        "app": app_report(root, monkeypatch).summary.grade,
        "analyze": (detail["summary"]["slo_p95_ms"], detail["summary"]["slo_attainment"]),
        "optimize": optimize["recommendations"] == report["recommendations"],
        "slo": report["thresholds"]["latency_p95_ms_by_component"],
    }


def test_report_analyze_optimize_and_the_app_judge_alike(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    defaults = judged(capsys, root, monkeypatch)
    assert defaults == {"report": "A", "app": "A", "analyze": (2000, 1.0), "optimize": True, "slo": {}}
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    monkeypatch.setenv("SMYTHTOP_CONFIG", str(config))
    assert judged(capsys, root, monkeypatch) == {
        "report": "F",
        "app": "F",
        "analyze": (300, 0.0),
        "optimize": True,
        "slo": {"answer": 300},
    }
    monkeypatch.delenv("SMYTHTOP_CONFIG")  # --config names the same file
    report = cli_json(capsys, "report", "--store", str(root), "--config", str(config))
    assert report["summary"]["grade"] == "F"
    assert cli_json(capsys, "--config", str(config), "report", "--store", str(root))["summary"]["grade"] == "F"


def test_a_bad_or_missing_config_is_one_line_naming_the_file(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[alerts]\nlatncy_p95_ms = 300\n")
    for args in (["report", "--config", str(bad)], ["analyze", "--component", "answer", "--config", str(bad)]):
        assert main([*args, "--store", str(root)]) == 2
        assert capsys.readouterr().err.startswith(f"smythtop: error: unknown config key alerts.latncy_p95_ms in {bad}")
    monkeypatch.setenv("SMYTHTOP_CONFIG", str(tmp_path / "absent.toml"))
    assert main(["optimize", "--store", str(root)]) == 2
    err = capsys.readouterr().err
    assert err == f"smythtop: error: $SMYTHTOP_CONFIG {tmp_path / 'absent.toml'} does not exist\n"
    assert main(["top", "--keys"]) == 2  # the app refuses it the same way
    assert capsys.readouterr().err == err


def test_every_command_refuses_an_unknown_key_binding_id(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`[keys]` ids are checked by the schema, so `report` refuses the file the app refuses (it used to pass)."""
    bad = tmp_path / "keys.toml"
    bad.write_text('[keys]\n"window.pan_bak" = "h"\n')
    want = f"smythtop: error: unknown config key keys.window.pan_bak in {bad}: not a key binding id"
    for args in (["report", "--store", str(root)], ["optimize", "--store", str(root)], ["top", "--keys"]):
        assert main([*args, "--config", str(bad)]) == 2
        assert capsys.readouterr().err.startswith(want)


def test_demo_dashboard_gets_the_top_level_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`smythtop --config FILE demo`: the dashboard beside the fleet reads FILE (it used to fall back to discovery)."""
    import smythtop.cli.top_cmd as top_cmd

    seen: list[str | None] = []

    def beside(root: Path, background: object, config_file: str | None = None) -> None:
        seen.append(config_file)

    monkeypatch.setattr(top_cmd, "open_app_beside", beside)
    monkeypatch.setattr(top_cmd, "require_terminal", lambda hint="": None)
    config = tmp_path / "config.toml"
    config.write_text(CONFIG)
    assert main(["--config", str(config), "demo", "--store", str(tmp_path / "demo"), "--seed", "1"]) == 0
    assert seen == [str(config)]


def test_a_price_added_to_the_config_prices_history_at_read_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Frames of a model genai-prices does not know are stored unpriced; `[prices."model"]` prices them in the
    report, the drill-down and the app alike, without rewriting the store."""
    root = tmp_path / "store"
    with store.Writer(root) as writer:
        for i in range(30):
            writer.append({"ts": NOW - (i + 1) * 10 * SEC, "agent_id": "a", "component": "answer", "total_ms": 500.0,
                           "success": True, "model": "acme-finetune-v3", "provider": "self-hosted",
                           "input_tokens": 10_000, "cache_read_tokens": 4_000, "output_tokens": 500})  # fmt: skip
    files = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    before = cli_json(capsys, "report", "--store", str(root))
    assert before["summary"]["unpriced_llm_calls"] == 30 and before["summary"]["total_cost_usd"] == 0
    assert before["models"][0]["cost_usd"] is None

    config = tmp_path / "config.toml"
    config.write_text('[prices."acme-finetune-v3"]\ninput_mtok = 1.0\noutput_mtok = 4.0\ncache_read_mtok = 0.25\n')
    monkeypatch.setenv("SMYTHTOP_CONFIG", str(config))
    per_call = (6_000 * 1.0 + 4_000 * 0.25 + 500 * 4.0) / 1e6
    after = cli_json(capsys, "report", "--store", str(root))
    assert after["summary"]["total_cost_usd"] == pytest.approx(30 * per_call, rel=1e-9)
    assert after["summary"]["unpriced_llm_calls"] == 0 and after["models"][0]["unpriced_calls"] == 0
    detail = cli_json(capsys, "analyze", "--store", str(root), "--component", "answer")
    assert detail["summary"]["cost_usd"] == pytest.approx(30 * per_call, rel=1e-9)
    assert app_report(root, monkeypatch).summary.total_cost_usd == pytest.approx(30 * per_call, rel=1e-9)
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == files  # history priced, not rewritten
    baseline = cli_json(capsys, "baseline", "--store", str(root), "--component", "answer")
    assert baseline["cost_per_call_usd"] == pytest.approx(per_call, rel=1e-9)
