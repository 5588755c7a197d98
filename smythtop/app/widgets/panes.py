"""The four panes of the main screen, each fed from the report dict and nothing else.

A pane turns report rows into table cells (formatting only: no arithmetic on frames) and syncs its
DiffTable. The filter matches the row key (component or model) as a case-insensitive substring.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Sparkline, Static

from smythtop.app import fmt
from smythtop.app.widgets.table import Cell, Column, DiffTable, Row

SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "green"}


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

    def rows(self, report: dict[str, Any], needle: str) -> list[Row]:
        raise NotImplementedError

    def show(self, report: dict[str, Any], needle: str = "") -> None:
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


class ComponentsPane(Pane):
    TITLE = "Components"
    SORT = "time_share"
    COLUMNS: ClassVar[list[Column]] = [
        Column("component", "component", descending=False, right=False),
        Column("rate", "exec/min", width=8),
        Column("p50", "p50", width=7),
        Column("p95", "p95", width=7),
        Column("p99", "p99", width=7),
        Column("errors", "err%", width=6),
        Column("time_share", "time%", width=6),
        Column("cost", "cost", width=9),
        Column("trend", "p95 trend", sortable=False, width=12, right=False),
    ]

    def rows(self, report: dict[str, Any], needle: str) -> list[Row]:
        comps = report.get("components", [])
        self.total = len(comps)
        out: list[Row] = []
        for c in comps:
            name = c["component"]
            if not matches(name, needle):
                continue
            unpriced = c.get("unpriced_llm_calls") or 0
            cost = c.get("cost_usd")
            cost_text = fmt.usd(cost) if not unpriced else ("unpriced" if not cost else f"{fmt.usd(cost)}*")
            out.append(
                (
                    name,
                    [
                        Cell(name, name, "bold", right=False),
                        Cell(fmt.rate(c.get("executions_per_min")), c.get("executions_per_min")),
                        Cell(fmt.ms(c.get("p50_ms")), c.get("p50_ms")),
                        Cell(fmt.ms(c.get("p95_ms")), c.get("p95_ms")),
                        Cell(fmt.ms(c.get("p99_ms")), c.get("p99_ms")),
                        Cell(fmt.pct(c.get("error_rate")), c.get("error_rate"), error_style(c.get("error_rate"))),
                        Cell(fmt.pct(c.get("time_share"), digits=0), c.get("time_share")),
                        Cell(cost_text, cost, "dim" if cost_text == "unpriced" else ""),
                        Cell(fmt.spark(c.get("trend") or [], 12), None, "cyan", right=False),
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

    def rows(self, report: dict[str, Any], needle: str) -> list[Row]:
        models = report.get("models", [])
        self.total = len(models)
        out: list[Row] = []
        for m in models:
            model = m.get("model") or "?"
            key = f"{m.get('provider') or ''}/{model}"
            if not matches(key, needle):
                continue
            calls, unpriced = m.get("calls") or 0, m.get("unpriced_calls") or 0
            all_unpriced = calls > 0 and unpriced >= calls
            cost = None if all_unpriced else m.get("cost_usd")
            cost_text = fmt.usd(cost) if not unpriced or all_unpriced else f"{fmt.usd(cost)}*"
            out.append(
                (
                    key,
                    [
                        Cell(model, model, "bold", right=False),
                        Cell(fmt.count(calls), calls),
                        Cell(cost_text, cost, "dim" if cost is None else ""),
                        Cell(fmt.usd(None if all_unpriced else m.get("burn_usd_per_hour")), m.get("burn_usd_per_hour")),
                        Cell(fmt.count(m.get("input_tokens")), m.get("input_tokens")),
                        Cell(fmt.count(m.get("output_tokens")), m.get("output_tokens")),
                        Cell(fmt.count(m.get("cache_read_tokens")), m.get("cache_read_tokens")),
                        Cell(fmt.pct(m.get("mean_context_utilization"), digits=0), m.get("mean_context_utilization")),
                    ],
                )
            )
        return out

    def show(self, report: dict[str, Any], needle: str = "") -> None:
        super().show(report, needle)
        series = [p.get("cost_usd") or 0.0 for p in report.get("cost_series", [])]
        summary = report.get("summary", {})
        caption = self.query_one("#cost-caption", Static)
        spark = self.query_one("#cost-spark", Sparkline)
        if series:
            spark.data = series
        spark.display = bool(series) and any(series)
        burn = summary.get("burn_usd_per_hour")
        unpriced = summary.get("unpriced_llm_calls") or 0
        text = f"total {fmt.usd(summary.get('total_cost_usd'))} · burn {fmt.usd(burn)}/h"
        if unpriced:
            text += f" · {fmt.count(unpriced)} unpriced calls (* = partly priced)"
        if series and any(series):
            text += f" · cost over window, peak {fmt.usd(max(series))}/bucket"
        caption.update(text)


class RankedPane(Pane):
    """Bottlenecks and recommendations keep the analysis' ranking; `#` is the rank."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._items: dict[str, dict[str, Any]] = {}

    def item(self, key: str) -> dict[str, Any] | None:
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
        self.query_one(".detail", Static).update(self.detail_text(item) if item else "")

    def detail_text(self, item: dict[str, Any]) -> str:
        raise NotImplementedError

    def show(self, report: dict[str, Any], needle: str = "") -> None:
        super().show(report, needle)
        self._show_detail(self.table.cursor_key)


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
    _SEV_RANK: ClassVar[dict[str, int]] = {"low": 0, "medium": 1, "high": 2, "critical": 3}

    def rows(self, report: dict[str, Any], needle: str) -> list[Row]:
        items = report.get("bottlenecks", [])
        self.total = len(items)
        self._items = {}
        out: list[Row] = []
        for i, b in enumerate(items, 1):
            comp = b.get("component") or ""
            if not matches(comp, needle):
                continue
            key = self._keyed(f"{comp}|{b.get('kind')}")
            self._items[key] = b
            sev = str(b.get("severity") or "")
            out.append(
                (
                    key,
                    [
                        Cell(str(i), i),
                        Cell(sev, self._SEV_RANK.get(sev, -1), SEVERITY_STYLE.get(sev, ""), right=False),
                        Cell(comp, comp, "bold", right=False),
                        Cell(str(b.get("kind") or ""), b.get("kind"), right=False),
                        Cell(str(b.get("evidence") or ""), None, right=False),
                    ],
                )
            )
        return out

    def detail_text(self, item: dict[str, Any]) -> str:
        return f"{item.get('evidence') or ''}\n→ {item.get('suggestion') or ''}"


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

    def rows(self, report: dict[str, Any], needle: str) -> list[Row]:
        items = report.get("recommendations", [])
        self.total = len(items)
        self._items = {}
        out: list[Row] = []
        for i, r in enumerate(items, 1):
            comp = r.get("component") or ""
            if not matches(comp, needle):
                continue
            key = self._keyed(f"{comp}|{r.get('kind')}|{r.get('title')}")
            self._items[key] = r
            save, gain, conf = r.get("est_savings_usd_per_day"), r.get("est_latency_gain_ms"), r.get("confidence")
            out.append(
                (
                    key,
                    [
                        Cell(str(i), i),
                        Cell(fmt.usd(save, unpriced=fmt.DASH), save, "green" if save else ""),
                        Cell(fmt.ms(gain), gain),
                        Cell(comp, comp, "bold", right=False),
                        Cell(str(r.get("title") or ""), None, right=False),
                        Cell(fmt.pct(conf, digits=0) if isinstance(conf, (int, float)) else str(conf or ""), conf),
                    ],
                )
            )
        return out

    def detail_text(self, item: dict[str, Any]) -> str:
        return f"why: {item.get('rationale') or ''}"
