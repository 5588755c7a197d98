"""The drill-down screen of one component, fed from `analysis.detail.component_detail` via the tick.

Latency over time, a histogram, the phase breakdown, errors by type, models, the baseline comparison,
who calls it and whom it calls, and its slowest traces (Enter opens a trace's span tree).
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Container, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from smythtop.app import fmt, keys
from smythtop.app.data import Snapshot
from smythtop.app.messages import OpenTrace
from smythtop.app.widgets.charts import BarChart, LineChart, Series
from smythtop.app.widgets.status import StatusLine

FLOWS_SHOWN = 6
_SEV = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "green"}


def _num(x: Any, *, sign: bool = False) -> str:
    """4 significant digits, without scientific notation for the magnitudes a dashboard shows."""
    if not isinstance(x, (int, float)):
        return str(x)
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
        self.detail: dict[str, Any] | None = None
        self._initial = snapshot

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield Static(f"[b]{self.component}[/b]  [dim]loading…[/dim]", id="headline")
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

    def _render_detail(self, d: dict[str, Any]) -> None:
        if d.get("missing"):
            self.query_one("#headline", Static).update(f"[b]{self.component}[/b]  [yellow]{d['missing']}[/yellow]")
            return
        s = d.get("summary") or {}
        self.query_one("#headline", Static).update(
            f"[b]{self.component}[/b]  {fmt.count(s.get('executions'))} executions · "
            f"p50 {fmt.ms(s.get('p50_ms'))} · p95 {fmt.ms(s.get('p95_ms'))} · p99 {fmt.ms(s.get('p99_ms'))} · "
            f"errors {fmt.pct(s.get('error_rate'))} · cost {fmt.usd(s.get('cost_usd'))}"
        )
        series = d.get("latency_series") or []
        self.query_one("#latency", LineChart).plot(
            [
                Series("p50", [p.get("p50_ms") for p in series], "green"),
                Series("p95", [p.get("p95_ms") for p in series], "yellow"),
            ],
            (fmt.clock(fmt.iso_to_ns(series[0]["t"])), fmt.clock(fmt.iso_to_ns(series[-1]["t"])))
            if series
            else ("", ""),
        )
        bins = d.get("histogram") or []
        used = [i for i, b in enumerate(bins) if b.get("count")]
        bins = bins[used[0] : used[-1] + 1] if used else []  # empty bins beyond the extremes say nothing
        self.query_one("#histogram", BarChart).plot(
            [(f"≤{fmt.ms(b.get('le_ms'))}", b.get("count") or 0, fmt.count(b.get("count"))) for b in bins]
        )
        phases = d.get("phases") or {}
        self.query_one("#phases", BarChart).plot(
            [(name.removesuffix("_ms"), v, fmt.ms(v)) for name, v in phases.items() if v is not None],
            empty="no phase timings recorded",
        )
        self.query_one("#errors", BarChart).plot(
            [
                (e.get("error_type") or "?", e.get("count") or 0, fmt.count(e.get("count")))
                for e in d.get("errors") or []
            ],
            empty="no errors in this window",
        )
        self.query_one("#models", BarChart).plot(
            [
                (
                    m.get("model") or "?",
                    m.get("calls") or 0,
                    f"{fmt.count(m.get('calls'))} · {fmt.usd(m.get('cost_usd'))}",
                )
                for m in d.get("models") or []
            ],
            empty="no LLM calls",
        )
        self.query_one("#baseline", Static).update(self._baseline_text(d))
        self.query_one("#flows", Static).update(self._flows_text(d))
        self._traces(d.get("slowest_traces") or [])

    def _baseline_text(self, d: dict[str, Any]) -> str:
        lines = []
        if d.get("baseline") is None:
            lines.append(f"[dim]no baseline saved: `smythtop baseline --component {self.component}` records one[/dim]")
        for r in d.get("comparison") or []:
            mark = "[bold red]▲ regressed[/]" if r.get("regressed") else "[green]ok[/]"
            p = r.get("p_value")
            lines.append(
                f"{mark} {r.get('metric')}: {_num(r.get('baseline'))} → {_num(r.get('current'))}"
                + (f" (p={p:.2g}, {r.get('test')})" if isinstance(p, (int, float)) else "")
            )
        for b in d.get("bottlenecks") or []:
            lines.append(f"[{_SEV.get(b.get('severity'), '')}]{b.get('severity')}[/] {b.get('evidence')}")
        for a in d.get("anomalies") or []:
            lines.append(f"[magenta]anomaly[/] {a.get('metric')} {a.get('direction')} {a.get('from')} → {a.get('to')}")
        for t in d.get("trends") or []:
            slope, p = t.get("slope_per_hour"), t.get("p_value")
            lines.append(f"[cyan]trend[/] {t.get('metric')} {_num(slope, sign=True)}/h (p={_num(p)})")
        return "\n".join(lines) or "[dim]nothing unusual in this window[/dim]"

    def _flows_text(self, d: dict[str, Any]) -> str:
        def side(title: str, items: list[dict[str, Any]], key: str) -> list[str]:
            out = [f"[b]{title}[/b]"]
            out += [
                f"  {f.get(key)}  {fmt.count(f.get('count'))}× ({fmt.pct(f.get('probability'), digits=0)})"
                for f in items[:FLOWS_SHOWN]
            ]
            if len(items) > FLOWS_SHOWN:
                out.append(f"  [dim]+{len(items) - FLOWS_SHOWN} more[/dim]")
            return out if items else [*out, "  [dim]none[/dim]"]

        lines = side("called by", d.get("callers") or [], "from") + side("calls", d.get("callees") or [], "to")
        after = [f"{a.get('to')} {fmt.pct(a.get('probability'), digits=0)}" for a in (d.get("next") or [])[:3]]
        if after:  # affinity: which sibling tends to run right after this one
            lines.append(f"[b]then runs[/b]  {', '.join(after)}")
        return "\n".join(lines)

    def _traces(self, traces: list[dict[str, Any]]) -> None:
        table = self.query_one("#traces", DataTable)
        cursor = table.cursor_row
        table.clear()
        for t in traces:
            ok = t.get("success", True)
            table.add_row(
                fmt.stamp(fmt.iso_to_ns(t.get("ts"))),
                fmt.ms(t.get("total_ms")),
                "✓" if ok else "[red]✗[/red]",
                t.get("trace_id"),
                key=t.get("trace_id"),
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
