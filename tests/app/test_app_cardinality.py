"""The app on a store with hundreds of component names: `[analysis] max_rows` keeps the components pane to the
top names plus one "(other)" row, and drilling into "(other)" says it is a fold."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_testlib import NOW, SEC, known_frames, wait_for, write_frames
from smythtop.analysis.fold import OTHER
from textual.widgets import DataTable

from smythtop.app.config import app_config
from smythtop.app.data import MissingDetail
from smythtop.app.screens.component import ComponentScreen
from smythtop.config import Config

pytestmark = pytest.mark.anyio

NAMES = 500


async def test_components_pane_keeps_the_top_names_and_one_other_row(tmp_path: Path, make_app) -> None:
    root = tmp_path / "store"
    many = [{"ts": NOW - (i + 1) * SEC, "agent_id": "a2", "component": f"tiny.{i:03d}", "total_ms": 1.0,
             "success": True} for i in range(NAMES)]  # fmt: skip
    write_frames(root, known_frames() + many)
    config = app_config(Config.load({"analysis": {"max_rows": 3}, "app": {"refresh_s": 0.25}}))
    app = make_app(root, config=config)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 1)
        comps = app.screen.query_one("#components-table", DataTable)
        keys = [row.key.value for row in comps.ordered_rows]  # planner and retriever tie on time: 6 s each
        assert set(keys[:3]) == {"llm_call", "planner", "retriever"} and keys[3:] == [OTHER]
        summary = app.snapshot.report.summary
        assert summary.components == 4 + NAMES and summary.folded.components == 1 + NAMES
        comps.move_cursor(row=comps.get_row_index(OTHER))
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, ComponentScreen) and screen.component == OTHER
        await wait_for(pilot, lambda: screen.detail is not None, "the drill-down")
        assert isinstance(screen.detail, MissingDetail) and "folded" in screen.detail.reason
