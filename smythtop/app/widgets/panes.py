"""The four panes of the main screen, each fed from the typed report and nothing else.

A pane turns report rows into table cells (formatting only: no arithmetic on frames) and syncs its
DiffTable. The filter matches the row key (component or model) as a case-insensitive substring.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Sparkline, Static

from smythtop import fmt
from smythtop.analysis.results import Bottleneck, Recommendation, Report, RequestRow, RequestStats
from smythtop.app.widgets.table import Cell, Column, DiffTable, Row
from smythtop.safe_text import text


def error_style(rate: float | None) -> str:
    if rate is None:
        return ""
    return "bold red" if rate >= 0.05 else "yellow" if rate >= 0.01 else ""


def matches(text: str, needle: str) -> bool:
    return not needle or needle.lower() in text.lower()


class Pane(Vertical, can_focus=False):
    """A bordered pane with a title (btop style) holding one DiffTable."""

    ALLOW_MAXIMIZE = True  # `f` fills the screen with the focused pane
    TITLE: ClassVar[str] = ""
    COLUMNS: ClassVar[list[Column]] = []
    SORT: ClassVar[str | None] = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = self.TITLE
        self.table = DiffTable(self.COLUMNS, sort_column=self.SORT, id=f"{self.id}-table")
        self.total = 0
        self.shown = 0

    def compose(self) -> ComposeResult:
        yield self.table

    def rows(self, report: Report, needle: str) -> list[Row]:
        raise NotImplementedError

    def show(self, report: Report, needle: str = "") -> None:
        rows = self.rows(report, needle)
        self.shown = len(rows)
        self.table.sync(rows)
        self.border_subtitle = self.subtitle(needle)

    def subtitle(self, needle: str) -> str:
        parts = [f"{self.shown}/{self.total}" if needle else f"{self.total}"]
        if self.table.sort_column:
            col = self.table._column(self.table.sort_column)
            parts.append(f"sort {col.label}{'▲' if self.table._ascending(col) else '▼'}")
        return " · ".join(parts)


def requests_caption(q: RequestStats, rows: list[RequestRow], most: int = 3) -> Text:
    """Requests (root spans) end to end, beside the executions above: count, success, p95 against the request SLO,
    cost per request; then the busiest root components when there are several."""
    if not q.requests:
        return Text("requests: none (no root spans in the window)")
    within = q.slo_attainment
    out = Text(f"requests {fmt.count(q.requests)} ({fmt.rate(q.requests_per_min)}/min) · ok ")
    out.append(fmt.pct(q.success_rate), style=error_style(None if q.success_rate is None else 1 - q.success_rate))
    out.append(f" · p95 {fmt.ms(q.p95_ms)} (SLO {fmt.ms(q.slo_p95_ms)}, ")
    out.append(f"{fmt.pct(within)} within", style="yellow" if within is not None and within < 0.95 else "")
    out.append(f") · {fmt.usd(q.cost_per_request_usd)}/request")
    if len(rows) > 1:
        out.append("\n")
        out.append_text(Text(" · ").join(
            text(r.component, style="bold") + Text(f" {fmt.count(r.requests)} p95 {fmt.ms(r.p95_ms)}")
            for r in rows[:most]
        ))  # fmt: skip
    return out


class ComponentsPane(Pane):
    TITLE = "Components"
    SORT = "time_share"
    COLUMNS: ClassVar[list[Column]] = [
        Column("component", "component", descending=False, right=False),
        Column("rate", "exec/min", width=8),
        Column("p50", "p50", width=7),
        Column("p95", "p95", width=7),
        Column("p99", "p99", width=7),
        Column("self", "self95", width=7),
        Column("errors", "err%", width=6),
        Column("time_share", "time%", width=6),
        Column("cost", "cost", width=9),
        Column("trend", "p95 trend", sortable=False, width=12, right=False),
    ]

    def compose(self) -> ComposeResult:
        yield self.table
        yield Static("", id="requests-caption", classes="caption")

    def show(self, report: Report, needle: str = "") -> None:
        super().show(report, needle)
        self.query_one("#requests-caption", Static).update(requests_caption(report.summary.requests, report.requests))

    def rows(self, report: Report, needle: str) -> list[Row]:
        comps = report.components
        self.total = len(comps)
        out: list[Row] = []
        for c in comps:
            name = c.component
            if not matches(name, needle):
                continue
            unpriced, cost = c.unpriced_llm_calls or 0, c.cost_usd
            cost_text = fmt.usd(cost) if not unpriced else ("unpriced" if not cost else f"{fmt.usd(cost)}*")
            out.append(
                (
                    name,
                    [
                        Cell(name, name, "bold", right=False),
                        Cell(fmt.rate(c.executions_per_min), c.executions_per_min),
                        Cell(fmt.ms(c.p50_ms), c.p50_ms),
                        Cell(fmt.ms(c.p95_ms), c.p95_ms),
                        Cell(fmt.ms(c.p99_ms), c.p99_ms),
                        Cell(fmt.ms(c.p95_self_ms), c.p95_self_ms),
                        Cell(fmt.pct(c.error_rate), c.error_rate, error_style(c.error_rate)),
                        Cell(fmt.pct(c.time_share, digits=0), c.time_share),
                        Cell(cost_text, cost, "dim" if cost_text == "unpriced" else ""),
                        Cell(fmt.spark(c.trend, 12), None, "cyan", right=False),
                    ],
                )
            )
        return out


class CostPane(Pane):
    TITLE = "LLM cost"
    SORT = "cost"
    COLUMNS: ClassVar[list[Column]] = [
        Column("model", "model", descending=False, right=False),
        Column("calls", "calls", width=6),
        Column("cost", "cost", width=9),
        Column("burn", "$/hour", width=9),
        Column("in", "tok in", width=7),
        Column("out", "tok out", width=7),
        Column("cached", "cached", width=7),
        Column("ctx", "ctx%", width=5),
    ]

    def compose(self) -> ComposeResult:
        yield self.table
        yield Static("", id="cost-caption", classes="caption")
        yield Sparkline([], summary_function=max, id="cost-spark")

    def rows(self, report: Report, needle: str) -> list[Row]:
        models = report.models
        self.total = len(models)
        out: list[Row] = []
        for m in models:
            model = m.model or "?"
            key = f"{m.provider or ''}/{model}"
            if not matches(key, needle):
                continue
            calls, unpriced = m.calls or 0, m.unpriced_calls or 0
            all_unpriced = calls > 0 and unpriced >= calls
            cost = None if all_unpriced else m.cost_usd
            cost_text = fmt.usd(cost) if not unpriced or all_unpriced else f"{fmt.usd(cost)}*"
            out.append(
                (
                    key,
                    [
                        Cell(model, model, "bold", right=False),
                        Cell(fmt.count(calls), calls),
                        Cell(cost_text, cost, "dim" if cost is None else ""),
                        Cell(fmt.usd(None if all_unpriced else m.burn_usd_per_hour), m.burn_usd_per_hour),
                        Cell(fmt.count(m.input_tokens), m.input_tokens),
                        Cell(fmt.count(m.output_tokens), m.output_tokens),
                        Cell(fmt.count(m.cache_read_tokens), m.cache_read_tokens),
                        Cell(fmt.pct(m.mean_context_utilization, digits=0), m.mean_context_utilization),
                    ],
                )
            )
        return out

    def show(self, report: Report, needle: str = "") -> None:
        super().show(report, needle)
        series = [p.cost_usd or 0.0 for p in report.cost_series]
        summary = report.summary
        caption = self.query_one("#cost-caption", Static)
        spark = self.query_one("#cost-spark", Sparkline)
        if series:
            spark.data = series
        spark.display = bool(series) and any(series)
        burn = summary.burn_usd_per_hour
        unpriced = summary.unpriced_llm_calls or 0
        text = f"total {fmt.usd(summary.total_cost_usd)} · burn {fmt.usd(burn)}/h {report.window.basis.note}"
        if unpriced:
            text += f" · {fmt.count(unpriced)} unpriced calls (* = partly priced)"
        if series and any(series):
            text += f" · cost over window, peak {fmt.usd(max(series))}/bucket"
        caption.update(text)


class RankedPane(Pane):
    """Bottlenecks and recommendations keep the analysis' ranking; `#` is the rank."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._items: dict[str, Bottleneck | Recommendation] = {}

    def item(self, key: str) -> Bottleneck | Recommendation | None:
        return self._items.get(key)

    def _keyed(self, base: str) -> str:
        """Row keys must be unique; the same (component, kind) can appear twice."""
        key, n = base, 2
        while key in self._items:
            key, n = f"{base}#{n}", n + 1
        return key

    def compose(self) -> ComposeResult:
        yield self.table
        yield Static("", classes="caption detail")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(event.row_key.value)

    def _show_detail(self, key: str | None) -> None:
        item = self._items.get(key or "")
        self.query_one(".detail", Static).update(self.detail_text(item) if item else Text())

    def detail_text(self, item: Any) -> Text:
        """Plain `Text` (never markup): evidence and titles quote agent-chosen names."""
        raise NotImplementedError

    def show(self, report: Report, needle: str = "") -> None:
        super().show(report, needle)
        self._show_detail(self.table.cursor_key)

    def show_pending(self) -> None:
        """The window's findings are still being computed in the background (its first paint shows the live
        panes without waiting for them): say so, rather than an empty pane that reads as "nothing found"."""
        self.border_subtitle = "computing…"
        self.query_one(".detail", Static).update(Text("computing the findings…", style="dim"))


