"""The worker-side loader: every polars query the app runs happens here, off the UI thread.

It keeps a live in-memory frame of the recent past, `[mem_from, tail]`, fed by `store.Tailer`. A window
inside that range is a filter on memory; a live window that reaches further back reloads memory from its
start; a window in the past is scanned from Parquet once and cached until the window moves. Above
`MEM_ROWS` frames the loader keeps no copy and hands a lazy scan to the analysis instead.

A window of an hour or more (`analysis.window.LONG_WINDOW_NS`) that is in the past (or paused), or live
but too big for memory, is answered from the store's rollups plus the WAL (`smythtop.rolled`,
`longwindow.report_of`) when the rollups cover it, the same numbers as `smythtop report` for that window: its
cost follows the window's minutes x names, not its frames. The drill-down and span trees still read raw frames.

All methods take one lock, so a tick, an export and a span-tree request never interleave.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from smythtop import store
from smythtop.app.findings import FindingsFailed, FindingsWorker
from smythtop.app.window import Bounds, TimeWindow
from smythtop.baselines import load_baselines
from smythtop.engine import prefer_in_memory
from smythtop.errors import SmythtopError

if TYPE_CHECKING:
    from smythtop.analysis import results
    from smythtop.analysis.longwindow import Basis
    from smythtop.analysis.report import LivePart
    from smythtop.analysis.thresholds import Thresholds
    from smythtop.analysis.window import Window
    from smythtop.app.live import LiveBuckets

# above this many distinct (agent, component, model, provider) keys in memory a live window takes the frames path
# (`Loader._few_keys`): 25x the default `Thresholds.max_rows` rows a table shows
INCREMENTAL_MAX_KEYS = 5_000
MEM_ROWS = 3_000_000  # above this a window is analysed lazily from the store instead of kept in memory
RECHUNK_AFTER = 64  # tail batches appended before memory is rechunked into one block
CHECK_EVERY_S = 30.0  # `store.check` reads every WAL segment: not on every tick
INGEST_WINDOW_S = 10.0
# `prefetch` stops decoding ahead once this many frames wait for a tick (a tick slower than the arrivals, or none
# coming): the tail keeps the rest in the WAL, as before, instead of memory growing without bound
AHEAD_MAX_ROWS = 200_000
AGEING_SHARE = 0.1  # with no new frames, a live window re-analyses after ageing by a tenth of its span,
AGEING_MIN_S, AGEING_MAX_S = 30.0, 600.0  # but not more often than 30 s nor less than every 10 min
FINDINGS_EVERY_S = 5.0  # a live window's findings (the report's slow part) are refreshed in the background this often
# but a re-analysis with no new frame in the window (buckets ageing out of an idle live window, every 90 s for 15
# minutes) refreshes them only once they are this old: `build_slow` is ~1.2 s on 100K frames, which on every ageing
# re-analysis made most of an idle app's 1.7 % of a core; the live numbers still age on time.
FINDINGS_AGEING_S = 300.0
# The first findings wait (in their thread) until the app has painted its first snapshot, at most this long: they are
# mostly Python (pricing, span trees) and held the GIL while Textual rendered the first frame, which then took ~1 s
PAINT_WAIT_S = 5.0
# A live window answered from rollups is recomputed this often, its last report reused in between: its rollups
# change only when a compaction publishes (minutes apart), and over an hour or more the WAL's last seconds move
# its numbers by little, while a recompute re-reads the window's rollups, the WAL and the raw sample (0.5 s for a
# compacted day of 1M frames, measured under load, against 4.3 s for the lazy pass over its raw frames).
ROLLUPS_EVERY_S = 10.0


@dataclass(frozen=True)
class Health:
    """What `store.check` says, reduced to what the status line shows."""

    frames: int
    damaged_regions: int
    quarantined_files: int
    unreadable_parquet: int


@dataclass(frozen=True)
class Findings:
    """The report's slow part (`analysis.report.build_slow`), for one window key, and when its data was taken."""

    key: tuple
    slow: results.Findings
    taken_at: float  # time.monotonic() when the frames it analysed were current
    ms: float


@dataclass(frozen=True)
class MissingDetail:
    """The drill-down's component has no frames in the window (e.g. the window moved past its last execution)."""

    component: str
    reason: str


@dataclass(frozen=True)
class FromRollups:
    """The last report answered from rollups (`Loader._rollups_tick`), or None where they did not cover the
    window (which raw frames then answer), for one window key; `at` is time.monotonic() when it was computed."""

    key: tuple
    at: float
    result: tuple[results.Report, results.Detail | MissingDetail | None, Basis, Bounds] | None
    ms: float


