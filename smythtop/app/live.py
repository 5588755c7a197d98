"""The live window's aggregates, kept per wall-clock-aligned bucket, so that a tick costs O(new frames).

A live window of a span is whole buckets aligned to multiples of the bucket width plus the current partial
one (`analysis.window.aligned`). Its frames are held as one `analysis.partial.Partial` per bucket: a tick
aggregates only the frames the tail delivered (`add`, a few small group-bys), merges them into the buckets
they belong to (usually the current one; a late frame lands in its own older bucket), and drops the
buckets that left the window (`drop_before`). The cube of the window is then re-grouped from those
aggregates (`cube`), never re-aggregated from the window's raw frames.

The span tree's figures (self time, own failures, requests and their cost: `analysis.selftime`) depend on a
frame's whole trace, whose frames arrive over several ticks (children usually before their parent). So the
window's frames are kept too, prepared as `analysis.cube.build` reads them (one integer trace key `tk` each),
and a tick whose frames touch traces already seen re-annotates those traces: the buckets receive
`of_frames(annotate(old + new)) - of_frames(annotate(old))`, where `old` is the window's frames of the touched
traces (an integer `is_in` over the window). Sums and bin weights subtract exactly, so the buckets hold what
one `selftime.annotate` over the whole window gives (`cube.build`'s frames path), with two exceptions:
- a sketch bin keeps the largest value it has seen, so a percentile (p95, self95) may stay up to one bin (1 %)
  above the frames path's after a value moved out of its bin;
- a trace straddling the window start: when its older frames leave with their bucket, the frames still in
  the window keep the annotation they had with them (a child stays a non-root; the frames path, which sees
  only the window, makes it a root of its trace).
Frames without a trace id are annotated alone, as `selftime` treats them. The data-coverage basis of the
window (`analysis.coverage.measure`) is measured on the kept frames' `t`, `w` and `total_ms` at each cube: a
few vectorised passes over the window, as the frames path does.

Frames dated at or after now (an agent clock ahead) are outside the live window: they wait in `pending`
until now reaches them, so the window's counts match `[start, now)` exactly.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl

from smythtop.analysis import coverage, partial, pricing, selftime
from smythtop.analysis.cube import Cube
from smythtop.analysis.thresholds import Thresholds
from smythtop.analysis.window import REPORT_COLUMNS, Window, conform, frame_schema, weighted

RECHUNK_AFTER = 64  # appended batches before the kept frames are rechunked into one block


# A batch re-annotates the window's frames of the traces it touches. When that is more than this share of the
# window (traces that live as long as the window: a session traced for hours gains a span every tick), a tick costs
# what rebuilding the window's cube costs, or more (measured: 3.4 s against 1.1 s at 500K frames when every
# batch touched old traces), so the loader switches to the frames path (`Loader._few_keys`).
TOUCHED_SHARE = 0.25
TOUCHED_MIN = 10_000  # below this many re-annotated frames a batch is cheap whatever the window's size
# XOR-ed into the trace and span keys of a copy of frames, so that `selftime.annotate` sees it as other traces
_SALT = 0x9E3779B97F4A7C15


def _per_bucket(sums: pl.DataFrame) -> dict[int, int]:
    """Frames per bucket start of a partial's sums (`rows` summed per `t`), with numpy: a polars group-by is a
    query of its own, ~0.5 ms on this machine for a few hundred rows, on every tick."""
    starts, at = np.unique(sums.get_column("t").to_numpy(), return_inverse=True)
    rows = np.zeros(len(starts), dtype=np.int64)
    np.add.at(rows, at, sums.get_column("rows").to_numpy())
    return dict(zip(starts.tolist(), rows.tolist(), strict=True))


class LiveBuckets:
    """Per-bucket partial aggregates of a live window, and its frames. Not thread-safe: the loader's lock guards it.

    Each bucket keeps its `Partial` (what new frames merge into) and its `BucketView` (what the cube takes
    from it), re-reduced only when the bucket changes. The window-wide histograms (the sum of the buckets'
    `hist`) are kept summed and updated by each change's bins (`partial.added`): re-annotated traces change
    closed buckets on most ticks, and re-summing every bucket's bins then cost more than the rest of a tick.
    """

    def __init__(self, bucket_ns: int, thresholds: Thresholds) -> None:
        self.bucket_ns = bucket_ns
        self.thresholds = thresholds
        self._buckets: dict[int, partial.Partial] = {}
        self._views: dict[int, partial.BucketView] = {}
        self._rows: dict[int, int] = {}  # frames per bucket, so the window's count is a sum of ~60 ints
        self._frames = self._prepare(pl.DataFrame(schema=frame_schema()))  # the window's frames, as `annotate` reads
        self._chunks = 0
        self._empty = self._partial(self._frames)
        self._names = self._empty.dims
        self._hist = self._empty.sketch.drop("t")  # every kept bucket's bins, summed (k, metric, _bin, _w, _v)
        self._pending: pl.DataFrame | None = None  # frames dated at or after now, not yet in any bucket
        # a batch re-annotated more than TOUCHED_SHARE of the window: the loader takes the frames path instead
        self.overgrown = False

    def _prepare(self, frames: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
        """Frames as `analysis.report.build_live` prepares them: priced, weighted, with the span keys."""
        priced = pricing.read_time_priced(conform(frames), self.thresholds.prices)
        return weighted(priced.select(*REPORT_COLUMNS, **selftime.KEYS)).collect()

    def _partial(self, prepared: pl.DataFrame) -> partial.Partial:
        return partial.of_frames(selftime.annotate(prepared), self.bucket_ns, self.thresholds)

    def _changed(self, old: pl.DataFrame, new: pl.DataFrame) -> partial.Partial:
        """`of_frames(annotate(old + new)) - of_frames(annotate(old))` in one `annotate` and one `of_frames`: the
        frames of `old` go in twice, once with their new frames and once, under salted span and trace keys (so
        the two copies never link), with a negative sample rate (`partial.of_frames(signed=True)`). Two passes
        each cost ~15 ms of fixed overhead a tick whatever the number of frames."""
        if not old.height:
            return self._partial(new)
        salt = pl.lit(_SALT, dtype=pl.UInt64)
        out = pl.col("_out")
        again = old.with_columns(*(pl.col(c) ^ salt for c in ("tk", "sk", "pk")), _out=pl.lit(True))
        annotated = selftime.annotate(
            pl.concat([old.with_columns(_out=pl.lit(False)), new.with_columns(_out=pl.lit(False)), again])
        )
        retracted = annotated.with_columns(
            sample_rate=pl.when(out).then(-pl.col("sample_rate").fill_null(1.0)).otherwise(pl.col("sample_rate"))
        ).drop("_out")
        return partial.of_frames(retracted, self.bucket_ns, self.thresholds, signed=True)

    def add(self, frames: pl.DataFrame | pl.LazyFrame | None, start_ns: int, now_ns: int) -> int:
        """Merge the frames dated in [start_ns, now_ns) into their buckets; hold later ones until now
        reaches them; ignore earlier ones (the window only moves forward). Returns the frames merged."""
        if frames is None and self._pending is None:
            return 0
        t = pl.col("ts").dt.epoch("ns")
        held = [f.lazy() for f in (self._pending, frames) if f is not None]  # held frames wait until now reaches them
        arrived = held[0] if len(held) == 1 else pl.concat(held, how="diagonal_relaxed")
        later, frames = arrived.filter(t >= now_ns).collect(), arrived.filter(t < now_ns)
        self._pending = later if later.height else None
        new = self._prepare(frames.filter(t >= start_ns))
        if new.height == 0:
            return 0
        old = self._touched(new)
        if old.height > max(TOUCHED_MIN, TOUCHED_SHARE * self._frames.height):
            self.overgrown = True  # see TOUCHED_SHARE: this tick is still merged, exactly
        part = self._changed(old, new)
        self._keep(new)
        self._hist = partial.added(self._hist, part.sketch)  # `added` reads the HIST_KEY columns only
        self._names = partial.merge_names([self._names, part.dims])
        # every bucket the batch touched, merged and re-viewed together: one group-by and one plan, not one per bucket
        touched = _per_bucket(part.sums)  # frames per bucket, signed
        before = [self._buckets[t_b] for t_b in touched if t_b in self._buckets]
        merged = partial.split(partial.merge([*before, part], settle=True))
        views = partial.bucket_views(merged)
        for t_b, rows in touched.items():
            self._rows[t_b] = self._rows.get(t_b, 0) + rows
            if t_b in merged:
                self._buckets[t_b], self._views[t_b] = merged[t_b], views[t_b]
            else:  # every frame it held was taken back out
                self._buckets.pop(t_b, None)
                self._views.pop(t_b, None)
                del self._rows[t_b]
        return new.height

    def _touched(self, new: pl.DataFrame) -> pl.DataFrame:
        """The window's frames already aggregated whose trace has frames among `new`."""
        traces = new["tk"].drop_nulls().unique()
        if traces.is_empty() or self._frames.is_empty():
            return self._frames.clear()
        # a Series mask: the same filter as an expression took ~4x longer at 500K frames
        return self._frames.filter(self._frames["tk"].is_in(traces.implode()))

    def _keep(self, new: pl.DataFrame) -> None:
        self._frames = pl.concat([self._frames, new], how="vertical", rechunk=False)
        self._chunks += 1
        if self._chunks >= RECHUNK_AFTER:
            self._frames, self._chunks = self._frames.rechunk(), 0

    def drop_before(self, start_ns: int) -> None:
        """Forget the buckets (and frames) that left the window."""
        gone = [t_b for t_b in self._buckets if t_b < start_ns]
        if not gone:
            return
        self._hist = partial.added(self._hist, pl.concat([partial.negated(self._buckets[t_b]).sketch for t_b in gone]))
        for t_b in gone:
            del self._buckets[t_b], self._views[t_b], self._rows[t_b]
        self._frames, self._chunks = self._frames.filter(pl.col("t") >= start_ns), 0

    def rows(self, start_ns: int, end_ns: int) -> int:
        """Frames in the buckets with start_ns <= t < end_ns."""
        return sum(n for t_b, n in self._rows.items() if start_ns <= t_b < end_ns)

    @property
    def keys(self) -> int:
        """Distinct (agent, component, model, provider) keys aggregated so far."""
        return self._names.height

    @property
    def pending(self) -> int:
        return 0 if self._pending is None else self._pending.height

    def cube(self, window: Window) -> Cube:
        """The window's cube, from the buckets' views (`analysis.partial.of_views`), with the data-coverage basis
        measured on the window's frames as `analysis.window.prepare` does. The window holds every kept bucket
        (`drop_before` its start first; frames at or after its end are pending)."""
        if any(not window.start_ns <= t_b < window.end_ns for t_b in self._buckets):
            raise ValueError("the window must hold every kept bucket: drop_before its start first")
        # columns picked by name first (no copy): a `select` on the many-chunk frame took ~10x the filter itself
        basis = self._frames[["t", "w", "total_ms"]].filter(pl.col("t").is_between(window.start_ns, window.end_ns,
                                                                                    closed="left"))  # fmt: skip
        window = replace(window, coverage=coverage.measure(basis, window.start_ns, window.end_ns))
        ts = sorted(self._views)
        if not ts:
            views = [partial.empty_view(self._empty, window.start_ns)]
            return partial.of_views(views, views[0].hist, self._names, window, self.thresholds)
        return partial.of_views([self._views[t_b] for t_b in ts], self._hist, self._names, window, self.thresholds)