class BottlenecksPane(RankedPane):
    TITLE = "Bottlenecks"
    SORT = "rank"
    COLUMNS: ClassVar[list[Column]] = [
        Column("rank", "#", descending=False, width=3),
        Column("severity", "severity", right=False, width=9),
        Column("component", "component", descending=False, right=False),
        Column("kind", "kind", descending=False, right=False, width=14),
        Column("evidence", "evidence", sortable=False, right=False, width=60),
    ]

    def rows(self, report: Report, needle: str) -> list[Row]:
        items = report.bottlenecks
        self.total = len(items)
        self._items = {}
        out: list[Row] = []
        for i, b in enumerate(items, 1):
            if not matches(b.component, needle):
                continue
            key = self._keyed(f"{b.component}|{b.kind}")
            self._items[key] = b
            out.append(
                (
                    key,
                    [
                        Cell(str(i), i),
                        Cell(b.severity.value, b.severity.rank, b.severity.style, right=False),
                        Cell(b.component, b.component, "bold", right=False),
                        Cell(b.kind, b.kind, right=False),
                        Cell(b.evidence, None, right=False),
                    ],
                )
            )
        return out

    def detail_text(self, item: Bottleneck) -> Text:
        return Text.assemble(text(item.evidence), "\n→ ", text(item.suggestion))  # our newline, their text


