"""The app counts the executions the recorder lost: read from the store for the history, taken from the tail
for what arrives live, each once. A real Collector with a 100-frame buffer and a stalled flush loses 500 of 600
executions each time (every third one Other: Burst 333, Other 167) and writes them as account frames."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_testlib import NOW, SEC, wait_for
from lossy import lose_500

pytestmark = pytest.mark.anyio


def counts(app) -> dict[str, float]:
    return {c.component: c.executions for c in app.snapshot.report.components}


async def test_the_header_counts_executions_not_recorded(tmp_path: Path, make_app) -> None:
    root = tmp_path / "store"
    lose_500(root, NOW - 300 * SEC)
    app = make_app(root)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 1, "the first snapshot")
        status = lambda: str(app.screen.query_one("#status").render())  # noqa: E731
        assert "500 not recorded" in status()
        assert counts(app) == {"First": 1, "Burst": 400, "Other": 200}  # recorded + lost: every execution that ran
        assert app.snapshot.report.summary.executions == 601
        ticks = app.ticks
        app.action_refresh_now()  # a reused report is corrected again, not twice
        await wait_for(pilot, lambda: app.ticks > ticks, "another tick")
        assert "500 not recorded" in status() and app.snapshot.report.summary.executions == 601
        lose_500(root, NOW - 200 * SEC)  # while the app runs: the tail delivers these accounts
        await wait_for(pilot, lambda: app.snapshot.report.unrecorded.executions == 1000, "the live losses")
        assert "1.0K not recorded" in status()
        assert counts(app) == {"First": 2, "Burst": 800, "Other": 400}
