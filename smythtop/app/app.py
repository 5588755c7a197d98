"""The smythtop Textual app: owns the time window, the refresh loop and the screens.

One tick = one thread worker that polls the tail, picks the window's frames and runs the analysis,
then posts a `SnapshotReady`. The next tick is armed only when that message has been handled, so ticks
never overlap, and a paused app arms nothing at all. The UI thread only formats finished results.

While frames flow, ticks start `refresh_s` apart (back to back, never overlapping, when one takes longer).
When a tick finds nothing new the next one waits IDLE_TICK_S, unless watchfiles (inotify) reports a change in the
store first (`smythtop.app.watch`: 50-100 ms after it while changes come, 250-500 ms after 5 s without one): an
idle app costs almost nothing, and the first frame after a quiet spell shows within half a second. The terminal
driver (`smythtop.app.driver`) reads keys without waking while none come.

The app also maintains its store (`smythtop.maintenance`: WAL segments to Parquet, small-file merges, and with
`[app] maintenance = "full"` retention), so a store that only agents write does not stay in the WAL for ever.
A pass runs in a daemon thread of its own, first once the first snapshot is shown (never delaying it), then when
a look every `[app] maintenance_every_s` (or a store change at least that long after the last look) finds work:
a sealed WAL segment, or a previous pass that changed the store (its new files may be merged once old enough).
So an idle store costs one directory listing a minute. Every pass takes the store's single-compactor lock, so a
second app or `smythtop serve` on the same store makes this one skip, never both compact. Not a Textual thread
worker: those run in asyncio's default executor, which the event loop joins on exit, so `q` would wait for a
long pass; a daemon thread is abandoned instead, which is safe because the store publishes atomically
(temp file, journal, rename) and the next compactor recovers a half-done pass.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.driver import Driver
from textual.keys import format_key
from textual.screen import Screen
from textual.timer import Timer

from smythtop import fmt
from smythtop.app import exporting, keys
from smythtop.app.config import REFRESH_STEPS, AppConfig
from smythtop.app.data import Loader, Snapshot, TickRequest
from smythtop.app.first import FirstTick
from smythtop.app.messages import (
    ClearMark,
    ExportDone,
    FindingsReady,
    MaintenanceDone,
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
from smythtop.maintenance import Maintenance
from smythtop.safe_text import visible
from smythtop.store.paths import PARQUET_DIR, WAL_DIR
from smythtop.store.wal import list_segments

IDLE_TICK_S = 5.0  # the pace of ticks while nothing new arrives (the window still ages)
RETENTION_EVERY_S = 3600.0  # with retention on, an idle store still gets a pass this often: its files age out


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
        first: FirstTick | None = None,
        findings_process: bool = True,
    ) -> None:
        """`first`: the first tick, already started on its loader (`smythtop.app.first`, the CLI's start-up).
        `findings_process=False` computes the findings in the loader's thread instead of a worker process
        (`smythtop.app.findings`): tests, which would otherwise each spawn one (~1 s of imports)."""
        super().__init__()
        self.root = Path(root)
        self.config = config or AppConfig()
        self.clock = clock
        self._first = first
        if first is not None:
            loader = first.loader
        self.loader = loader or Loader(
            self.root, clock=clock, thresholds=self.config.thresholds, findings_process=findings_process
        )
        self.loader.on_findings = self._findings_landed
        self.loader.painted.clear()  # the first findings wait for the first paint (data.PAINT_WAIT_S)
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
        self.maintenance = self._make_maintenance()  # None with [app] maintenance = "off"
        self.maintenance_error: str | None = None  # the last pass's failure, shown until a pass succeeds
        self.maintenance_passes = 0  # passes finished: tests wait on it
        self._maint_thread: threading.Thread | None = None
        self._maint_timer: Timer | None = None
        self._maint_looked = -float("inf")  # monotonic time of the last look for work
        self._maint_at = -float("inf")  # monotonic end of the last pass
        self._maint_more = False  # the last pass changed the store (or found it busy): look again

    # ---- lifecycle ------------------------------------------------------------------------------

    def get_driver_class(self) -> type[Driver]:
        """Textual's choice, except that its Linux driver is replaced by one whose input thread does not wake ten
        times a second while nothing is typed (`smythtop.app.driver`)."""
        chosen = super().get_driver_class()
        if sys.platform == "win32":
            return chosen
        from textual.drivers.linux_driver import LinuxDriver

        from smythtop.app.driver import QuietLinuxDriver

        return QuietLinuxDriver if chosen is LinuxDriver else chosen

    def on_mount(self) -> None:
        if self.config.keymap:
            self.set_keymap(self.config.keymap)
        self.push_screen(MainScreen(self.root))
        self.request_tick()
        threading.Thread(target=self._watch_store, name="smythtop-watch", daemon=True).start()

    def on_unmount(self) -> None:
        self._stop_watch.set()  # also stops a maintenance pass from starting; one under way is abandoned
        self.loader.painted.set()  # a findings thread still waiting for the first paint goes on (and ends)
        self.loader.close()  # stops the findings worker process
        if self._timer is not None:
            self._timer.stop()
        if self._maint_timer is not None:
            self._maint_timer.stop()

    def _watch_store(self) -> None:
        """Post StoreChanged when the store's WAL or Parquet directories change (inotify via watchfiles, at the pace
        of `smythtop.app.watch`: every 50 ms while changes come, every 250 ms once none came for 5 s)."""
        from smythtop.app import watch

        while not self._stop_watch.is_set():
            dirs = [p for p in (self.root / "wal", self.root / "parquet") if p.is_dir()]
            if not dirs:  # no store yet: look again later (the idle tick polls meanwhile)
                self._stop_watch.wait(IDLE_TICK_S)
                continue
            for changed in watch.changes(dirs, self._stop_watch):
                if changed:
                    self.post_message(StoreChanged())
                    if self.window.ticking:  # decode the new frames now, so the next tick only merges them
                        self.loader.prefetch()
                elif len(dirs) < 2:
                    break  # a quiet spell: see whether the other directory exists by now

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
        first, self._first = self._first, None
        try:
            snapshot = (first.take(request) if first is not None else None) or self.loader.tick(request)
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
        if self.maintenance is not None and time.monotonic() - self._maint_looked >= self.maintenance.every_s:
            self._maintain(force=False)  # the WAL grew after a quiet spell: look for sealed segments now
        if not self.window.ticking:
            return
        if self._busy:
            self._changed = True
            return
        delay = self._next_due()
        if self._timer is not None and self._timer_due > time.monotonic() + delay + 0.01:
            self._arm(delay)

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        if not self.is_running:  # shutting down: a tick (one a finished findings run woke) came back too late
            return
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
        if not self.loader.painted.is_set():
            self.call_after_refresh(self.loader.painted.set)
        self._tick_done(snap)
        if self.maintenance is not None and self._maint_timer is None:  # the first snapshot is on screen
            self._maint_timer = self.set_interval(self.maintenance.every_s, partial(self._maintain, force=False))
            self.maintain_now()

    def _findings_landed(self) -> None:
        """Called by the loader's findings thread: hand over to the UI thread (post_message is thread-safe)."""
        self.post_message(FindingsReady())

    def on_findings_ready(self, message: FindingsReady) -> None:
        """The loader finished findings in the background (a new window's first ones among them): a tick now
        shows them, even when no new frame would bring one before IDLE_TICK_S. One already running may have
        started before they landed, so a tick follows it; a pending one (`r`) is kept. A paused app ticks only
        while its panes still say "computing…" (paused before its findings landed), else it stays still."""
        pending = self.snapshot is not None and self.snapshot.findings_pending
        if not self.window.ticking and not pending:
            return
        if self._busy:
            self._pending = self._pending or self._request()
        else:
            self.request_tick()

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
            maintenance_error=self.maintenance_error,
        )

    def _update_status(self, *, loading: bool = False) -> None:
        state = self.status_state(loading=loading)
        for screen in self.screen_stack:
            for status in screen.query(StatusLine):
                status.show(state)

    def on_status_wanted(self, message: StatusWanted) -> None:
        self._update_status()

    # ---- store maintenance ----------------------------------------------------------------------

    def _make_maintenance(self) -> Maintenance | None:
        cfg = self.config
        if cfg.maintenance == "off":
            return None
        return Maintenance(
            self.root,
            every_s=cfg.maintenance_every_s,
            retention_days=cfg.retention_days,
            rollup_retention_days=cfg.rollup_retention_days,
        )

    def maintain_now(self) -> bool:
        """Run a maintenance pass now (at start-up, from the palette, or a test); False if one is under way."""
        return self._maintain(force=True)

    def _maintain(self, *, force: bool) -> bool:
        """Start the maintenance thread: a pass if `force`, else a look for work first. One at a time."""
        if self.maintenance is None or self._stop_watch.is_set():
            return False
        if self._maint_thread is not None and self._maint_thread.is_alive():
            return False
        self._maint_looked = time.monotonic()
        self._maint_thread = threading.Thread(
            target=self._maintenance_pass, args=(self.maintenance, force), name="smythtop-maintenance", daemon=True
        )
        self._maint_thread.start()
        return True

    def _maintenance_due(self) -> bool:
        """Work for a pass: a sealed WAL segment, a previous pass that changed the store, or retention's hour."""
        if self._maint_more or any(segment.sealed for segment in list_segments(self.root)):
            return True
        return self.config.retention_days is not None and time.monotonic() - self._maint_at >= RETENTION_EVERY_S

    def _maintenance_pass(self, maintenance: Maintenance, force: bool) -> None:
        """The maintenance thread's body: `Maintenance.run_once` (it never raises), reported to the UI. A directory
        nothing has written to yet is left alone: compaction would make it a store, and the app creates none."""
        if not any((self.root / name).is_dir() for name in (WAL_DIR, PARQUET_DIR)):
            return
        if not force and not self._maintenance_due():
            return
        stats = maintenance.stats
        before = (stats.segments_compacted, stats.files_merged, stats.files_removed, stats.frames_expired, stats.busy)
        maintenance.run_once()
        after = (stats.segments_compacted, stats.files_merged, stats.files_removed, stats.frames_expired, stats.busy)
        self.post_message(
            MaintenanceDone(changed=after[:4] != before[:4], busy=after[4] != before[4], error=maintenance.last_error)
        )

    def on_maintenance_done(self, message: MaintenanceDone) -> None:
        self.maintenance_passes += 1
        self._maint_at = time.monotonic()
        self._maint_more = message.changed or message.busy
        if message.error != self.maintenance_error:  # shown once, in the status line, until a pass succeeds
            self.maintenance_error = message.error
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
        if self.maintenance is not None:
            yield SystemCommand("Compact the store now", "one store maintenance pass now", self.maintain_now)
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
