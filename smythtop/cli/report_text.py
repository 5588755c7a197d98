"""Text renderings of the report, the recommendations and a component's detail, with rich tables.

Only presentation: every number comes from the typed results `analysis` returns, formatted by `smythtop.fmt`
(the app's rules). Unpriced cost shows as "unpriced", unknown values as "–", never as 0.

Names come from agents: every table cell is a `Text` (never parsed as markup) built by `safe_text.text`, and
every stored string in a markup line goes through `safe_text.markup`, so no name can style, link or
control the terminal (docs/SECURITY.md).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from smythtop.analysis.longwindow import ROLLUPS, Basis
from smythtop.analysis.results import (
    Bottleneck,
    Detail,
    Recommendation,
    Report,
    RequestRow,
    RequestStats,
    Severity,
    Unrecorded,
)
from smythtop.fmt import count, ms, pct, rate, usd
from smythtop.safe_text import markup, text

_TEXT_COLUMNS = {
    "component",
    "kind",
    "severity",
    "evidence",
    "title",
    "model",
    "provider",
    "metric",
    "from",
    "to",
    "dir",
    "error_type",
    "ts",
    "trace_id",
    "agent",
    "phase",
    "test",
    "<= ms",
    "",
}


def _console() -> Console:
    """A terminal's own width; piped output gets 160 columns rather than rich's 80, so tables stay readable."""
    probe = Console()
    return Console(highlight=False, soft_wrap=False, width=None if probe.is_terminal else 160)


def _styled(value: str, severity: Severity | None) -> Text:
    return text(value, severity.style if severity else "")


def _markup_styled(value: str, severity: Severity | None) -> str:
    return f"[{severity.style}]{markup(value)}[/]" if severity else markup(value)


def _row(table: Table, *cells: str | Text) -> None:
    """Add a row whose cells are all Text: plain strings (names, and our own numbers) are shown literally."""
    shown: list[RenderableType] = [c if isinstance(c, Text) else text(c) for c in cells]
    table.add_row(*shown)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", header_style="bold", expand=False)
    for col in columns:
        table.add_column(col, justify="left" if col in _TEXT_COLUMNS else "right", overflow="fold")
    return table


def _requests_line(q: RequestStats) -> str:
    if not q.requests:
        return "requests none (no root spans in the window)"
    return (
        f"requests {count(q.requests)} ({rate(q.requests_per_min)}/min), success {pct(q.success_rate, digits=2)},"
        f" p50 {ms(q.p50_ms)}, p95 {ms(q.p95_ms)} (SLO {ms(q.slo_p95_ms)}, {pct(q.slo_attainment)} within),"
        f" {usd(q.cost_per_request_usd)}/request"
    )


def _requests(out: Console, rows: list[RequestRow]) -> None:
    """Requests by root component: end to end, against the request SLO, with the whole tree's cost."""
    if not rows:
        return
    t = _table("Requests (root spans, end to end)", "component", "requests", "/min", "success", "p50", "p95", "p99",
               "SLO", "within", "$/request", "unpriced")  # fmt: skip
    for q in rows:
        _row(
            t,
            q.component,
            count(q.requests),
            rate(q.requests_per_min),
            pct(q.success_rate),
            ms(q.p50_ms),
            ms(q.p95_ms),
            ms(q.p99_ms),
            ms(q.slo_p95_ms),
            pct(q.slo_attainment),
            usd(q.cost_per_request_usd),
            count(q.unpriced_requests),
        )
    out.print(t)


def _unrecorded_line(u: Unrecorded) -> str:
    """The executions the recorder lost: how many, why, and what that means for the figures around it."""
    reasons = ", ".join(f"{markup(c.name)} {count(c.executions)}" for c in u.by_reason)
    apart = f"; {count(u.unmatched)} of components not listed below" if u.unmatched else ""
    return (
        f"[yellow]lost    {count(u.executions)} executions not recorded[/yellow] ({reasons}{apart})\n"
        f"        {markup(u.note)} (execs marked *)"
    )


