"""The app driven through Textual's Pilot on a store built in the test, with the real analysis."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from app_testlib import NOW, SEC, wait_for, write_frames
from textual.widgets import DataTable, Input, Static

from smythtop import store
from smythtop.app.config import AppConfig
from smythtop.app.screens.component import ComponentScreen
from smythtop.app.screens.export import ExportModal
from smythtop.app.screens.help import HelpScreen
from smythtop.app.screens.main import MainScreen
from smythtop.app.screens.trace import TraceScreen
from smythtop.app.window import MINUTE

pytestmark = pytest.mark.anyio


def texts(table: DataTable, key: str) -> list[str]:
    return [c.text for c in table.get_row(key)]


def column(table: DataTable, col: str) -> list[str]:
    return [table.get_cell(row.key, col).text for row in table.ordered_rows]


def order(table: DataTable) -> list[str]:
    return [row.key.value for row in table.ordered_rows]


async def test_panes_show_the_right_numbers(store_root: Path, make_app) -> None:
    app = make_app(store_root)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 1)
        comps = app.screen.query_one("#components-table", DataTable)
        assert set(order(comps)) == {"planner", "retriever", "llm_call", "tool.search"}
        # 60 runs in the 10 minutes the data covers (not the 15-minute window) = 6.0/min; every planner run took
        # exactly 100 ms, then p95 of self time: the same 100 ms, as its children here ran outside its interval
        assert texts(comps, "planner")[:6] == ["planner", "6.0", "100ms", "100ms", "100ms", "100ms"]
        assert texts(comps, "retriever")[6] == "10.0%"  # 3 of 30 failed
        assert texts(comps, "llm_call")[8] == "$0.20"  # 20 calls at $0.01
        # time share (of self time): llm 20 s, retriever 6 s, planner 6 s, search 0.5 s of 32.5 s
        assert texts(comps, "llm_call")[7] == "62%"
        assert order(comps)[0] == "llm_call"  # sorted by time share
        models = app.screen.query_one("#cost-table", DataTable)
        gpt = texts(models, "openai/gpt-4o")
        assert gpt[:3] == ["gpt-4o", "20", "$0.20"]
        assert gpt[4:6] == ["20.0K", "2.0K"]  # tokens in / out
        assert "burn $1.20/h from 10 min of data" in str(
            app.screen.query_one("#cost-caption", Static).render()
        )  # $0.20 in 10 min
        status = str(app.screen.query_one("#status").render())
        assert "LIVE" in status and "120 frames" in status and "$0.20" in status


async def test_sort_and_filter(store_root: Path, make_app) -> None:
    app = make_app(store_root)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 1)
        comps = app.screen.query_one("#components-table", DataTable)
        await pilot.press("s")  # time share -> cost
        assert comps.sort_column == "cost" and order(comps)[0] == "llm_call"
        await pilot.press("s", "s", "s", "s")  # -> component -> exec/min -> p50 -> p95
        assert comps.sort_column == "p95"
        assert order(comps) == ["llm_call", "retriever", "planner", "tool.search"]
        await pilot.press("S")  # reversed: fastest first
        assert order(comps) == ["tool.search", "planner", "retriever", "llm_call"]
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press("r", "e", "t")
        assert order(comps) == ["retriever"]
        await pilot.press("enter")  # keeps the filter, back to the table
        assert isinstance(app.focused, DataTable) and order(comps) == ["retriever"]
        await pilot.press("escape")
        assert len(order(comps)) == 4


async def test_cursor_stays_on_its_row_after_sort(store_root: Path, make_app) -> None:
    app = make_app(store_root)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 1)
        comps = app.screen.query_one("#components-table", DataTable)
        comps.focus()
        comps.move_cursor(row=comps.get_row_index("planner"))
        before = comps.cursor_row
        for _ in range(4):
            await pilot.press("s")
            assert comps.cursor_key == "planner"
        await pilot.press("S")
        assert comps.cursor_key == "planner"
        assert comps.cursor_row != before or order(comps).index("planner") == before
        for _ in range(2):  # and across refreshes (r: a new analysis, the rows re-synced)
            ticks = app.ticks
            await pilot.press("r")
            await wait_for(pilot, lambda ticks=ticks: app.ticks > ticks)
            assert comps.cursor_key == "planner"


async def test_enter_drills_down_and_escape_returns(store_root: Path, make_app) -> None:
    app = make_app(store_root)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 1)
        comps = app.screen.query_one("#components-table", DataTable)
        comps.move_cursor(row=comps.get_row_index("retriever"))
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, ComponentScreen) and screen.component == "retriever"
        await wait_for(pilot, lambda: screen.detail is not None)
        headline = str(screen.query_one("#headline").render())
        assert "retriever" in headline and "30 executions" in headline and "10.0%" in headline
        errors = screen.query_one("#errors").items
        assert [(label, count) for label, count, _ in errors] == [("Timeout", 3.0)]
        traces = screen.query_one("#traces", DataTable)
        assert traces.row_count == 10  # the ten slowest executions, each with its trace
        assert app.focused is traces
        await pilot.press("enter")  # the span tree of the first slowest trace
        tree = app.screen
        assert isinstance(tree, TraceScreen)
        spans = tree.query_one("#spans", DataTable)
        await wait_for(pilot, lambda: spans.row_count > 0)
        names = [str(spans.get_row_at(i)[0]).strip() for i in range(spans.row_count)]
        depths = [len(str(spans.get_row_at(i)[0])) - len(str(spans.get_row_at(i)[0]).lstrip()) for i in range(3)]
        assert set(names) == {"planner", "retriever", "llm_call"} and depths[0] == 0 and min(depths[1:]) == 2
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_pause_stops_updates_and_new_frames_appear_live(store_root: Path, make_app) -> None:
    app = make_app(store_root)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and not app.snapshot.findings_pending, "the findings")
        comps = app.screen.query_one("#components-table", DataTable)
        await pilot.press("p")
        assert app.window.paused
        ticks = app.ticks
        write_frames(store_root, [{"ts": NOW - SEC, "agent_id": "a2", "component": "late", "total_ms": 5.0,
                                   "success": True}])  # fmt: skip
        await pilot.pause(1.2)  # several refresh periods: nothing may run
        assert app.ticks == ticks and "late" not in order(comps)
        assert app.loader.scans == 1
        await pilot.press("p")
        await wait_for(pilot, lambda: "late" in order(comps))
        assert app.loader.scans == 1  # the new frame came from the tail, not a re-scan
        write_frames(store_root, [{"ts": NOW - SEC, "agent_id": "a2", "component": "later", "total_ms": 5.0,
                                   "success": True}])  # fmt: skip
        await wait_for(pilot, lambda: "later" in order(comps))


async def test_export_writes_the_selected_window(store_root: Path, make_app, tmp_path: Path) -> None:
    app = make_app(store_root)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 1)
        await pilot.press("1")  # last 5 minutes
        await pilot.press("e")
        assert isinstance(app.screen, ExportModal)
        box = app.screen.query_one("#export-path", Input)
        assert box.value.endswith(".parquet")
        target = tmp_path / "window.parquet"
        box.value = str(target)
        await pilot.press("enter")
        await wait_for(pilot, lambda: target.exists())
        got = pl.read_parquet(target)
        want = store.scan(store_root, since=NOW - 5 * MINUTE).collect()
        assert got.height == want.height > 0
        assert got.sort("ts", "component").equals(want.sort("ts", "component"))
        assert pq.read_schema(target).remove_metadata() == store.arrow_schema().remove_metadata()


async def test_small_terminal_collapses_to_tabs(store_root: Path, make_app) -> None:
    app = make_app(store_root)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 1)
        screen = app.screen
        assert screen.tabbed
        visible = [p.id for p in screen.panes if p.display and not p.has_class("tab-hidden")]
        assert visible == ["components"]
        assert screen.query_one("#components-table").region.height >= 4  # rows are visible
        await pilot.press("tab")
        visible = [p.id for p in screen.panes if not p.has_class("tab-hidden")]
        assert visible == ["cost"] and app.focused.id == "cost-table"
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        assert not screen.tabbed and all(p.region.height > 0 for p in screen.panes)


async def test_empty_store_explains_how_to_start(tmp_path: Path, make_app) -> None:
    app = make_app(tmp_path / "nothing-here")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 1)
        text = str(app.screen.query_one("#empty").render())
        assert "smythtop demo" in text and "Collector" in text
        assert not (tmp_path / "nothing-here").exists()  # opening does not create a store


async def test_window_keys_and_rebinding_from_config(store_root: Path, make_app) -> None:
    app = make_app(store_root, config=AppConfig(refresh_s=0.25, keymap={"window.pan_back": "h"}))
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 1)
        await pilot.press("h")
        assert not app.window.live
        await pilot.press("L")
        assert app.window.live
        await pilot.press("3")
        assert app.window.span == 60 * MINUTE
        await pilot.press("tab", "f")  # maximise the focused pane, then restore it
        assert app.screen.maximized is app.screen.query_one("#cost")
        await pilot.press("f")
        assert app.screen.maximized is None
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Window: last hour", "Pan the window back in time", "Cycle the sort column"} <= titles


async def test_palette_exports_csv_json_and_prometheus(store_root: Path, make_app, tmp_path: Path) -> None:
    app = make_app(store_root)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 1)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Export the window as CSV", "Export the window as JSON", "Export the window as Prometheus"} <= titles
        for kind, suffix in (("csv", ".csv"), ("json", ".json"), ("prometheus", ".prom")):
            await app.run_action(f"export('{kind}')")
            await wait_for(pilot, lambda: isinstance(app.screen, ExportModal) and app.screen.is_mounted)
            await pilot.pause()
            box = app.screen.query_one("#export-path", Input)
            assert box.value.endswith(suffix)
            await pilot.press("enter")
            path = Path(box.value)
            await wait_for(pilot, lambda path=path: path.exists())
        text = {p.suffix: p.read_text() for p in tmp_path.glob("smythtop-*")}
        assert len(text[".csv"].splitlines()) == 121  # header + the window's 120 frames
        assert len(json.loads(text[".json"])) == 120
        assert 'smythtop_component_executions_total{agent_id="a1",component="retriever"} 30.0' in text[".prom"]


async def test_status_line_reports_damage_from_store_check(store_root: Path, make_app) -> None:
    segment = sorted((store_root / "wal").rglob("*.wal"))[0]
    data = bytearray(segment.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 8] = b"\xff" * 8  # one damaged record in the middle
    segment.write_bytes(bytes(data))
    # maintenance off: a start-up compaction would quarantine the damaged region first ("1 quarantined")
    app = make_app(store_root, config=AppConfig(refresh_s=0.25, maintenance="off"))
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.health is not None)
        assert app.snapshot.window_frames == 119  # the frames after the damage are still read
        status = str(app.screen.query_one("#status").render())
        assert "⚠ 1 damaged" in status
