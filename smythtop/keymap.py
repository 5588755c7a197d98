"""Every key the app answers to, in one catalogue: id, default keys, action, words.

Plain data (no textual), so the config schema checks `[keys]` binding ids for every reader of the file (the
recorder and the CLI too, which never load textual), and the app builds its Textual bindings from the same
entries (`smythtop.app.keys`). The help screen and the command palette read it as well, so all of them agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scope = Literal["app", "main", "component", "trace"]


@dataclass(frozen=True)
class KeyAction:
    id: str
    keys: str  # Textual key names, comma separated
    action: str
    description: str
    scope: Scope
    show: bool = False  # shown in the footer
    key_display: str | None = None
    palette: bool = True  # offered in the command palette
    short: str = ""  # the footer's label, when shown there


CATALOGUE: tuple[KeyAction, ...] = (
    KeyAction("app.quit", "q,ctrl+q", "quit", "Quit smythtop", "app", show=True, key_display="q", short="quit"),
    KeyAction(
        "app.help", "question_mark,f1", "help", "Show keys and panes", "app", show=True, key_display="?", short="help"
    ),
    KeyAction("app.pause", "p", "toggle_pause", "Pause or resume live updates", "app", show=True, short="pause"),
    KeyAction("app.refresh", "r", "refresh_now", "Refresh now", "app"),
    KeyAction("app.faster", "plus,equals_sign", "change_rate(-1)", "Refresh faster", "app", key_display="+"),
    KeyAction("app.slower", "minus", "change_rate(1)", "Refresh slower", "app", key_display="-"),
    KeyAction(
        "app.export",
        "e",
        "export",
        "Export the window (or this component) to Parquet",
        "app",
        show=True,
        short="export",
    ),
    KeyAction("window.pan_back", "left_square_bracket", "pan(-1)", "Pan the window back in time", "app"),
    KeyAction("window.pan_forward", "right_square_bracket", "pan(1)", "Pan the window forward", "app"),
    KeyAction("window.zoom_in", "z", "zoom(0.5)", "Zoom in (half the span)", "app"),
    KeyAction("window.zoom_out", "Z", "zoom(2.0)", "Zoom out (twice the span)", "app"),
    KeyAction("window.live", "L", "go_live", "Back to the live window", "app", show=True, short="live"),
    KeyAction("window.mark", "m", "mark", "Mark the window start, then its end", "app"),
    KeyAction("window.preset_5m", "1", "preset('5m')", "Window: last 5 minutes", "app"),
    KeyAction("window.preset_15m", "2", "preset('15m')", "Window: last 15 minutes", "app"),
    KeyAction("window.preset_1h", "3", "preset('1h')", "Window: last hour", "app"),
    KeyAction("window.preset_6h", "4", "preset('6h')", "Window: last 6 hours", "app"),
    KeyAction("window.preset_24h", "5", "preset('24h')", "Window: last 24 hours", "app"),
    KeyAction("window.preset_all", "6", "preset('all')", "Window: the whole store", "app"),
    KeyAction("main.filter", "slash", "filter", "Filter rows", "main", show=True, key_display="/", short="filter"),
    KeyAction("main.clear", "escape", "clear", "Clear the filter and the pending mark", "main"),
    KeyAction("main.sort", "s", "sort(False)", "Cycle the sort column", "main", show=True, short="sort"),
    KeyAction("main.sort_reverse", "S", "sort(True)", "Reverse the sort", "main"),
    KeyAction("main.next_pane", "tab", "next_pane(1)", "Next pane", "main"),
    KeyAction("main.previous_pane", "shift+tab", "next_pane(-1)", "Previous pane", "main"),
    KeyAction("main.maximize", "f", "toggle_maximize", "Maximise or restore the focused pane", "main"),
    KeyAction("main.open", "enter", "open_component", "Drill down into the selected component", "main"),
    KeyAction("component.back", "escape", "back", "Back", "component", show=True, key_display="esc", short="back"),
    KeyAction("component.open", "enter", "open_trace", "Show the selected trace's span tree", "component"),
    KeyAction("component.next_pane", "tab", "app.focus_next", "Next pane", "component", palette=False),
    KeyAction("trace.back", "escape", "back", "Back", "trace", show=True, key_display="esc", short="back"),
)

BY_ID = {a.id: a for a in CATALOGUE}