def render_report(r: Report, root: Path | str, basis: Basis) -> None:
    out = _console()
    s, w = r.summary, r.window
    out.print(f"[bold]smythtop report[/bold]  {markup(root)}")
    out.print(f"window  {w.from_} .. {w.to}  ({w.duration_s / 3600:.2f} h, buckets of {w.bucket_s:g} s)")
    out.print(f"rates   {_basis(r)}")
    _source(out, basis)
    grade = Severity.of_grade(s.grade)
    out.print(
        f"grade   [bold]{_markup_styled(s.grade, grade)}[/bold]  {markup(s.grade_reason.split(': ', 1)[-1])}\n"
        f"        {count(s.executions)} executions ({rate(s.throughput_per_min)}/min), success"
        f" {pct(s.success_rate, digits=2)}, p50 {ms(s.p50_ms)}, p95 {ms(s.p95_ms)}, p99 {ms(s.p99_ms)}\n"
        f"{_requests_line(s.requests)}\n"
        f"cost    {usd(s.total_cost_usd)} in the window, burn {usd(s.burn_usd_per_hour)}/h"
        f" ({_markup_styled(s.cost_status, s.cost_status)}), {count(s.llm_calls)} LLM calls,"
        f" {count(s.unpriced_llm_calls)} unpriced"
    )
    if r.unrecorded.executions:
        out.print(_unrecorded_line(r.unrecorded))
    t = _table("Components (share: of self time)", "component", "execs", "/min", "errors", "p50", "p95", "p99",
               "self p95", "SLO", "share", "cost")  # fmt: skip
    for c in r.components:
        _row(
            t,
            c.component,
            count(c.executions) + ("*" if c.unrecorded else ""),
            rate(c.executions_per_min),
            pct(c.error_rate),
            ms(c.p50_ms),
            ms(c.p95_ms),
            ms(c.p99_ms),
            ms(c.p95_self_ms),
            ms(c.slo_p95_ms),
            pct(c.time_share),
            usd(c.cost_usd),
        )
    out.print(t)
    _requests(out, r.requests)
    if r.models:
        t = _table(
            "LLM models",
            "model",
            "provider",
            "calls",
            "in tok",
            "out tok",
            "cached",
            "cost",
            "$/h",
            "ctx use",
            "p95",
            "unpriced",
        )
        for m in r.models:
            _row(
                t,
                m.model or "?",
                m.provider or "–",
                count(m.calls),
                count(m.input_tokens),
                count(m.output_tokens),
                count(m.cache_read_tokens),
                usd(m.cost_usd),
                usd(m.burn_usd_per_hour),
                pct(m.mean_context_utilization),
                ms(m.p95_ms),
                count(m.unpriced_calls),
            )
        out.print(t)
    _bottlenecks(out, r.bottlenecks)
    if r.anomalies:
        t = _table("Anomalies", "component", "metric", "from", "to", "dir", "score", "value", "baseline", "change")
        for a in r.anomalies[:15]:
            _row(
                t,
                a.component,
                a.metric,
                a.from_,
                a.to,
                a.direction,
                f"{a.score:.1f}",
                _num(a.value),
                _num(a.baseline_value),
                _change(a.relative_change),
            )
        out.print(t)
    if r.trends:
        t = _table("Trends (clear and large)", "component", "metric", "change", "slope/h", "95% CI", "p", "next hour")
        for x in r.trends[:15]:
            _row(
                t,
                x.component,
                x.metric,
                _change(x.relative_change) if x.metric != "error_rate" else f"{x.change * 100:+.2g} pt",
                f"{x.slope_per_hour:+.4g}",
                f"{x.ci_low:+.3g} .. {x.ci_high:+.3g}",
                f"{x.p_value:.2g}",
                f"{x.forecast_next_hour:.4g} {x.unit}",
            )
        out.print(t)
    if r.regressions:
        t = _table("Regressions against baselines", "component", "metric", "baseline", "current", "change", "p")
        for x in r.regressions:
            _row(t, x.component, x.metric, _num(x.baseline), _num(x.current), _change(x.change), _num(x.p_value, 2))
        out.print(t)
    _recommendations(out, r.recommendations[:10], r)
    if r.flows:
        t = _table("Flows (parent -> child)", "from", "to", "count", "P(to|from)", "bytes", "out/in")
        for f in r.flows[:12]:
            ratio = "–" if f.transformation_ratio is None else f"{f.transformation_ratio:.2f}"
            _row(t, f.from_, f.to, count(f.count), pct(f.probability), count(f.bytes), ratio)
        out.print(t)


def _num(v: float | None, digits: int = 4) -> str:
    """A measured value in its own unit, `digits` significant digits; "–" when unknown."""
    return "–" if v is None else f"{v:.{digits}g}"


def _change(v: float | None) -> str:
    return "–" if v is None else f"{v:+.0%}"


def _bottlenecks(out: Console, items: list[Bottleneck]) -> None:
    if not items:
        out.print("[bold]Bottlenecks[/bold]  none")
        return
    t = _table("Bottlenecks (worst first)", "component", "kind", "severity", "evidence")
    for b in items:
        _row(t, b.component, b.kind, _styled(b.severity, b.severity), b.evidence)
    out.print(t)


def _basis(r: Report | Detail) -> str:
    """What every per-hour and per-day figure was divided by, and how far to trust it."""
    b = r.window.basis
    return f"per hour and per day {b.note} (confidence {b.confidence:.2f})"


