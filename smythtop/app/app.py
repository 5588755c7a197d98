"""The smythtop Textual app: owns the time window, the refresh loop and the screens.

One tick = one thread worker that polls the tail, picks the window's frames and runs the analysis,
then posts a `SnapshotReady`. The next tick is armed only when that message has been handled, so ticks
never overlap, and a paused app arms nothing at all. The UI thread only formats finished results.

While frames flow, ticks start `refresh_s` apart (back to back, never overlapping, when one takes longer).
When a tick finds nothing new the next
one waits IDLE_TICK_S, unless watchfiles (inotify) reports a change in the store first: an idle app
costs almost nothing, and the first frame after a quiet spell shows at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.keys import format_key
from textual.screen import Screen
from textual.timer import Timer

from smythtop import fmt
from smythtop.app import exporting, keys
from smythtop.app.config import REFRESH_STEPS, AppConfig
from smythtop.app.data import Loader, Snapshot, TickRequest
from smythtop.app.messages import (
    ClearMark,
    ExportDone,
    OpenComponent,
    OpenTrace,
    SnapshotReady,
    SpanTreeReady,
    StatusWanted,
    StoreChanged,
    TickFailed,
)
from smythtop.app.screens.component import ComponentScreen
from smythtop.app.screens.export import ExportModal
from smythtop.app.screens.help import HelpScreen
from smythtop.app.screens.main import MainScreen
from smythtop.app.screens.trace import TraceScreen
from smythtop.app.widgets.status import StatusLine, StatusState
from smythtop.app.window import TimeWindow, WindowError
from smythtop.errors import SmythtopError
from smythtop.safe_text import visible

IDLE_TICK_S = 5.0  # the pace of ticks while nothing new arrives (the window still ages)
WATCH_TIMEOUT_MS = 5000


class SmythtopApp(App):
    CSS_PATH = Path(__file__).with_name("smythtop.tcss")  # absolute: subclasses live elsewhere
    TITLE = "smythtop"
    BINDINGS = keys.bindings("app")
    HORIZONTAL_BREAKPOINTS: ClassVar = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar = [(0, "-short"), (30, "-tall")]

    def __init__(
        self,
        root: str | Path,
        *,
        config: AppConfig | None = None,
        clock: Callable[[], int] = time.time_ns,
        loader: Loader | None = None,
        window: TimeWindow | None = None,
        export_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.root = Path(root)
        self.config = config or AppConfig()
        self.clock = clock
        self.loader = loader or Loader(self.root, clock=clock, thresholds=self.config.thresholds)
        self.window = window or TimeWindow()
        self.refresh_s = self.config.refresh_s
        self.export_dir = export_dir or Path.cwd()
        self.snapshot: Snapshot | None = None
        self.error: str | None = None
        self.ticks = 0  # snapshots applied: tests wait on it
        self._timer: Timer | None = None
        self._timer_due = 0.0
        self._busy = False
        self._pending: TickRequest | None = None
        self._started_at = 0.0  # monotonic start of the last tick: refresh_s is the period between starts
        self._changed = False  # the store changed while a tick ran
        self._stop_watch = threading.Event()

    # ---- lifecycle ------------------------------------------------------------------------------

    def on_mount(self) -> None:
        if self.config.keymap:
            self.set_keymap(self.config.keymap)
        self.push_screen(MainScreen(self.root))
        self.request_tick()
        threading.Thread(target=self._watch_store, name="smythtop-watch", daemon=True).start()

    def on_unmount(self) -> None:
        self._stop_watch.set()
        if self._timer is not None:
            self._timer.stop()

    def _watch_store(self) -> None:
        """Post StoreChanged when the store's WAL or Parquet directories change (inotify via watchfiles)."""
        import watchfiles

        while not self._stop_watch.is_set():
            dirs = [p for p in (self.root / "wal", self.root / "parquet") if p.is_dir()]
            if not dirs:  # no store yet: look again later (the idle tick polls meanwhile)
                self._stop_watch.wait(IDLE_TICK_S)
                continue
            for changes in watchfiles.watch(
                *dirs,
                step=50,
                debounce=50,
                rust_timeout=WATCH_TIMEOUT_MS,
                yield_on_timeout=True,
                stop_event=self._stop_watch,
                recursive=True,
            ):
                if changes:
                    self.post_message(StoreChanged())
                elif len(dirs) < 2:
                    break  # a timeout: see whether the other directory exists by now

    # ---- the refresh loop -----------------------------------------------------------------------

    def _request(self, force: bool = False) -> TickRequest:
        top = self.screen
        component = top.component if isinstance(top, ComponentScreen) else None
        if component is None:
            component = next((s.component for s in self.screen_stack if isinstance(s, ComponentScreen)), None)
        return TickRequest(window=self.window, component=component, force=force)

    def request_tick(self, *, force: bool = False) -> None:
        """Start a tick now, or right after the running one: never two at once."""
        if self._stop_watch.is_set() or not self.screen_stack:
            return  # shutting down: a timer or a late message may still call in
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        request = self._request(force)
        if self._busy:
            self._pending = request
            return
        self._busy = True
        self._started_at = time.monotonic()
        if self.snapshot is None or request.window != self.snapshot.request.window:
            self._update_status(loading=True)  # the user is waiting for a new window; routine ticks say nothing
        self._tick(request)

    @work(thread=True, exclusive=True, group="tick", exit_on_error=False)
    def _tick(self, request: TickRequest) -> None:
        try:
            snapshot = self.loader.tick(request)
        except Exception as err:  # shown in the status line; the loop goes on
            self.post_message(TickFailed(f"{type(err).__name__}: {err}"))
            return
        self.post_message(SnapshotReady(snapshot))

    def _tick_done(self, snapshot: Snapshot | None) -> None:
        """Arm the next tick now that this one is done: `refresh_s` after this one started while frames
        flow (at once if the tick took longer than that), IDLE_TICK_S when it found nothing new."""
        self._busy = False
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.request_tick(force=pending.force)
        elif self.window.ticking:
            # soon again after the first paint (its tick skips store.check), or while frames flow
            flowing = snapshot is None or snapshot.health is None or snapshot.new_frames > 0 or self._changed
            self._arm(self._next_due() if flowing else IDLE_TICK_S)
        self._changed = False

    def _next_due(self) -> float:
        return max(0.0, self._started_at + self.refresh_s - time.monotonic())

    def _arm(self, delay: float) -> None:
        delay = max(delay, 0.01)  # a Textual timer cannot have a zero interval
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(delay, self.request_tick)
        self._timer_due = time.monotonic() + delay

    def on_store_changed(self, message: StoreChanged) -> None:
        """New data: bring an idle tick forward to `refresh_s` after the last one started."""
        if not self.window.ticking:
            return
        if self._busy:
            self._changed = True
            return
        delay = self._next_due()
        if self._timer is not None and self._timer_due > time.monotonic() + delay + 0.01:
            self._arm(delay)

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        snap = message.snapshot
        stale = snap.request.window != self.window
        if not stale:
            self.snapshot = snap
            self.error = None
            self.ticks += 1
            for screen in self.screen_stack:
                if isinstance(screen, (MainScreen, ComponentScreen)):
                    screen.show_snapshot(snap)
        self._update_status()
        self._tick_done(snap)

    def on_tick_failed(self, message: TickFailed) -> None:
        self.error = message.error
        self._update_status()
        self._tick_done(None)

    def status_state(self, *, loading: bool = False) -> StatusState:
        return StatusState(
            root=self.root,
            window=self.window,
            refresh_s=self.refresh_s,
            now=self.clock(),
            snapshot=self.snapshot,
            error=self.error,
            loading=loading,
        )

    def _update_status(self, *, loading: bool = False) -> None:
        state = self.status_state(loading=loading)
        for screen in self.screen_stack:
            for status in screen.query(StatusLine):
                status.show(state)

    def on_status_wanted(self, message: StatusWanted) -> None:
        self._update_status()

    # ---- window actions -------------------------------------------------------------------------

    def _set_window(self, change: Callable[[], TimeWindow]) -> None:
        try:
            self.window = change()
        except WindowError as err:
            self.notify(str(err), severity="warning", timeout=3)
            return
        self.request_tick()

    def action_pan(self, direction: int) -> None:
        self._set_window(lambda: self.window.pan(direction, self.clock()))

    def action_zoom(self, factor: float) -> None:
        self._set_window(lambda: self.window.zoom(factor, self.clock()))

    def action_preset(self, name: str) -> None:
        self._set_window(lambda: self.window.preset(name))

    def action_go_live(self) -> None:
        self._set_window(self.window.go_live)

    def action_mark(self) -> None:
        had_start = self.window.mark_start is not None
        self._set_window(lambda: self.window.mark(self.clock()))
        if not had_start and self.window.mark_start is not None:
            self.notify(
                f"start marked at {fmt.stamp(self.window.mark_start)}; move the window and press m again for the end",
                timeout=4,
            )

    def on_clear_mark(self, message: ClearMark) -> None:
        if self.window.mark_start is not None:
            self.window = self.window.clear_mark()
            self._update_status()

    def action_toggle_pause(self) -> None:
        if self.window.paused:
            self.window = self.window.resume()
            self.request_tick()
        else:
            self.window = self.window.pause(self.clock())
            if self._timer is not None:
                self._timer.stop()
                self._timer = None
            self._update_status()

    def action_refresh_now(self) -> None:
        self.request_tick(force=True)

    def action_change_rate(self, step: int) -> None:
        idx = min(range(len(REFRESH_STEPS)), key=lambda i: abs(REFRESH_STEPS[i] - self.refresh_s))
        self.refresh_s = REFRESH_STEPS[max(0, min(len(REFRESH_STEPS) - 1, idx + step))]
        self.notify(f"refresh every {self.refresh_s:g}s", timeout=2)
        if self._timer is not None:
            self._arm(self._next_due())
        self._update_status()

    # ---- screens --------------------------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.current_keys()))

    def current_keys(self) -> dict[str, str]:
        return {a.id: self._keymap.get(a.id, a.keys) for a in keys.CATALOGUE}

    def on_open_component(self, message: OpenComponent) -> None:
        self.push_screen(ComponentScreen(message.component, self.snapshot))
        self.request_tick(force=True)

    def on_open_trace(self, message: OpenTrace) -> None:
        self.push_screen(TraceScreen(message.trace_id))
        self._load_trace(message.trace_id)

    @work(thread=True, exclusive=True, group="trace", exit_on_error=False)
    def _load_trace(self, trace_id: str) -> None:
        try:
            spans = self.loader.span_tree(trace_id)
        except Exception as err:
            self.post_message(SpanTreeReady(trace_id, [], f"{type(err).__name__}: {err}"))
            return
        self.post_message(SpanTreeReady(trace_id, spans))

    def on_span_tree_ready(self, message: SpanTreeReady) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, TraceScreen) and screen.trace_id == message.trace_id:
                screen.show_spans(message.spans, message.error)

    # ---- export ---------------------------------------------------------------------------------

    def _export_target(self) -> tuple[str | None, str]:
        component = next((s.component for s in reversed(self.screen_stack) if isinstance(s, ComponentScreen)), None)
        bounds = self.window.resolve(self.clock())
        start = fmt.stamp(bounds.start) if bounds.start is not None else "the first frame"
        end = "now" if bounds.end is None else fmt.stamp(bounds.end)
        snap = self.snapshot
        counted = snap is not None and snap.request.window == self.window and not component
        what = f"frames of {component!r}" if component else "every frame"
        if counted:
            what += f" ({snap.window_frames:,} at the last refresh)"
        return component, f"Export {what} from {start} to {end} (UTC)."

    def action_export(self, kind: str = "parquet") -> None:
        if isinstance(self.screen, ExportModal):
            return
        component, what = self._export_target()
        fmt_ = exporting.FORMATS[kind]
        proposed = self.export_dir / exporting.proposed_name(self.window.resolve(self.clock()), component, fmt_.suffix)
        self.push_screen(ExportModal(proposed, what, fmt_.label), partial(self._export_chosen, kind, component))

    def _export_chosen(self, kind: str, component: str | None, path: Path | None) -> None:
        if path is not None:
            self._export(kind, component, self.window, path)

    @work(thread=True, group="export", exit_on_error=False)
    def _export(self, kind: str, component: str | None, window: TimeWindow, path: Path) -> None:
        try:
            rows = exporting.export(self.loader, kind, window.resolve(self.clock()), component, path)
        except SmythtopError as err:  # says what is wrong in one line, e.g. "cannot write PATH: Permission denied"
            self.post_message(ExportDone(path, 0, kind, str(err)))
            return
        except Exception as err:
            self.post_message(ExportDone(path, 0, kind, f"{type(err).__name__}: {err}"))
            return
        self.post_message(ExportDone(path, rows, kind))

    def on_export_done(self, message: ExportDone) -> None:
        if message.error:
            self.notify(visible(f"export failed: {message.error}"), severity="error", timeout=8, markup=False)
        else:
            label = exporting.FORMATS[message.kind].label
            done = visible(f"{message.rows:,} frames → {message.path}")
            self.notify(done, title=f"Exported {label}", timeout=8, markup=False)

    # ---- command palette ------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action of the key catalogue that applies here, plus the other export formats."""
        scope = {MainScreen: "main", ComponentScreen: "component", TraceScreen: "trace"}.get(type(screen))
        for action in keys.CATALOGUE:
            if action.palette and action.scope in ("app", scope):
                target: Any = self if action.scope == "app" else screen
                shown = ", ".join(format_key(k) for k in self._keymap.get(action.id, action.keys).split(","))
                yield SystemCommand(action.description, f"key {shown}", partial(target.run_action, action.action))
        for kind, spec in exporting.FORMATS.items():
            if kind != "parquet":
                yield SystemCommand(f"Export the window as {spec.label}", spec.help, partial(self.action_export, kind))
        yield SystemCommand("Check the store now", "run store.check and show damage", self._check_now)
        yield from super().get_system_commands(screen)

    @work(thread=True, group="check", exit_on_error=False)
    def _check_now(self) -> None:
        health = self.loader.check_now()
        self.call_from_thread(self.request_tick, force=True)
        if health is not None:
            self.notify(
                f"store: {health.frames:,} frames, {health.damaged_regions} damaged regions, "
                f"{health.quarantined_files} quarantined files",
                timeout=5,
            )
