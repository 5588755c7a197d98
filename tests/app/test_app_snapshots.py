"""Snapshot tests (pytest-textual-snapshot) of the main screen, the drill-down and the 80x24 layout.

Fixed data, a fixed clock and a relative store path make the pictures stable; `--snapshot-update`
rewrites them after an intended change (review the diff in snapshot_report.html).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from app_testlib import NOW, known_frames, wait_for, write_frames

from smythtop.app import SmythtopApp
from smythtop.app.config import AppConfig


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SmythtopApp:
    monkeypatch.chdir(tmp_path)  # the status line shows the store path as given: "store"
    write_frames(Path("store"), known_frames())
    return SmythtopApp(
        Path("store"), clock=lambda: NOW, config=AppConfig(refresh_s=0.25), export_dir=Path("."), findings_process=False
    )  # the findings in the loader's thread: no worker process (~1 s) per snapshot


def settled(app: SmythtopApp):
    async def wait(pilot) -> None:
        # The second tick brings store.check; a tick after the first shows the findings computed in the background.
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.health is not None, "store health")
        await wait_for(pilot, lambda: app.snapshot is not None and not app.snapshot.findings_pending, "the findings")
        await pilot.pause(0.2)

    return wait


def test_main_screen(app: SmythtopApp, snap_compare) -> None:
    assert snap_compare(app, terminal_size=(160, 40), run_before=settled(app))


def test_small_terminal(app: SmythtopApp, snap_compare) -> None:
    assert snap_compare(app, terminal_size=(80, 24), run_before=settled(app))


def test_drill_down(app: SmythtopApp, snap_compare) -> None:
    async def drill(pilot) -> None:
        await settled(app)(pilot)
        await pilot.press("down", "enter")  # the second component by time share: retriever
        await wait_for(pilot, lambda: getattr(app.screen, "detail", None) is not None, "the drill-down's detail")
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(160, 50), run_before=drill)