def _source(out: Console, b: Basis) -> None:
    """Where the numbers come from (`longwindow.Basis`): raw frames, or rollups and what they cannot hold."""
    if b.source != ROLLUPS:
        out.print(f"source  {b.source}")
        return
    tier = "hour" if b.tier_s == 3600 else "minute"
    out.print(
        f"source  rollups ({tier} tier, {count(b.rollup_files)} files) + {count(b.wal_frames)} frames not yet"
        f" rolled up; span trees, rate limits and regressions from the raw frames since {b.span_sample_from}"
        " (--raw reads every frame)"
    )
    for item in b.unavailable:
        out.print(f"        not available: {markup(item)}")
    if b.quarantined:
        out.print(
            f"        [red]damaged rollup files moved aside, not counted:[/red] {markup(', '.join(b.quarantined))}"
        )


def _recommendations(out: Console, recs: list[Recommendation], r: Report | Detail) -> None:
    if not recs:
        out.print("[bold]Recommendations[/bold]  none")
        return
    t = _table(
        f"Recommendations ($/day {r.window.basis.note})", "kind", "component", "$/day", "ms gain", "conf.", "title"
    )
    for x in recs:
        _row(
            t,
            x.kind,
            x.component,
            usd(x.est_savings_usd_per_day),
            ms(x.est_latency_gain_ms),
            f"{x.confidence:.2f}",
            x.title,
        )
    out.print(t)


def render_recommendations(r: Report, root: Path | str, basis: Basis) -> None:
    out = _console()
    w = r.window
    out.print(f"[bold]smythtop optimize[/bold]  {markup(root)}  window {w.from_} .. {w.to}")
    out.print(f"rates   {_basis(r)}")
    _source(out, basis)
    _recommendations(out, r.recommendations, r)
    for i, x in enumerate(r.recommendations, 1):
        out.print(f"\n[bold]{i}. {markup(x.title)}[/bold]\n   {markup(x.rationale)}")


def render_detail(d: Detail) -> None:
    out = _console()
    s = d.summary
    out.print(f"[bold]{markup(d.component)}[/bold]  window {d.window.from_} .. {d.window.to}")
    out.print(
        f"{count(s.executions)} executions ({rate(s.executions_per_min)}/min), errors {pct(s.error_rate)},"
        f" p50 {ms(s.p50_ms)}, p95 {ms(s.p95_ms)} (SLO {ms(s.slo_p95_ms)}, {pct(s.slo_attainment)}"
        f" within), p99 {ms(s.p99_ms)}, cost {usd(s.cost_usd)}, critical-path share"
        f" {pct(s.critical_path_share)}"
    )
    out.print(f"rates   {_basis(d)}")
    peak = max((b.count for b in d.histogram), default=0) or 1
    t = _table("Latency histogram", "<= ms", "count", "")
    for b in d.histogram:
        _row(t, ms(b.le_ms), count(b.count), "#" * round(30 * b.count / peak))
    out.print(t)
    t = _table("Phases", "phase", "mean", "share")
    for name in d.phases.__struct_fields__:
        _row(t, name.removesuffix("_ms"), ms(getattr(d.phases, name)), pct(getattr(d.phase_shares, name)))
    out.print(t)
    if d.errors:
        t = _table("Errors by type", "error_type", "count", "share")
        for e in d.errors:
            _row(t, e.error_type, count(e.count), pct(e.share))
        out.print(t)
    if d.models:
        t = _table("Models", "model", "calls", "cost", "cost/call", "p95", "p95 TTFT", "ctx use")
        for m in d.models:
            _row(
                t,
                m.model or "?",
                count(m.calls),
                usd(m.cost_usd),
                usd(m.cost_per_call),
                ms(m.p95_ms),
                ms(m.p95_ttft_ms),
                pct(m.mean_context_utilization),
            )
        out.print(t)
    if d.comparison:
        t = _table("Against the baseline", "metric", "baseline", "current", "change", "test", "p", "regressed")
        for x in d.comparison:
            _row(
                t,
                x.metric,
                _num(x.baseline),
                _num(x.current),
                _change(x.change),
                x.test,
                _num(x.p_value, 2),
                "yes" if x.regressed else "no",
            )
        out.print(t)
    else:
        out.print("no baseline saved (run `smythtop baseline --component NAME`)")
    _bottlenecks(out, d.bottlenecks)
    for title, flows in (("Called by", [(f.from_, f.count, f.probability) for f in d.callers]),
                         ("Calls", [(f.to, f.count, f.probability) for f in d.callees]),
                         ("Runs next", [(a.to, a.count, a.probability) for a in d.next])):  # fmt: skip
        if flows:
            t = _table(title, "component", "count", "probability")
            for name, n, p in flows[:10]:
                _row(t, name, count(n), pct(p))
            out.print(t)
    t = _table("Slowest executions", "ts", "total", "ok", "agent", "trace_id")
    for x in d.slowest_traces:
        _row(t, x.ts, ms(x.total_ms), "yes" if x.success else "no", x.agent_id or "–", x.trace_id or "–")
    out.print(t)
    _recommendations(out, d.recommendations, d)
