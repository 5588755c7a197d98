"""Windows of an hour or more answered from rollups in the app: the numbers of `smythtop report` for the same
window and clock, said in the status line; a short window stays on the live path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import smythtop.store.rollups
from app_testlib import NOW, SEC, wait_for, write_frames

import smythtop.cli.window_args
from smythtop import store
from smythtop.app import data
from smythtop.app.data import Loader, TickRequest
from smythtop.app.widgets.status import StatusState, status_text
from smythtop.app.window import HOUR, MINUTE, TimeWindow
from smythtop.cli import main

DAY = TimeWindow().preset("24h")


@pytest.fixture(scope="module")
def rolled_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three hours of traces (planner -> llm_call at $0.01), one a minute, compacted into frames files and
    rollups; then 5 more traces in the last minutes, left in the WAL. 350 frames, $1.75."""

    def traces(times: range) -> list[dict]:
        frames = []
        for t in times:
            tid = f"t{t}"
            frames += [
                {"ts": t, "agent_id": "a1", "component": "planner", "total_ms": 100.0, "success": True,
                 "trace_id": tid, "span_id": f"{tid}-p"},
                {"ts": t + SEC, "agent_id": "a1", "component": "llm_call", "total_ms": 800.0, "success": t % 7 != 0,
                 "model": "gpt-4o", "provider": "openai", "input_tokens": 1000, "output_tokens": 100,
                 "cost_usd": 0.01, "trace_id": tid, "span_id": f"{tid}-l", "parent_span_id": f"{tid}-p"},
            ]  # fmt: skip
        return frames

    root = tmp_path_factory.mktemp("app-rollups") / "store"
    write_frames(root, traces(range(NOW - 3 * HOUR, NOW - 10 * MINUTE, MINUTE)))
    store.compact(root)
    write_frames(root, traces(range(NOW - 5 * MINUTE, NOW, MINUTE)))
    return root


def cli_report(root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> dict:
    monkeypatch.setattr(smythtop.cli.window_args, "now_ns", lambda: NOW)  # the app's clock
    assert main(["report", "--store", str(root), "--since", "24h", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_day_too_big_for_memory_is_the_reports_from_rollups(
    rolled_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = cli_report(rolled_root, monkeypatch, capsys)
    assert cli["basis"]["source"] == "rollups"
    loader = Loader(rolled_root, clock=lambda: NOW, mem_rows=100)  # 350 frames: "too big", the lazy source
    snap = loader.tick(TickRequest(DAY))
    assert snap.source == "rollups" and snap.basis is not None and snap.basis.wal_frames == 10
    summary = snap.report.summary
    assert (summary.rows, snap.window_frames) == (350, 350) and summary.executions == cli["summary"]["executions"]
    assert summary.total_cost_usd == pytest.approx(cli["summary"]["total_cost_usd"], rel=1e-12)
    assert summary.total_cost_usd == pytest.approx(1.75)
    assert {c.component: c.executions for c in snap.report.components} == {
        c["component"]: c["executions"] for c in cli["components"]
    }
    assert all(c.p95_self_ms is None for c in snap.report.components)  # not in rollups: shown as missing
    tier = "1 h" if snap.basis.tier_s == 3600 else "1 min"
    line = status_text(StatusState(rolled_root, DAY, 1.0, NOW, snapshot=snap)).plain
    assert f"from rollups ({tier} tier) · no self time" in line and "350 frames" in line

    again = loader.tick(TickRequest(DAY))  # within ROLLUPS_EVERY_S: the last report, no recompute
    assert not again.recomputed and again.report is snap.report and again.source == "rollups"
    monkeypatch.setattr(data, "ROLLUPS_EVERY_S", 0.0)
    assert loader.tick(TickRequest(DAY)).recomputed


def test_a_past_long_window_reads_no_raw_frames(rolled_root: Path) -> None:
    loader = Loader(rolled_root, clock=lambda: NOW)
    past = TimeWindow(span=2 * HOUR, end=NOW - HOUR)
    snap = loader.tick(TickRequest(past))
    assert snap.source == "rollups" and loader.scans == 0  # no Parquet scan of raw frames
    # 121 traces: the window's whole minutes (`longwindow.window_for`) reach the one at now - 1h + 40 s too
    assert snap.report.summary.executions == 242
    detail = loader.tick(TickRequest(past, component="planner")).detail  # the drill-down reads raw frames
    assert detail is not None and not isinstance(detail, data.MissingDetail) and loader.scans == 1


def test_short_windows_and_memory_stay_on_the_live_path(rolled_root: Path) -> None:
    loader = Loader(rolled_root, clock=lambda: NOW)
    assert loader.tick(TickRequest(TimeWindow())).source == "memory"  # 15 minutes
    snap = loader.tick(TickRequest(DAY))  # a day that fits in memory: the incremental path is cheaper still
    assert (snap.source, snap.basis, snap.window_frames) == ("memory", None, 350)
    small = Loader(rolled_root, clock=lambda: NOW, mem_rows=5)
    assert small.tick(TickRequest(TimeWindow())).source == "lazy"  # under an hour: never from rollups


def test_frames_files_not_rolled_up_are_answered_from_raw_frames(
    rolled_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(smythtop.store.rollups, "_rolled_up", lambda path: False)  # written before rollups existed
    loader = Loader(rolled_root, clock=lambda: NOW)
    snap = loader.tick(TickRequest(TimeWindow(span=2 * HOUR, end=NOW - HOUR)))
    assert (snap.source, snap.basis) == ("memory", None)  # the first tick loads memory from the window start
    assert snap.report.summary.executions == 240  # raw frames: exactly [now - 3h, now - 1h)


@pytest.mark.anyio
async def test_the_status_line_says_rollups(rolled_root: Path, make_app) -> None:
    app = make_app(rolled_root, loader=Loader(rolled_root, clock=lambda: NOW, mem_rows=100), window=DAY)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 1)
        status = str(app.screen.query_one("#status").render())
        assert "from rollups (" in status and "no self time" in status and "$1.75" in status
