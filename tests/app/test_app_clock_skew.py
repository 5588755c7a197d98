"""An agent clock ten minutes ahead: the app's live window and `report --since` give the same answer, and both
say how many frames are dated after now (issue 13: the app showed 2.0K frames where the report showed 1.0K)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from app_testlib import SEC, write_frames

from smythtop.app.data import Loader, TickRequest
from smythtop.app.widgets.status import StatusState, status_text
from smythtop.app.window import TimeWindow

PAST, AHEAD = 120, 80
SKEW = 600 * SEC  # the agent's clock runs ten minutes ahead of the monitor's


def test_live_window_and_report_since_agree_under_clock_skew(tmp_path: Path) -> None:
    root = tmp_path / "store"
    now = time.time_ns()
    frames = [{"ts": now - (i + 1) * 5 * SEC, "agent_id": "ok", "component": "c", "total_ms": 10.0, "success": True}
              for i in range(PAST)]  # fmt: skip
    frames += [{"ts": now + SKEW + i * SEC, "agent_id": "skewed", "component": "c", "total_ms": 10.0,
                "success": True} for i in range(AHEAD)]  # fmt: skip
    write_frames(root, frames)

    smythtop = str(Path(sys.executable).with_name("smythtop"))
    proc = subprocess.run([smythtop, "report", "--store", str(root), "--since", "15m", "--format", "json"],
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    assert json.loads(proc.stdout)["summary"]["executions"] == PAST
    assert f"{AHEAD:,} frames in the store are dated after now" in proc.stderr

    loader = Loader(root, clock=time.time_ns)
    window = TimeWindow()  # live, 15 minutes
    snap = loader.tick(TickRequest(window=window))
    assert (snap.window_frames, snap.future_frames) == (PAST, AHEAD)
    assert snap.report.summary.executions == PAST
    status = status_text(StatusState(root=root, window=window, refresh_s=1.0, now=time.time_ns(), snapshot=snap))
    assert f"{AHEAD} from the future" in status.plain
    exported = loader.window_frames(window.resolve(time.time_ns()))
    assert exported.height == PAST  # the app's export of the live window: the same frames
