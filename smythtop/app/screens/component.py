"""The drill-down screen of one component, fed from `analysis.detail.component_detail` via the tick.

Latency over time, a histogram, the phase breakdown, errors by type, models, the baseline comparison,
who calls it and whom it calls, and its slowest traces (Enter opens a trace's span tree).
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Container, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from smythtop import fmt
from smythtop.analysis.results import Detail, SlowTrace
from smythtop.app import keys
from smythtop.app.data import MissingDetail, Snapshot
from smythtop.app.messages import OpenTrace
from smythtop.app.widgets.charts import BarChart, LineChart, Series
from smythtop.app.widgets.status import StatusLine
from smythtop.safe_text import content, text

FLOWS_SHOWN = 6


def _num(x: float | None, *, sign: bool = False) -> str:
    """4 significant digits, without scientific notation for the magnitudes a dashboard shows."""
    if x is None:
        return fmt.DASH
    plus = "+" if sign else ""
    if abs(x) >= 1000:
        return f"{x:{plus},.0f}"
    return f"{x:{plus}.4g}" if abs(x) >= 1e-3 or x == 0 else f"{x:{plus}.2e}"


def box(title: str, *children, id: str) -> Vertical:
    v = Vertical(*children, id=id, classes="box")
    v.border_title = title
    return v


class ComponentScreen(Screen):
    BINDINGS = keys.bindings("component")

    def __init__(self, component: str, snapshot: Snapshot | None = None) -> None:
        """`snapshot` is the app's latest: shown at once if it already holds this component's detail."""
        super().__init__()
        self.component = component
        self.detail: Detail | MissingDetail | None = None
        self._initial = snapshot

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield Static(content("[b]$name[/b]  [dim]loading…[/dim]", name=self.component), id="headline")
        with VerticalScroll(id="detail"), Container(id="detail-grid"):
            yield box("Latency over time", LineChart(id="latency"), id="latency-box")
            yield box("Histogram", BarChart(id="histogram"), id="histogram-box")
            traces = DataTable(id="traces", cursor_type="row")
            yield box("Slowest traces (Enter: span tree)", traces, id="traces-box")
            yield box("Phases (mean)", BarChart(id="phases"), id="phases-box")
            yield box("Errors by type", BarChart(id="errors"), id="errors-box")
            yield box("Baseline, regressions & findings", Static(id="baseline"), id="baseline-box")
            yield box("Flows", Static(id="flows"), id="flows-box")
            yield box("Models", BarChart(id="models"), id="models-box")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#traces", DataTable)
        table.add_columns("when (UTC)", "total", "ok", "trace")
        table.focus()  # Enter opens the highlighted trace at once
        if self._initial is not None and self.detail is None:  # unless a newer snapshot was shown already
            self.show_snapshot(self._initial)
        self._initial = None

    def show_snapshot(self, snapshot: Snapshot) -> None:
        if snapshot.request.component != self.component or snapshot.detail is None or snapshot.detail is self.detail:
            return
        self.detail = snapshot.detail
        self._render_detail(snapshot.detail)

    def _render_detail(self, d: Detail | MissingDetail) -> None:
        if isinstance(d, MissingDetail):
            headline = content("[b]$name[/b]  [yellow]$reason[/yellow]", name=self.component, reason=d.reason)
            self.query_one("#headline", Static).update(headline)
            return
        s = d.summary
        figures = (
            f"{fmt.count(s.executions)} executions · p50 {fmt.ms(s.p50_ms)} · p95 {fmt.ms(s.p95_ms)} · "
            f"p99 {fmt.ms(s.p99_ms)} · errors {fmt.pct(s.error_rate)} · cost {fmt.usd(s.cost_usd)}"
        )
        headline = content("[b]$name[/b]  $figures", name=self.component, figures=figures)
        self.query_one("#headline", Static).update(headline)
        series = d.latency_series
        self.query_one("#latency", LineChart).plot(
            [
                Series("p50", [p.p50_ms for p in series], "green"),
                Series("p95", [p.p95_ms for p in series], "yellow"),
            ],
            (fmt.clock(fmt.iso_to_ns(series[0].t)), fmt.clock(fmt.iso_to_ns(series[-1].t))) if series else ("", ""),
        )
        used = [i for i, b in enumerate(d.histogram) if b.count]
        bins = d.histogram[used[0] : used[-1] + 1] if used else []  # empty bins beyond the extremes say nothing
        self.query_one("#histogram", BarChart).plot(
            [(f"≤{fmt.ms(b.le_ms)}", b.count, fmt.count(b.count)) for b in bins]
        )
        phases = [(name, getattr(d.phases, name)) for name in d.phases.__struct_fields__]
        self.query_one("#phases", BarChart).plot(
            [(name.removesuffix("_ms"), v, fmt.ms(v)) for name, v in phases if v is not None],
            empty="no phase timings recorded",
        )
        self.query_one("#errors", BarChart).plot(
            [(e.error_type, e.count, fmt.count(e.count)) for e in d.errors],
            empty="no errors in this window",
        )
        self.query_one("#models", BarChart).plot(
            [(m.model or "?", m.calls, f"{fmt.count(m.calls)} · {fmt.usd(m.cost_usd)}") for m in d.models],
            empty="no LLM calls",
        )
        self.query_one("#baseline", Static).update(self._baseline_text(d))
        self.query_one("#flows", Static).update(self._flows_text(d))
        self._traces(d.slowest_traces)

    def _baseline_text(self, d: Detail) -> Content:
        """One line per finding; every value is a `$variable` of `safe_text.content`, never markup."""
        lines: list[Content] = []
        if d.baseline is None:
            hint = "[dim]no baseline saved: `smythtop baseline --component $name` records one[/dim]"
            lines.append(content(hint, name=self.component))
        for r in d.comparison:
            mark = "[bold red]▲ regressed[/]" if r.regressed else "[green]ok[/]"
            test = f" (p={r.p_value:.2g}, {r.test})" if r.p_value is not None else ""
            lines.append(content(f"{mark} $line", line=f"{r.metric}: {_num(r.baseline)} → {_num(r.current)}{test}"))
        for b in d.bottlenecks:
            finding = f"[{b.severity.style}]$severity[/] $evidence"
            lines.append(content(finding, severity=b.severity, evidence=b.evidence))
        for a in d.anomalies:
            lines.append(content("[magenta]anomaly[/] $line", line=f"{a.metric} {a.direction} {a.from_} → {a.to}"))
        for t in d.trends:
            size = f"{t.change * 100:+.2g} pt" if t.metric == "error_rate" else f"{t.relative_change or 0:+.0%}"
            slope = f"{t.metric} {size} ({_num(t.slope_per_hour, sign=True)}/h, p={_num(t.p_value)})"
            lines.append(content("[cyan]trend[/] $line", line=slope))
        return Content("\n").join(lines) if lines else content("[dim]nothing unusual in this window[/dim]")

    def _flows_text(self, d: Detail) -> Content:
        def side(title: str, items: list[tuple[str, float, float]]) -> list[Content]:
            out = [content("[b]$title[/b]", title=title)]
            for name, n, p in items[:FLOWS_SHOWN]:
                out.append(content("  $name  $n", name=name, n=f"{fmt.count(n)}× ({fmt.pct(p, digits=0)})"))
            if len(items) > FLOWS_SHOWN:
                out.append(content("  [dim]+$more more[/dim]", more=len(items) - FLOWS_SHOWN))
            return out if items else [*out, content("  [dim]none[/dim]")]

        lines = side("called by", [(f.from_, f.count, f.probability) for f in d.callers])
        lines += side("calls", [(f.to, f.count, f.probability) for f in d.callees])
        after = [f"{a.to} {fmt.pct(a.probability, digits=0)}" for a in d.next[:3]]
        if after:  # affinity: which sibling tends to run right after this one
            lines.append(content("[b]then runs[/b]  $after", after=", ".join(after)))
        return Content("\n").join(lines)

    def _traces(self, traces: list[SlowTrace]) -> None:
        table = self.query_one("#traces", DataTable)
        cursor = table.cursor_row
        table.clear()
        for t in traces:
            table.add_row(
                Text(fmt.stamp(fmt.iso_to_ns(t.ts))),
                Text(fmt.ms(t.total_ms)),
                Text("✓") if t.success else Text("✗", style="red"),
                text(t.trace_id),  # a DataTable parses plain strings as markup
                key=t.trace_id,
            )
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1), animate=False)

    @on(DataTable.RowSelected, "#traces")
    def _trace_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_trace()

    def action_open_trace(self) -> None:
        table = self.query_one("#traces", DataTable)
        if not table.row_count:
            self.notify("no traces with a trace_id in this window", timeout=3)
            return
        trace_id = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if trace_id:
            self.post_message(OpenTrace(trace_id))

    def action_back(self) -> None:
        self.app.pop_screen()
