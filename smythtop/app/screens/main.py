"""The main screen: four panes in a grid, or behind tabs when the terminal is small.

Everything shown comes from the last `Snapshot`; filtering and sorting re-render that snapshot's
rows on the UI thread (formatting only, no queries).
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Container
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static, Tab, Tabs

from smythtop import fmt
from smythtop.app import keys
from smythtop.app.data import Snapshot
from smythtop.app.messages import ClearMark, OpenComponent
from smythtop.app.widgets.panes import (
    BottlenecksPane,
    ComponentsPane,
    CostPane,
    Pane,
    RankedPane,
    RecommendationsPane,
)
from smythtop.app.widgets.status import StatusLine
from smythtop.safe_text import content

PANES = (
    ("components", "Components"),
    ("cost", "LLM cost"),
    ("bottlenecks", "Bottlenecks"),
    ("recommendations", "Recommendations"),
)

EMPTY_STORE = """[b]No frames in $store yet.[/b]

Record from your agent:

    [cyan]from smythtop import Collector[/cyan]
    [cyan]collector = Collector.get_instance()[/cyan]     [dim]# $$SMYTHTOP_STORE or the default store[/dim]
    [cyan]with collector.track("MyComponent", agent_id="my-agent"):[/cyan]
    [cyan]    ...[/cyan]

or watch a simulated fleet right now:

    [cyan]smythtop demo[/cyan]

This screen updates by itself as soon as the first frame is flushed."""

EMPTY_WINDOW = """[b]No executions in this window[/b] ({window}).

The store holds {frames} frames{newest}.
Press [b]6[/b] for the whole store, [b][[/b] to pan back, [b]Z[/b] to zoom out, or [b]L[/b] for live."""


class MainScreen(Screen):
    BINDINGS = keys.bindings("main")

    def __init__(self, root: Path) -> None:
        super().__init__(id="main")
        self.root = root  # named by the empty-store text
        self.needle = ""
        self.snapshot: Snapshot | None = None

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        tabs = Tabs(*(Tab(title, id=f"tab-{pid}") for pid, title in PANES), id="pane-tabs")
        tabs.can_focus = False
        yield tabs
        with Container(id="panes"):
            yield ComponentsPane(id="components")
            yield CostPane(id="cost")
            yield BottlenecksPane(id="bottlenecks")
            yield RecommendationsPane(id="recommendations")
        yield Static("", id="empty")
        yield Input(placeholder="filter components and models (Enter keeps it, Esc clears)", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self.query_one("#components-table", DataTable).focus()
        self._show_tab("components")

    # ---- panes and tabs -------------------------------------------------------------------------

    @property
    def panes(self) -> list[Pane]:
        return [self.query_one(f"#{pid}", Pane) for pid, _ in PANES]

    @property
    def tabbed(self) -> bool:
        return self.has_class("-narrow") or self.has_class("-short")

    def focused_pane(self) -> Pane:
        node = self.focused
        while node is not None and not isinstance(node, Pane):
            node = node.parent
        return node if isinstance(node, Pane) else self.query_one("#components", Pane)

    def _show_tab(self, pid: str) -> None:
        for pane in self.panes:
            pane.set_class(pane.id != pid, "tab-hidden")
        tabs = self.query_one("#pane-tabs", Tabs)
        if tabs.active != f"tab-{pid}":
            tabs.active = f"tab-{pid}"

    @on(Tabs.TabActivated, "#pane-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        pid = (event.tab.id or "tab-components").removeprefix("tab-")
        self._show_tab(pid)
        if self.tabbed:
            self.query_one(f"#{pid}-table", DataTable).focus()

    def action_next_pane(self, direction: int) -> None:
        ids = [pid for pid, _ in PANES]
        current = self.focused_pane().id or "components"
        pid = ids[(ids.index(current) + direction) % len(ids)]
        self._show_tab(pid)
        self.query_one(f"#{pid}-table", DataTable).focus()

    def action_toggle_maximize(self) -> None:
        if self.maximized is not None:
            self.minimize()
        else:
            self.maximize(self.focused_pane(), container=False)

    # ---- data -----------------------------------------------------------------------------------

    def show_snapshot(self, snapshot: Snapshot) -> None:
        """Re-render only when the report changed (an idle tick reuses the same report object) or the window
        became empty or stopped being so (the panes show the report, the empty text the window and store)."""
        last, self.snapshot = self.snapshot, snapshot
        if (
            last is None
            or last.report is not snapshot.report
            or (last.window_frames == 0) != (snapshot.window_frames == 0)
        ):
            self._render_panes()

    def _render_panes(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        empty = self.query_one("#empty", Static)
        if snap.window_frames == 0:
            empty.update(self._empty_text(snap))
            self.add_class("-empty")
            return
        self.remove_class("-empty")
        with self.app.batch_update():
            for pane in self.panes:
                pane.show(snap.report, self.needle)
                if snap.findings_pending and isinstance(pane, RankedPane):
                    pane.show_pending()

    def _empty_text(self, snap: Snapshot) -> Content | str:
        frames = snap.store_frames
        if frames == 0:
            return content(EMPTY_STORE, store=self.root)
        newest = f", the newest at {fmt.stamp(snap.store_newest_ts)} UTC" if snap.store_newest_ts else ""
        bounds = snap.bounds
        start = fmt.stamp(bounds.start) if bounds.start is not None else "the first frame"
        end = "now" if bounds.end is None else fmt.stamp(bounds.end)
        return EMPTY_WINDOW.format(window=f"{start} → {end}", frames=fmt.count(frames or 0), newest=newest)

    def selected_component(self) -> str | None:
        pane = self.focused_pane()
        key = pane.table.cursor_key
        if key is None:
            return None
        if isinstance(pane, RankedPane):
            item = pane.item(key)
            return item.component if item else None
        if isinstance(pane, ComponentsPane):
            return key
        return None

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_component()

    def action_open_component(self) -> None:
        component = self.selected_component()
        if component:
            self.post_message(OpenComponent(component))

    # ---- filter and sort ------------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.needle = event.value.strip()
        self._render_panes()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        box = self.query_one("#filter", Input)
        box.display = bool(self.needle)
        self.focused_pane_table_focus()

    def focused_pane_table_focus(self) -> None:
        pid = next((p.id for p in self.panes if not p.has_class("tab-hidden")), "components")
        self.query_one(f"#{pid}-table", DataTable).focus()

    def action_clear(self) -> None:
        box = self.query_one("#filter", Input)
        had_filter = bool(self.needle) or box.display
        box.value = ""
        box.display = False
        self.needle = ""
        if had_filter:
            self._render_panes()
            self.focused_pane_table_focus()
        self.post_message(ClearMark())

    def action_sort(self, reverse: bool) -> None:
        pane = self.focused_pane()
        described = pane.table.cycle_sort(reverse=reverse)
        pane.border_subtitle = pane.subtitle(self.needle)
        if described is None:
            self.notify(f"{pane.TITLE} keep the analysis' ranking", timeout=2)