@dataclass(frozen=True)
class Lost:
    """A window's lost executions (`analysis.unrecorded.unrecorded`) and what they were summed from, so that an idle
    tick reuses them instead of filtering and summing the account frames again (~9 ms, most of an idle tick)."""

    accounts: pl.DataFrame | None
    start: int | None
    upper: int | None
    newest: int | None  # the newest account's ts (ns); None when there is none
    lost: results.Unrecorded

    def holds(self, accounts: pl.DataFrame | None, start: int | None, upper: int | None) -> bool:
        """Whether the same sum answers [start, upper): the same accounts, and the same start and the same upper
        edge, or upper edges (a live window's now) both past the newest account, which then excludes none."""
        if accounts is not self.accounts:
            return False
        if self.newest is None:
            return True
        if start != self.start:
            return False
        if upper == self.upper:
            return True
        return upper is not None and self.upper is not None and self.newest < min(upper, self.upper)


@dataclass(frozen=True)
class TickRequest:
    window: TimeWindow
    component: str | None = None  # the drill-down screen on top, if any
    force: bool = False  # `r`: recompute even when no frame changed


@dataclass(frozen=True)
class Snapshot:
    """Everything the UI needs for one repaint: typed results and plain Python values only."""

    request: TickRequest
    bounds: Bounds
    report: results.Report
    detail: results.Detail | MissingDetail | None
    window_frames: int
    future_frames: int  # frames dated after now (clock skew), outside a live window: shown, not counted in it
    ingest_per_s: float
    health: Health | None
    worker_ms: float
    analysis_ms: float  # the part of worker_ms spent in analysis (0 when the last result was reused)
    # how far the findings' (bottlenecks, recommendations...) frames lag the live numbers' frames: 0 = the same data.
    # Measured between the two analyses, not against the wall clock, so an unchanged store never looks stale.
    findings_age_s: float
    findings_ms: float  # what computing those findings took (in this tick, or in the background)
    findings_inline: bool  # the findings were computed in this tick (counted in analysis_ms)
    findings_pending: bool  # the window's first findings are still being computed: the report's are empty
    new_frames: int  # frames the tail delivered in this tick
    poll_ms: float  # the part of worker_ms spent reading the tail (store.Tailer.poll) and appending to memory
    recomputed: bool
    source: str  # "memory", "scan", "lazy" or "rollups" (`basis` says which tier): where the window's numbers came from
    store_frames: int | None = None  # set when the window is empty: is the whole store empty?
    store_newest_ts: int | None = None
    warning: str | None = None  # e.g. a saved baseline that cannot be read
    basis: Basis | None = None  # set when source is "rollups": the tier read and what rollups cannot hold


def ns_to_datetime(ns: int | None) -> datetime | None:
    return None if ns is None else datetime.fromtimestamp(ns / 1e9, tz=UTC)


def _ts(ns: int) -> pl.Expr:
    return pl.lit(ns).cast(pl.Datetime("ns", "UTC"))


def _newest(frames: pl.DataFrame) -> int:
    """The newest `ts` of frames (ns), -1 when there is none."""
    newest = frames.get_column("ts").to_physical().max()
    return -1 if newest is None else int(newest)


def _window_filter(frame: pl.DataFrame | pl.LazyFrame, start: int | None, end: int | None):
    if start is not None:
        frame = frame.filter(pl.col("ts") >= _ts(start))
    if end is not None:
        frame = frame.filter(pl.col("ts") < _ts(end))
    return frame


def _no_findings(live: LivePart) -> results.Findings:
    """The slow part of a report whose findings are still being computed: no rows, the live part's burn rate."""
    from smythtop.analysis.results import Findings as SlowPart
    from smythtop.analysis.results import LlmBreakdown, Severity, SpanEstimation

    th, burn = live.thresholds, live.report.summary.burn_usd_per_hour
    llm = LlmBreakdown(
        by_provider=[],
        by_agent=[],
        by_component=[],
        burn_usd_per_hour=burn,
        cost_warning_per_hour=th.cost_warning_per_hour,
        cost_critical_per_hour=th.cost_critical_per_hour,
        status=Severity(th.cost_status(burn)),
    )
    empty = SpanEstimation(span_sample_scale=1.0, spans_analysed=0, critical_path_traces=0)
    return SlowPart([], llm, [], [], [], [], [], [], [], [], empty)


