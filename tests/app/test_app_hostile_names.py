"""The app on a store whose names are markup, terminal escapes and bidi overrides: every screen shows them
literally (controls as `\\x1b`...), and nothing crashes: main screen, Enter into each component, the trace
screen, the export modal. Also: the app's exports are private, its CSV neutralises formulas, its export
refuses a symlink, and `smythtop top` exits non-zero when the app crashed."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import pytest
from app_testlib import NOW, SEC, wait_for, write_frames
from textual.widgets import DataTable, Input, Static

from smythtop.app.screens.component import ComponentScreen
from smythtop.app.screens.export import ExportModal
from smythtop.app.screens.trace import TraceScreen

pytestmark = pytest.mark.anyio

HOSTILE = ["[/]", "[link=http://x]a[/link]", "\x1b[2J", "cr\rhere", "bell\x07", "z" * 256, "rtl\u202eevil", "[$x]"]
RAW = ("\x1b", "\x07", "\r", "\u202e")


def shown(name: str) -> str:
    """How a name must look: Python's own escapes for the controls (an independent oracle)."""
    return name.encode("unicode_escape").decode("ascii")


def hostile_frames() -> list[dict[str, Any]]:
    frames = []
    for i in range(80):
        name = HOSTILE[i % len(HOSTILE)]
        frames.append(
            {"ts": NOW - (i + 1) * 5 * SEC, "agent_id": HOSTILE[(i + 1) % 8], "component": name,
             "total_ms": 100.0 + i, "success": i % 4 != 0, "error_type": None if i % 4 else HOSTILE[(i + 2) % 8],
             "model": HOSTILE[(i + 3) % 8], "provider": HOSTILE[(i + 4) % 8], "input_tokens": 10,
             "output_tokens": 5, "trace_id": f"{HOSTILE[(i + 5) % 8][:200]}{i}", "span_id": f"s{i}"}
        )  # fmt: skip
    return frames


@pytest.fixture
def hostile_root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    write_frames(root, hostile_frames())
    return root


def plain(app, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def assert_safe(text: str) -> None:
    for raw in RAW:
        assert raw not in text, f"{raw!r} reached the screen: {text[:200]!r}"


async def test_every_screen_shows_hostile_names_literally(hostile_root: Path, make_app) -> None:
    app = make_app(hostile_root)
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_for(pilot, lambda: app.ticks >= 1)
        table = app.screen.query_one("#components-table", DataTable)
        assert {k.value for k in table.rows} == set(HOSTILE)
        for row in table.ordered_rows:
            assert_safe("".join(str(c.__rich__()) for c in table.get_row(row.key)))
        assert_safe(str(app.screen.query_one("#status").render()))
        for name in HOSTILE:
            table = app.screen.query_one("#components-table", DataTable)
            table.focus()
            table.move_cursor(row=table.get_row_index(name))
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ComponentScreen), f"drill-down into {name!r}")
            screen = app.screen
            await wait_for(pilot, lambda s=screen: s.detail is not None, f"detail of {name!r}")
            headline = plain(app, "#headline")
            assert headline.startswith(shown(name)) and "executions" in headline, headline
            for part in ("#headline", "#baseline", "#flows"):
                assert_safe(plain(app, part))
            traces = app.screen.query_one("#traces", DataTable)
            assert traces.row_count
            if name == HOSTILE[0]:  # the trace screen and the export modal once
                await pilot.press("enter")
                await wait_for(pilot, lambda: isinstance(app.screen, TraceScreen), "the trace screen")
                await wait_for(pilot, lambda: "spans" in plain(app, "#headline"), "the span tree")
                assert_safe(plain(app, "#headline"))
                spans = app.screen.query_one("#spans", DataTable)
                assert_safe(str(spans.get_row_at(0)[0]))
                await pilot.press("escape")
                await pilot.press("e")
                await wait_for(pilot, lambda: bool(app.screen.query("#export-what")), "the export modal")
                assert isinstance(app.screen, ExportModal)
                what = plain(app, "#export-what")
                assert shown(name) in what
                await pilot.press("escape")
                await wait_for(pilot, lambda: isinstance(app.screen, ComponentScreen), "the drill-down again")
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, ComponentScreen), "the main screen")
        assert app.return_code is None  # still running: nothing crashed


async def test_app_exports_are_private_neutralised_and_refuse_symlinks(
    hostile_root: Path, make_app, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "link.csv"
    link.symlink_to(victim)
    out = tmp_path / "frames.csv"
    old = os.umask(0o022)
    try:
        app = make_app(hostile_root)
        async with app.run_test(size=(200, 50)) as pilot:
            await wait_for(pilot, lambda: app.ticks >= 1)
            for target in (link, out):
                app.action_export("csv")
                await wait_for(pilot, lambda: bool(app.screen.query("#export-path")), "the export modal")
                app.screen.query_one("#export-path", Input).value = str(target)
                await pilot.press("enter")
                if target == link:  # refused in the dialog, which stays open
                    await wait_for(pilot, lambda: "symbolic link" in plain(app, "#export-error"), "the refusal")
                    await pilot.press("escape")
            await wait_for(pilot, out.exists, "the CSV export")
    finally:
        os.umask(old)
    assert victim.read_text() == "precious" and link.is_symlink()
    assert out.stat().st_mode & 0o777 == 0o600
    rows = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
    assert len(rows) == len(hostile_frames())
    assert all(not v or v[0] not in "=+-@\t\r" for r in rows for v in r.values())


def test_top_exits_non_zero_when_the_app_crashed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Textual sets `return_code` 1 when the app dies of an exception; `smythtop top` used to exit 0."""
    import smythtop.app
    from smythtop.cli import top_cmd

    class Crashed:
        def __init__(self, root: Path, **_: Any) -> None:
            self.return_code: int | None = None

        def run(self) -> None:
            self.return_code = 1

    monkeypatch.setattr(smythtop.app, "SmythtopApp", Crashed)
    monkeypatch.setattr(top_cmd, "require_terminal", lambda *_: None)
    assert top_cmd.open_app(tmp_path) == 1
