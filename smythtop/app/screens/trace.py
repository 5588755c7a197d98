"""One trace's span tree: indented components, start offsets, durations and a waterfall bar."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from smythtop import fmt
from smythtop.analysis.results import Span
from smythtop.app import keys
from smythtop.app.widgets.status import StatusLine
from smythtop.safe_text import content, text

WATERFALL = 40


def waterfall(start: float, total: float, span: float, width: int = WATERFALL) -> str:
    """A bar placed at the span's start offset, as long as its duration, on a trace-wide scale."""
    span = span or 1.0
    left = round(start / span * width)
    length = max(1, round(total / span * width))
    left = min(left, width - 1)
    return " " * left + "█" * min(length, width - left)


class TraceScreen(Screen):
    BINDINGS = keys.bindings("trace")

    def __init__(self, trace_id: str) -> None:
        super().__init__()
        self.trace_id = trace_id

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield Static(content("[b]trace[/b] $id  [dim]loading…[/dim]", id=self.trace_id), id="headline")
        table = DataTable(id="spans", cursor_type="row")
        table.add_columns("span", "start", "total", "ok", "waterfall")
        yield table
        yield Footer()

    def show_spans(self, spans: list[Span], error: str | None) -> None:
        head = self.query_one("#headline", Static)
        if error:
            head.update(content("[b]trace[/b] $id  [red]$error[/red]", id=self.trace_id, error=error))
            return
        if not spans:
            head.update(content("[b]trace[/b] $id  [dim]no spans found in the store[/dim]", id=self.trace_id))
            return
        end = max(s.start_ms + s.total_ms for s in spans)
        failed = sum(1 for s in spans if not s.success)
        head.update(
            content(
                "[b]trace[/b] $id  $figures" + (" · [red]$failed failed[/red]" if failed else ""),
                id=self.trace_id,
                figures=f"{len(spans)} spans · {fmt.ms(end)} end to end",
                failed=failed,
            )
        )
        table = self.query_one("#spans", DataTable)
        table.clear()
        name_w = max(len(text(s.component)) + 2 * s.depth for s in spans)
        width = max(WATERFALL, self.size.width - name_w - 30)  # the bar takes the rest of the screen
        for s in spans:
            ok = s.success
            name = text("  " * s.depth + s.component, style="" if ok else "red")
            table.add_row(
                name,
                Text(fmt.ms(s.start_ms), justify="right"),
                Text(fmt.ms(s.total_ms), justify="right"),
                Text("✓" if ok else "✗", style="green" if ok else "bold red"),
                Text(waterfall(s.start_ms, s.total_ms, end, width), style="cyan" if ok else "red"),
                key=s.span_id or None,
            )
        table.focus()

    def action_back(self) -> None:
        self.app.pop_screen()