class Loader:
    """Owns the tail, the in-memory frame and the last results. Thread-safe; meant for worker threads."""

    # True: a live window in memory is analysed from per-bucket aggregates (`smythtop.app.live`), a tick costing
    # O(new frames) plus a few vectorised passes over the window (coverage, touched traces). False: the reference
    # path, the cube rebuilt from the window's frames every tick (`analysis.report.build_live`), which paused and
    # past windows and windows too big for memory always take; `make bench` measures both.
    INCREMENTAL = True

    def __init__(
        self,
        root: str | Path,
        *,
        clock: Callable[[], int] = time.time_ns,
        thresholds: Thresholds | None = None,
        mem_rows: int = MEM_ROWS,
        findings_process: bool = False,
    ) -> None:
        """`findings_process`: compute the background findings in a worker process (`smythtop.app.findings`, what
        the app does) rather than in the loader's findings thread (the scripts' and most tests' default: no spawn)."""
        prefer_in_memory()  # hundreds of small plans a tick: see smythtop.engine
        self.root = Path(root)
        self.clock = clock
        self.thresholds = thresholds
        self.mem_rows = mem_rows
        self._lock = threading.Lock()
        self._tailer: Any = None
        # guards `_tailer` and `_ahead`: the app's store watcher decodes new WAL bytes ahead of the tick (`prefetch`)
        self._tail_lock = threading.Lock()
        self._ahead: list[pl.DataFrame] = []  # frames `prefetch` decoded since the last tick took them
        self._mem: pl.DataFrame | None = None
        self._mem_from: int | None = None  # meaningful only while _mem is set; None = whole store
        self._mem_newest = -1  # the newest ts in memory (ns), kept as frames arrive; -1 when none
        self._chunks = 0
        self._reload_span: int | None = None
        self._hist: tuple[tuple[int | None, int | None], pl.DataFrame | None] | None = None
        self._last: Snapshot | None = None
        self._last_key: tuple | None = None
        self._live: results.LiveReport | None = None  # the live part of the last report
        self._live_at = 0.0  # time.monotonic() when the live part's frames were taken
        self._findings: Findings | None = None  # the slow part of the last report
        self._background: threading.Thread | None = None  # the findings thread (the worker's client, if any)
        self._worker = FindingsWorker() if findings_process else None
        self._wanted: tuple[LivePart, tuple, float] | None = None  # findings asked for, waiting for the thread
        # set once the first snapshot is on screen (the app clears it until then: see PAINT_WAIT_S); set by default
        self.painted = threading.Event()
        self.painted.set()
        self._asked: tuple[tuple, float] | None = None  # the window key and taken_at of the last findings asked for
        self._done: Findings | None = None  # handed over by the background thread
        # called (from the background thread) when findings finished or failed there: the app ticks at once to show
        # them, instead of waiting for new frames or the idle tick
        self.on_findings: Callable[[], None] | None = None
        self._done_lock = threading.Lock()
        self._failed: str | None = None  # why the last background refresh failed
        self._computed: tuple[float, int, int | None] = (0.0, -1, None)  # time, frames, aligned start analysed
        self._buckets: LiveBuckets | None = None  # a live window's per-bucket aggregates (smythtop.app.live)
        self._buckets_gen = -1  # the memory generation they were built from
        self._wide: tuple[int, bool] | None = None  # (memory generation, too many keys for the live buckets)
        self._mem_gen = 0  # bumped whenever memory is reloaded from the store
        self._health: Health | None = None
        self._store_size: tuple[int, int | None] | None = None
        self._baselines: dict[str, Any] | None = None
        self._warning: str | None = None
        self._checked_at = -CHECK_EVERY_S
        self._checker: threading.Thread | None = None  # the background store.check, while it runs
        self._ingest: deque[tuple[float, int]] = deque()
        self._started = time.monotonic()
        # executions the recorder lost (account frames): those of memory's range, read at each reload and then
        # taken from the tail; and those of the last window in the past, read from the store once
        self._accounts: pl.DataFrame | None = None
        self._past_accounts: tuple[tuple[int | None, int | None], pl.DataFrame] | None = None
        self._lost: Lost | None = None  # the last window's sum of them
        self._rolled: FromRollups | None = None
        self.scans = 0  # Parquet (re)scans so far: tests and the benchmark read it

    # ---- the tick -------------------------------------------------------------------------------

    def tick(self, request: TickRequest) -> Snapshot:
        from smythtop.analysis.pricing import read_time_priced
        from smythtop.analysis.report import compose, live_from_cube
        from smythtop.analysis.window import scope

        with self._lock:
            t0 = time.perf_counter()
            resolved = bounds = request.window.resolve(self.clock())
            win = self._aligned(request.window, bounds)
            if win is not None:  # whole wall-clock-aligned buckets plus the current one (analysis.window.aligned)
                bounds = replace(bounds, start=win.start_ns)
            if self._baselines is None or request.force:
                self._load_baselines()
            t_poll = time.perf_counter()
            new = self._poll()
            self._take_accounts()
            poll_ms = (time.perf_counter() - t_poll) * 1000
            rolled = self._rollups_tick(request, resolved, bounds, win, new, poll_ms, t0)
            if rolled is not None:  # a long window the rollups cover: no pass over its raw frames
                self._last, self._last_key = rolled, ("rollups", request)
                return rolled
            frames, source = self._frames(bounds, request.window.span if win is not None else None)
            incremental = self.INCREMENTAL and win is not None and bounds.end is None and source == "memory"
            incremental = incremental and self._few_keys()
            if incremental:
                new_in_window = self._feed(new, win)
                count = self._buckets.rows(win.start_ns, win.end_ns)
            else:
                self._buckets = None
                new_in_window = self._count_new(new, bounds)
                count = self._count(frames)
            future = self._future(bounds)
            key = (bounds.start if bounds.end is not None else ("live", request.window.span), bounds.end)
            key = (*key, request.component, source)
            t_analysis = time.perf_counter()
            fresh = self._take_background(key)
            self._start_background()  # findings asked for while another window's were being computed
            inline = False
            if self._reuse(key, count, new_in_window, request.force, request.window.span, win):
                report, detail, recomputed = self._last.report, self._last.detail, False
                if fresh and self._live is not None and self._findings is not None:
                    report = compose(self._live, self._findings.slow)  # findings finished in the background
            else:
                if incremental:  # the window's cube from its buckets' aggregates: no pass over its frames
                    data = frames
                    assert self._buckets is not None and win is not None
                    th = self._buckets.thresholds
                    scoped = read_time_priced(scope(frames, win.start_ns, None), th.prices)  # as build_live's
                    live = live_from_cube(self._buckets.cube(win), scoped, th)
                else:
                    data = frames.collect() if source == "memory" else frames  # filter memory once per analysis
                    live = self._live_part(data, bounds, win)
                live_at = time.monotonic()
                ageing = not new_in_window and not request.force
                self._findings, inline = self._refresh_findings(live, key, request.force, live_at, ageing=ageing)
                self._live, self._live_at = live.report, live_at
                report = compose(live.report, self._findings.slow if self._findings else _no_findings(live))
                detail = self._detail(data, request.component, bounds, win) if request.component else None
                recomputed = True
                self._computed = (live_at, count, None if win is None else win.start_ns)
            analysis_ms = (time.perf_counter() - t_analysis) * 1000 if recomputed else 0.0
            findings = self._findings
            health = self._maybe_check(first=self._last is None)
            if count == 0 and (new is not None or self._store_size is None):
                total = store.scan(self.root).select(pl.len(), pl.col("ts").max().dt.epoch("ns")).collect()
                self._store_size = (int(total.item(0, 0)), total.item(0, 1))
            store_frames, newest = self._store_size if count == 0 and self._store_size else (None, None)
            report = self._with_unrecorded(report, bounds, source)
            snap = Snapshot(
                request=request,
                bounds=bounds,
                report=report,
                detail=detail,
                window_frames=count,
                future_frames=future,
                ingest_per_s=self._ingest_rate(),
                health=health,
                worker_ms=(time.perf_counter() - t0) * 1000,
                analysis_ms=analysis_ms,
                findings_age_s=0.0 if findings is None else max(0.0, self._live_at - findings.taken_at),
                findings_ms=0.0 if findings is None else findings.ms,
                findings_inline=inline,
                findings_pending=findings is None,
                new_frames=0 if new is None else new.height,
                poll_ms=poll_ms,
                recomputed=recomputed,
                source=source,
                store_frames=store_frames,
                store_newest_ts=newest,
                warning=self._warning or self._failed,
            )
            self._last, self._last_key = snap, key
            return snap

    def _reuse(
        self, key: tuple, count: int, new_in_window: int, force: bool, span: int | None, win: Window | None
    ) -> bool:
        """Skip the analysis when nothing it sees has changed.

        With no new frames the only change in a live window is old frames ageing out of it. Its start is
        aligned to a bucket edge, so frames leave only when a whole bucket does (every 15 s for 15 minutes);
        that is applied once the window has moved by a tenth of its span (90 s for 15 minutes) instead of
        every time, which keeps an idle app under 1% of a core.
        """
        if self._last is None or key != self._last_key or new_in_window or force:
            return False
        computed_at, computed_count, computed_start = self._computed
        if win is not None and win.start_ns == computed_start:
            return True  # no bucket left the window: nothing it shows has changed
        ageing_s = min(AGEING_MAX_S, max(AGEING_MIN_S, AGEING_SHARE * (span or 0) / 1e9))
        return count == computed_count or time.monotonic() - computed_at < ageing_s

    def _aligned(self, window: TimeWindow, bounds: Bounds) -> Window | None:
        """The aligned analysis window of a live window of a span (paused or not); None for other windows."""
        from smythtop.analysis.window import aligned

        if not window.live or window.span is None:
            return None
        return aligned(window.span, bounds.now)

    def _few_keys(self) -> bool:
        """Whether the window in memory has few enough (agent, component, model, provider) keys for the live
        buckets: they aggregate per key and bucket before any folding, so their cost grows with distinct names,
        while the frames path folds names beyond `Thresholds.max_rows` first (1M names: the buckets' first tick
        ran past 300 s, the frames path's took ~7 s). Decided once per memory load, and again when the buckets
        grow past the limit or a batch re-annotated a large share of the window (`live.TOUCHED_SHARE`)."""
        from smythtop.analysis.cube import dim_key

        if self._buckets is not None and (self._buckets.keys > INCREMENTAL_MAX_KEYS or self._buckets.overgrown):
            self._buckets, self._wide = None, (self._mem_gen, True)
            self._last_key = None  # the next analysis is the frames path's, even with nothing new
        if self._wide is None or self._wide[0] != self._mem_gen:
            assert self._mem is not None
            keys = self._mem.select(dim_key(pl.col("component")).n_unique()).item()
            self._wide = (self._mem_gen, keys > INCREMENTAL_MAX_KEYS)
        return not self._wide[1]

    def _feed(self, new: pl.DataFrame | None, win: Window) -> int:
        """Bring the live buckets up to date: built from memory when they are missing or memory was reloaded,
        else the tail's new frames merged in. Returns the frames that entered the window (0: nothing new).
        Only a window held in memory comes here: the buckets keep its frames too (`smythtop.app.live`)."""
        from smythtop.analysis.thresholds import Thresholds
        from smythtop.app.live import LiveBuckets

        if self._buckets is None or self._buckets.bucket_ns != win.bucket_ns or self._buckets_gen != self._mem_gen:
            thresholds = self.thresholds or Thresholds()
            self._buckets, self._buckets_gen = LiveBuckets(win.bucket_ns, thresholds), self._mem_gen
            return self._buckets.add(self._mem, win.start_ns, win.end_ns) or 1  # a new window is always analysed
        self._buckets.drop_before(win.start_ns)
        return self._buckets.add(new, win.start_ns, win.end_ns)

    def _live_part(self, frames: pl.DataFrame | pl.LazyFrame, bounds: Bounds, win: Window | None) -> LivePart:
        from smythtop.analysis.report import build_live

        return build_live(
            frames,
            window_from=ns_to_datetime(bounds.start),
            window_to=ns_to_datetime(bounds.shown_end),
            thresholds=self.thresholds,
            bucket_ns=None if win is None else win.bucket_ns,
        )

    def _slow_part(self, live: LivePart, key: tuple, taken_at: float, *, background: bool = False) -> Findings:
        """The findings of `live`; in the worker process when there is one and they are computed in the background
        (the findings thread then only reads the raw frames they need and waits, off the GIL), else here."""
        from smythtop.analysis.report import build_slow, slow_inputs

        t0 = time.perf_counter()
        baselines = self._baselines or None
        if background and self._worker is not None:
            slow = self._worker.findings(slow_inputs(live, baselines=baselines))
        else:
            slow = build_slow(live, baselines=baselines)
        return Findings(key, slow, taken_at, (time.perf_counter() - t0) * 1000)

    def close(self) -> None:
        """Stop the findings worker process, if any (the app calls this on exit); a refresh under way fails."""
        if self._worker is not None:
            self._worker.close()

    def _refresh_findings(
        self, live: LivePart, key: tuple, force: bool, now: float, *, ageing: bool
    ) -> tuple[Findings | None, bool]:
        """Findings for this tick: inline on `r` (True: the user waits for exactly these, so they do not queue
        behind a background refresh), else the last ones of this window (None before its first), computed in the
        background (the findings thread, and the worker process when there is one: `smythtop.app.findings`): a new
        window's at once, so the live part paints without waiting for them (1.4 s of a 10M-frame store's first
        paint), then again once they are FINDINGS_EVERY_S old (FINDINGS_AGEING_S on a re-analysis with no new frame:
        `ageing`). They are the costly part of the report (span trees, detectors, pricing), while the live part is
        what moves from one tick to the next. `now` is when the live part's frames were taken, so findings computed
        with it are exactly as current as the live part. A failed computation is asked for again only after the same
        period, not on every tick. An empty window has none to compute: no thread, and no tick to show them."""
        if live.report.summary.rows == 0:
            return Findings(key, _no_findings(live), now, 0.0), False
        if force:
            self._wanted, self._failed = None, None
            self._asked = (key, now)
            return self._slow_part(live, key, now), True
        last = self._findings if self._findings is not None and self._findings.key == key else None
        since = [last.taken_at] if last is not None else []
        if self._asked is not None and self._asked[0] == key:
            since.append(self._asked[1])
        running = self._background is not None and self._background.is_alive()
        period = FINDINGS_AGEING_S if ageing and last is not None else FINDINGS_EVERY_S
        if not since or (not running and self._wanted is None and now - max(since) >= period):
            self._wanted, self._asked = (live, key, now), (key, now)
            self._start_background()
        return last, False

    def _start_background(self) -> None:
        """Start the findings last asked for, unless the thread is still busy with earlier ones."""
        if self._wanted is None or (self._background is not None and self._background.is_alive()):
            return
        live, key, taken_at = self._wanted
        self._wanted = None
        self._background = threading.Thread(
            target=self._in_background, args=(live, key, taken_at), name="smythtop-findings", daemon=True
        )
        self._background.start()

    def _in_background(self, live: LivePart, key: tuple, taken_at: float) -> None:
        self.painted.wait(PAINT_WAIT_S)
        try:
            done = self._slow_part(live, key, taken_at, background=True)
        except Exception as err:  # the last findings stay shown, with the error; the next refresh tries again
            why = str(err) if isinstance(err, FindingsFailed) else f"{type(err).__name__}: {err}"  # as raised there
            with self._done_lock:
                self._failed = f"findings not refreshed: {why}"
        else:
            with self._done_lock:
                self._done, self._failed = done, None
        if self.on_findings is not None:
            self.on_findings()

    def _take_background(self, key: tuple) -> bool:
        """Adopt findings the background thread finished, if they are for this window and newer."""
        with self._done_lock:
            done, self._done = self._done, None
        last = self._findings
        if done is None or done.key != key or (last is not None and last.key == key and done.taken_at <= last.taken_at):
            return False
        self._findings = done
        return True

    def _detail(
        self, frames: pl.DataFrame | pl.LazyFrame, component: str, bounds: Bounds, win: Window | None
    ) -> results.Detail | MissingDetail:
        from smythtop.analysis.detail import UnknownComponent, component_detail

        try:
            return component_detail(
                frames,
                component,
                window_from=ns_to_datetime(bounds.start),
                window_to=ns_to_datetime(bounds.shown_end),
                thresholds=self.thresholds,
                baseline=(self._baselines or {}).get(component),
                bucket_ns=None if win is None else win.bucket_ns,
            )
        except UnknownComponent as err:  # e.g. the window moved past its last execution
            return MissingDetail(component, str(err))

    def _load_baselines(self) -> None:
        """Baselines saved by `smythtop baseline`; a damaged one is reported, not fatal to the dashboard."""
        try:
            self._baselines, self._warning = load_baselines(self.root), None
        except SmythtopError as err:
            self._baselines, self._warning = {}, str(err)

    # ---- long windows from rollups ----------------------------------------------------------------

    def _rollups_tick(
        self,
        request: TickRequest,
        resolved: Bounds,
        bounds: Bounds,
        win: Window | None,
        new: pl.DataFrame | None,
        poll_ms: float,
        t0: float,
    ) -> Snapshot | None:
        """The tick of a window of an hour or more answered from rollups: in the past (or paused), or live and too
        big for memory; None for every other window and where the rollups do not cover it (raw frames answer).

        The window is `resolved`, the user's own [start, end), as `report --since/--from` reads it (the rollups
        extend it to whole minutes, `longwindow.window_for`), not the live path's bucket-aligned start. A live
        one is recomputed every ROLLUPS_EVERY_S, a past one once (and on `r`)."""
        from smythtop.analysis.window import LONG_WINDOW_NS

        span = request.window.span
        if span is None or span < LONG_WINDOW_NS:
            return None
        live = resolved.end is None
        if live and self._frames(bounds, span if win is not None else None)[1] != "lazy":
            return None  # held in memory: the incremental live path is cheaper still
        key = (("live", span) if live else (resolved.start, resolved.end), request.component)
        last = self._rolled
        if last is None or last.key != key or request.force or (live and time.monotonic() - last.at >= ROLLUPS_EVERY_S):
            t = time.perf_counter()
            result = self._rollups_report(request, resolved, bounds, win)
            last = self._rolled = FromRollups(key, time.monotonic(), result, (time.perf_counter() - t) * 1000)
            recomputed = True
        else:
            recomputed = False
        if last.result is None:
            return None
        report, detail, basis, shown = last.result
        self._buckets = None  # the live path's buckets missed the frames polled meanwhile: rebuilt on return
        return Snapshot(
            request=request,
            bounds=shown,
            report=report,
            detail=detail,
            window_frames=report.summary.rows or 0,
            future_frames=self._future(resolved),
            ingest_per_s=self._ingest_rate(),
            health=self._maybe_check(first=self._last is None),
            worker_ms=(time.perf_counter() - t0) * 1000,
            analysis_ms=last.ms if recomputed else 0.0,
            findings_age_s=0.0,
            findings_ms=last.ms,
            findings_inline=recomputed,
            findings_pending=False,
            new_frames=0 if new is None else new.height,
            poll_ms=poll_ms,
            recomputed=recomputed,
            source="rollups",
            warning=self._warning,
            basis=basis,
        )

    def _rollups_report(
        self, request: TickRequest, resolved: Bounds, bounds: Bounds, win: Window | None
    ) -> tuple[results.Report, results.Detail | MissingDetail | None, Basis, Bounds] | None:
        """The report of `resolved` from rollups (`smythtop.rolled.load`, `longwindow.report_of`) with its lost
        executions counted, the drill-down from raw frames as on the other paths, the basis, and the bounds the
        numbers cover; None when the rollups do not cover the window or it holds no frame."""
        from smythtop import rolled
        from smythtop.analysis.longwindow import report_of
        from smythtop.analysis.thresholds import Thresholds

        assert resolved.start is not None
        th = self.thresholds or Thresholds()
        data = rolled.load(self.root, resolved.start, resolved.shown_end, th)
        if data is None or data.empty:
            return None
        w = data.window
        report = report_of(data.sums, data.sketch, data.wal, data.sample, w, th, baselines=self._baselines or None)
        shown = Bounds(w.start_ns, None if resolved.end is None else w.end_ns, resolved.now)
        report = self._with_unrecorded(report, Bounds(w.start_ns, w.end_ns, resolved.now), "rollups")
        detail = None
        if request.component:
            frames = self._frames(bounds, request.window.span if win is not None else None)[0]
            detail = self._detail(frames, request.component, bounds, win)
        return report, detail, data.basis, shown

    # ---- executions the recorder lost -------------------------------------------------------------

    def _take_accounts(self) -> None:
        """Add the account frames the tail delivered since the last tick to those of memory's range."""
        with self._tail_lock:
            taken = None if self._tailer is None else self._tailer.take_accounts()
        if taken is not None:
            self._accounts = taken if self._accounts is None else pl.concat([self._accounts, taken])

    def _with_unrecorded(self, report: results.Report, bounds: Bounds, source: str) -> results.Report:
        """The report with the window's lost executions counted (`analysis.unrecorded.correct`): from the tail's
        accounts when the window's frames came from memory or the live store, else read from the store once.

        Accounts in the WAL when memory is reloaded are read just before the new tailer starts, so one written in
        between is missed until the next reload rather than counted twice (the tailer only delivers later ones).
        Their sum is kept (`Lost`) until the accounts or the window change."""
        from smythtop.analysis.unrecorded import correct, unrecorded

        if source == "memory" or (source == "lazy" and bounds.end is None):
            accounts = self._accounts
        else:
            key = (bounds.start, bounds.end)
            if self._past_accounts is None or self._past_accounts[0] != key:
                self._past_accounts = (key, store.unrecorded(self.root, bounds.start, bounds.end).collect())
            accounts = self._past_accounts[1]
        lost = self._lost
        if lost is None or not lost.holds(accounts, bounds.start, bounds.upper):
            newest = None if accounts is None or accounts.height == 0 else accounts.get_column("ts").to_physical().max()
            window = None if accounts is None else _window_filter(accounts, bounds.start, bounds.upper)
            lost = self._lost = Lost(accounts, bounds.start, bounds.upper, newest, unrecorded(window))
        return correct(report, lost.lost)

    # ---- where a window's frames come from -------------------------------------------------------

    def prefetch(self) -> None:
        """Decode what the tail holds now, ahead of the next tick: the app's store watcher calls this (in its own
        thread) on each change it sees, so a tick takes frames already decoded and polls only the bytes written
        since (at 10K frames/s, decoding a tick's 5K frames was ~30 ms of each tick and of each frame's way to the
        screen). Never raises: a failure here is left for the tick's own poll to meet and report."""
        with self._tail_lock:
            if self._tailer is None or sum(f.height for f in self._ahead) >= AHEAD_MAX_ROWS:
                return
            try:
                new = self._tailer.poll()
            except Exception:  # the tick polls the same tail next and reports the error
                return
            if new is not None and new.height:
                self._ahead.append(new)

    def _poll(self) -> pl.DataFrame | None:
        """Append what the tail delivered since the last tick (`prefetch`ed or polled now) to memory; None when
        nothing came."""
        with self._tail_lock:
            if self._tailer is None:
                return None
            latest = self._tailer.poll()
            got = [*self._ahead, *([latest] if latest is not None and latest.height else [])]
            self._ahead = []
        if not got:
            self._note_ingest(0)
            return None
        new = got[0] if len(got) == 1 else pl.concat(got, how="vertical", rechunk=False)
        self._note_ingest(new.height)
        if self._mem is not None:
            new_kept = new if self._mem_from is None else new.filter(pl.col("ts") >= _ts(self._mem_from))
            self._mem = pl.concat([self._mem, new_kept], how="vertical", rechunk=False)
            self._mem_newest = max(self._mem_newest, _newest(new_kept))
            self._chunks += 1
            if self._chunks >= RECHUNK_AFTER:
                self._mem = self._mem.rechunk()
                self._chunks = 0
            if self._mem.height > self.mem_rows:
                self._mem = None  # too big to keep: later ticks analyse lazily
        return new

    def _reload(self, start: int | None) -> None:
        """(Re)build memory from `start` to the tail; memory stays None when it would be too big.

        The snapshot and the tailer come from one `Tailer.with_history` call, so each frame is in
        exactly one of them.
        """
        self._accounts = store.unrecorded(self.root, since=start).collect()  # before the tailer: never counted twice
        with self._tail_lock:  # frames decoded ahead by the old tailer are in the new history: drop them
            lazy, self._tailer = store.Tailer.with_history(self.root, since=start)
            self._ahead = []
        self.scans += 1
        rows = lazy.select(pl.len()).collect().item()
        self._mem = lazy.collect() if rows <= self.mem_rows else None
        self._mem_newest = -1 if self._mem is None else _newest(self._mem)
        self._mem_gen += 1
        self._mem_from = start
        self._chunks = 0

    def _covers(self, start: int | None) -> bool:
        return self._tailer is not None and (self._mem_from is None or (start is not None and start >= self._mem_from))

    def _frames(self, bounds: Bounds, span: int | None = None) -> tuple[pl.DataFrame | pl.LazyFrame, str]:
        """The window's frames and where they come from; `span` is a live window's own span (its aligned start
        moves back and forth within a bucket, which must not count as a change)."""
        start, end = bounds.start, bounds.end
        if span is None:
            span = None if start is None else bounds.shown_end - start
        too_big_before = self._mem is None and span != self._reload_span
        if self._tailer is None or (end is None and (not self._covers(start) or too_big_before)):
            # first tick, or a live window reaching before memory (or changed after memory was too big)
            self._reload(start)
            self._reload_span = span
        if self._covers(start):
            if self._mem is not None:
                self._trim(start, bounds)
                # lazy, so a tick with nothing new only counts rows (reads `ts`) instead of copying the window
                return _window_filter(self._mem.lazy(), start, bounds.upper), "memory"
            if end is None:
                return store.scan(self.root, since=start, until=bounds.upper), "lazy"
        # a window in the past: scan it once, keep it while the window stays put
        if self._hist is None or self._hist[0] != (start, end):
            lazy = store.scan(self.root, since=start, until=end)
            self.scans += 1
            rows = lazy.select(pl.len()).collect().item()
            self._hist = ((start, end), lazy.collect() if rows <= self.mem_rows else None)
        frame = self._hist[1]
        if frame is None:
            return store.scan(self.root, since=start, until=end), "lazy"
        return frame, "scan"

    def _trim(self, start: int | None, bounds: Bounds) -> None:
        """Drop memory older than the live window once it holds more than twice what the window needs."""
        if self._mem is None or start is None or self._mem_from is None or bounds.end is not None:
            return
        span = bounds.now - start
        if start - self._mem_from > span:
            self._mem = self._mem.filter(pl.col("ts") >= _ts(start))
            self._mem_from = start
            self._chunks = 0

    def _count(self, frames: pl.DataFrame | pl.LazyFrame) -> int:
        if isinstance(frames, pl.DataFrame):
            return frames.height
        return int(frames.select(pl.len()).collect().item())

    def _count_new(self, new: pl.DataFrame | None, bounds: Bounds) -> int:
        if new is None:
            return 0
        return _window_filter(new, bounds.start, bounds.upper).height

    def _future(self, bounds: Bounds) -> int:
        """Frames dated at or after now (an agent clock ahead): outside every live window, so counted apart."""
        if bounds.end is not None:
            return 0
        if self._mem is not None and self._covers(bounds.now):
            if self._mem_newest < bounds.now:
                return 0  # the usual case, answered without a pass over memory (~1-2 ms of every tick at 500K frames)
            return self._mem.select((pl.col("ts") >= _ts(bounds.now)).sum()).item()
        return int(store.scan(self.root, since=bounds.now).select(pl.len()).collect().item())

    # ---- status ---------------------------------------------------------------------------------

    def _note_ingest(self, n: int) -> None:
        now = time.monotonic()
        self._ingest.append((now, n))
        while self._ingest and now - self._ingest[0][0] > INGEST_WINDOW_S:
            self._ingest.popleft()

    def _ingest_rate(self) -> float:
        if not self._ingest:
            return 0.0
        span = min(INGEST_WINDOW_S, max(time.monotonic() - self._started, 1e-3))
        return sum(n for _, n in self._ingest) / span

    def _maybe_check(self, *, first: bool) -> Health | None:
        """`store.check` every CHECK_EVERY_S in a background thread, never on the first tick (first paint comes
        first); a tick shows the last result. The check reads every page of every Parquet file (seconds on a
        10M-frame store), which must not hold a tick, and so the flush-to-screen latency, back."""
        now = time.monotonic()
        running = self._checker is not None and self._checker.is_alive()
        if not first and not running and now - self._checked_at >= CHECK_EVERY_S:
            self._checked_at = now
            self._checker = threading.Thread(target=self._check, name="smythtop-check", daemon=True)
            self._checker.start()
        with self._done_lock:
            return self._health

    def _check(self) -> Health | None:
        rep = store.check(self.root)
        health = Health(
            frames=rep.frames,
            damaged_regions=rep.damaged_regions,
            quarantined_files=rep.quarantined_files,
            unreadable_parquet=len(rep.unreadable_parquet),
        )
        with self._done_lock:
            self._health = health
        return health

    def check_now(self) -> Health | None:
        """`store.check` now, in the caller's thread (the user asked for it)."""
        with self._lock:
            self._checked_at = time.monotonic()
            return self._check()

    # ---- one-off requests -----------------------------------------------------------------------

    def window_frames(self, bounds: Bounds, component: str | None = None) -> pl.DataFrame:
        """The frames of a window (optionally one component's), materialised: for exports."""
        with self._lock:
            frames, _ = self._frames(bounds)
            if component is not None:
                frames = frames.filter(pl.col("component") == component)
            return frames.collect() if isinstance(frames, pl.LazyFrame) else frames

    def span_tree(self, trace_id: str) -> list[results.Span]:
        """The spans of one trace; looked up in the whole store, since a trace may straddle the window."""
        from smythtop.analysis.detail import span_tree

        with self._lock:
            frames = store.scan(self.root).filter(pl.col("trace_id") == trace_id).collect()
        return span_tree(frames, trace_id, prices=self.thresholds.prices if self.thresholds else None)
