"""One trace's span tree: indented components, start offsets, durations, self time (without the children's
time), model, tokens, cost and error type per span, a waterfall bar, and the trace's total cost."""

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
        table.add_columns("span", "start", "total", "self", "ok", "model", "tokens", "cost", "waterfall")
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
        unpriced = any(s.model is not None and s.cost_usd is None for s in spans)
        cost = None if unpriced else sum(s.cost_usd or 0.0 for s in spans)
        head.update(
            content(
                "[b]trace[/b] $id  $figures" + (" · [red]$failed failed[/red]" if failed else ""),
                id=self.trace_id,
                figures=f"{len(spans)} spans · {fmt.ms(end)} end to end · cost {fmt.usd(cost)}",
                failed=failed,
            )
        )
        table = self.query_one("#spans", DataTable)
        table.clear()
        name_w = max(len(text(s.component)) + 2 * s.depth for s in spans)
        model_w = max((len(text(s.model or "")) for s in spans), default=0)
        fixed = name_w + model_w + 24 + 48  # the other columns and their padding
        width = max(WATERFALL, self.size.width - fixed)  # the bar takes the rest of the screen
        for s in spans:
            ok = s.success
            name = text("  " * s.depth + s.component, style="" if ok else "red")
            tokens = None if s.input_tokens is None and s.output_tokens is None else (
                f"{fmt.count(s.input_tokens)}→{fmt.count(s.output_tokens)}")  # fmt: skip
            table.add_row(
                name,
                Text(fmt.ms(s.start_ms), justify="right"),
                Text(fmt.ms(s.total_ms), justify="right"),
                Text(fmt.ms(s.self_ms), justify="right", style="" if s.self_ms < s.total_ms else "dim"),
                Text("✓" if ok else "✗", style="green" if ok else "bold red")
                + (text(f" {s.error_type}", style="red") if not ok and s.error_type else Text("")),
                text(s.model or "", style="cyan"),
                Text(tokens or "", justify="right"),
                Text(fmt.usd(s.cost_usd) if s.model is not None or s.cost_usd is not None else "", justify="right"),
                Text(waterfall(s.start_ms, s.total_ms, end, width), style="cyan" if ok else "red"),
                key=s.span_id or None,
            )
        table.focus()

    def action_back(self) -> None:
        self.app.pop_screen()
