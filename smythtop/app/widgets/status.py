"""The status line at the top of every screen: store, window, ingest, lost executions, grade, cost, store health,
mode, and the store maintenance's last failure."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import Static

from smythtop import fmt
from smythtop.analysis.results import Severity
from smythtop.app.data import Health, Snapshot
from smythtop.app.messages import StatusWanted
from smythtop.app.window import TimeWindow, span_label
from smythtop.safe_text import text, visible

if TYPE_CHECKING:
    from smythtop.analysis.longwindow import Basis

FINDINGS_LAG_S = 1.0  # findings older than this are labelled with their age


@dataclass(frozen=True)
class StatusState:
    """What the status line shows, gathered by the app from its own state and the last snapshot."""

    root: Path
    window: TimeWindow
    refresh_s: float
    now: int
    snapshot: Snapshot | None = None
    error: str | None = None
    loading: bool = False
    maintenance_error: str | None = None  # why the app's last store maintenance pass failed, until one succeeds


def short_path(path: Path) -> str:
    try:
        return "~/" + str(path.relative_to(Path.home()))
    except ValueError:
        return str(path)


def health_text(health: Health | None) -> Text:
    if health is None:
        return Text("store: checking", style="dim")
    bad = []
    if health.damaged_regions:
        bad.append(f"{health.damaged_regions} damaged")
    if health.quarantined_files:
        bad.append(f"{health.quarantined_files} quarantined")
    if health.unreadable_parquet:
        bad.append(f"{health.unreadable_parquet} unreadable")
    if not bad:
        return Text("0 dropped · 0 quarantined", style="dim")
    return Text("⚠ " + " · ".join(bad), style="bold red")


def basis_text(basis: Basis) -> Text:
    """Where a report from rollups comes from, and what they cannot hold (the `basis` of `smythtop report`)."""
    tier = "1 h" if basis.tier_s == 3600 else "1 min"  # the store's two tiers (store/rollups.py)
    return Text(f"from rollups ({tier} tier) · no self time", style="dim")


def window_text(window: TimeWindow, snapshot: Snapshot | None, now: int) -> Text:
    if window.paused:
        mode = Text("❚❚ PAUSED", style="bold black on yellow")
    elif window.live:
        mode = Text("● LIVE", style="bold green")
    else:
        mode = Text("◆ FIXED", style="bold cyan")
    bounds = window.resolve(now)
    start = fmt.clock(bounds.start) if bounds.start is not None else "first frame"
    end = "now" if bounds.end is None else fmt.clock(bounds.end)
    label = f" {span_label(window.span)} {start}→{end}"
    text = mode + Text(label)
    if window.mark_start is not None:
        text.append(f"  mark {fmt.clock(window.mark_start)}→?", style="bold magenta")
    return text


def status_text(state: StatusState) -> Text:
    sep = Text(" │ ", style="dim")
    parts: list[Text] = [Text("smythtop", style="bold"), text(short_path(state.root), style="dim")]
    parts.append(window_text(state.window, state.snapshot, state.now))
    snap = state.snapshot
    if snap is not None:
        summary = snap.report.summary
        parts.append(Text(f"{fmt.count(snap.window_frames)} frames"))
        if snap.basis is not None:  # a long window answered from rollups: coarser, and without span-tree fields
            parts.append(basis_text(snap.basis))
        if snap.future_frames:  # an agent clock ahead of this one: those frames are in no live window yet
            parts.append(Text(f"{fmt.count(snap.future_frames)} from the future", style="yellow"))
        parts.append(Text(f"{fmt.count(snap.ingest_per_s)}/s in"))
        lost = snap.report.unrecorded.executions
        if lost:  # executions the recorder could not record: counted in the executions, nothing else known of them
            parts.append(Text(f"{fmt.count(lost)} not recorded", style="bold yellow"))
        severity = Severity.of_grade(summary.grade)  # None for "-": no executions in the window
        parts.append(Text("grade ") + Text(summary.grade, style=severity.style if severity else ""))
        parts.append(Text(fmt.usd(summary.total_cost_usd), style="bold"))
        parts.append(health_text(snap.health))
        if snap.findings_age_s >= FINDINGS_LAG_S:  # bottlenecks & co. are refreshed every few seconds, not every tick
            parts.append(Text(f"findings {snap.findings_age_s:.0f}s ago", style="dim"))
    parts.append(Text(f"↻ {state.refresh_s:g}s", style="dim"))
    if state.loading:
        parts.append(Text("loading…", style="italic dim"))
    out = Text(no_wrap=False)
    for i, part in enumerate(parts):
        if i:
            out.append_text(sep)
        out.append_text(part)
    if state.error:
        out.append("\n")
        out.append(f"error: {visible(state.error)}", style="bold red")
    elif snap is not None and snap.warning:
        out.append("\n")
        out.append(f"⚠ {visible(snap.warning)}", style="yellow")
    if state.maintenance_error:
        out.append("\n")
        out.append(f"⚠ store maintenance: {visible(state.maintenance_error)}", style="yellow")
    return out


class StatusLine(Static):
    """Re-rendered by the app whenever a snapshot lands or the window changes."""

    _shown: tuple | None = None

    def on_mount(self) -> None:
        """A screen pushed between ticks shows the current state at once."""
        self.post_message(StatusWanted())

    def show(self, state: StatusState) -> None:
        """Update only when the text changed, so idle ticks cost no repaint; and without a layout pass when only
        characters of the same width changed (the window's start clock moves on every idle tick): the line then
        wraps to the same height, and the layout of the whole screen it would trigger was most of an idle app's
        UI time (~11 ms a tick, against a repaint of this line)."""
        text = status_text(state)
        key = (text.plain, tuple(text.spans))
        if key == self._shown:
            return
        same_shape = self._shown is not None and _shape(key[0]) == _shape(self._shown[0])
        self._shown = key
        self.update(text, layout=not same_shape)


def _shape(plain: str) -> str:
    """Where a text can wrap, and its cells: its whitespace kept, every other character replaced by its width."""
    return "".join(ch if ch.isspace() else str(cell_len(ch)) for ch in plain)