class RecommendationsPane(RankedPane):
    TITLE = "Recommendations"
    SORT = "rank"
    COLUMNS: ClassVar[list[Column]] = [
        Column("rank", "#", descending=False, width=3),
        Column("savings", "$/day", width=8),
        Column("gain", "ms saved", width=8),
        Column("component", "component", descending=False, right=False),
        Column("title", "recommendation", sortable=False, right=False, width=48),
        Column("confidence", "conf", width=5),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._basis = ""

    def show(self, report: Report, needle: str = "") -> None:
        self._basis = f"$/day {report.window.basis.note}"
        super().show(report, needle)

    def subtitle(self, needle: str) -> str:
        return f"{super().subtitle(needle)} · {self._basis}" if self._basis else super().subtitle(needle)

    def rows(self, report: Report, needle: str) -> list[Row]:
        items = report.recommendations
        self.total = len(items)
        self._items = {}
        out: list[Row] = []
        for i, r in enumerate(items, 1):
            if not matches(r.component, needle):
                continue
            key = self._keyed(f"{r.component}|{r.kind}|{r.title}")
            self._items[key] = r
            save, gain, conf = r.est_savings_usd_per_day, r.est_latency_gain_ms, r.confidence
            out.append(
                (
                    key,
                    [
                        Cell(str(i), i),
                        Cell(fmt.usd(save, unpriced=fmt.DASH), save, "green" if save else ""),
                        Cell(fmt.ms(gain), gain),
                        Cell(r.component, r.component, "bold", right=False),
                        Cell(r.title, None, right=False),
                        Cell(fmt.pct(conf, digits=0), conf),
                    ],
                )
            )
        return out

    def detail_text(self, item: Recommendation) -> Text:
        basis = f"\n$/day {item.basis_note}, confidence {item.confidence:.0%}" if item.basis_note else ""
        return text(f"why: {item.rationale}{basis}")
