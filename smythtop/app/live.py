"""The live window's aggregates, kept per wall-clock-aligned bucket, so that a tick costs O(new frames).

A live window of a span is whole buckets aligned to multiples of the bucket width plus the current partial
one (`analysis.window.aligned`). Its frames are held as one `analysis.partial.Partial` per bucket: a tick
aggregates only the frames the tail delivered (`add`, one small group-by), merges them into the buckets
they belong to (usually the current one; a late frame lands in its own older bucket), and drops the
buckets that left the window (`drop_before`). The cube of the window is then re-grouped from those
aggregates (`cube`), never from the window's raw frames: a 15-minute window at 10K frames/s holds 9M
frames but only ~61 buckets x dims x bins of aggregates.

Frames dated at or after now (an agent clock ahead) are outside the live window: they wait in `pending`
until now reaches them, so the window's counts match `[start, now)` exactly.
"""

from __future__ import annotations

import polars as pl

from smythtop.analysis import partial
from smythtop.analysis.cube import Cube
from smythtop.analysis.thresholds import Thresholds
from smythtop.analysis.window import Window, frame_schema


class LiveBuckets:
    """Per-bucket partial aggregates of a live window. Not thread-safe: the loader's lock guards it.

    Each bucket keeps its `Partial` (what new frames merge into) and its `BucketView` (what the cube takes
    from it), re-reduced only when the bucket changes. The window-wide histograms are the sum of the buckets'
    `hist`: the closed buckets' sum is kept and redone only when a bucket leaves the window or a late frame
    changes a closed one, so a tick sums just that and the newest bucket.
    """

    def __init__(self, bucket_ns: int, thresholds: Thresholds) -> None:
        self.bucket_ns = bucket_ns
        self.thresholds = thresholds
        self._buckets: dict[int, partial.Partial] = {}
        self._views: dict[int, partial.BucketView] = {}
        self._rows: dict[int, int] = {}  # frames per bucket, so the window's count is a sum of ~60 ints
        self._empty = partial.of_frames(pl.DataFrame(schema=frame_schema()), bucket_ns, thresholds)
        self._names = self._empty.dims
        self._closed: tuple[tuple[int, ...], pl.DataFrame] | None = None  # (closed buckets, their hist summed)
        self._pending: pl.DataFrame | None = None  # frames dated at or after now, not yet in any bucket

    def add(self, frames: pl.DataFrame | pl.LazyFrame | None, start_ns: int, now_ns: int) -> int:
        """Merge the frames dated in [start_ns, now_ns) into their buckets; hold later ones until now
        reaches them; ignore earlier ones (the window only moves forward). Returns the frames merged.
        A LazyFrame (a window too big for memory) is read once, only the columns the aggregates need."""
        if frames is None and self._pending is None:
            return 0
        t = pl.col("ts").dt.epoch("ns")
        if frames is not None:
            later = frames.lazy().filter(t >= now_ns).collect()
            frames = frames.lazy().filter(t < now_ns)
            if self._pending is not None:
                frames = pl.concat([self._pending.lazy(), frames], how="diagonal_relaxed")
        else:
            assert self._pending is not None
            later, frames = self._pending.filter(t >= now_ns), self._pending.lazy().filter(t < now_ns)
        self._pending = later if later.height else None
        part = partial.of_frames(frames.filter(t >= start_ns), self.bucket_ns, self.thresholds)
        if part.rows == 0:
            return 0
        self._names = partial.merge_names([self._names, part.dims])
        for t_b, mine in partial.split(part).items():
            old = self._buckets.get(t_b)
            self._buckets[t_b] = merged = mine if old is None else partial.merge([old, mine])
            self._views[t_b] = partial.view(merged, t_b)
            self._rows[t_b] = self._rows.get(t_b, 0) + mine.rows
            if self._closed is not None and t_b in self._closed[0]:
                self._closed = None  # a late frame changed a closed bucket
        return part.rows

    def drop_before(self, start_ns: int) -> None:
        """Forget the buckets that left the window."""
        for t_b in [t_b for t_b in self._buckets if t_b < start_ns]:
            del self._buckets[t_b], self._views[t_b], self._rows[t_b]

    def rows(self, start_ns: int, end_ns: int) -> int:
        """Frames in the buckets with start_ns <= t < end_ns."""
        return sum(n for t_b, n in self._rows.items() if start_ns <= t_b < end_ns)

    @property
    def pending(self) -> int:
        return 0 if self._pending is None else self._pending.height

    def cube(self, window: Window) -> Cube:
        """The window's cube, from the buckets' views (`analysis.partial.of_views`)."""
        ts = sorted(t_b for t_b in self._views if window.start_ns <= t_b < window.end_ns)
        if not ts:
            views = [partial.empty_view(self._empty, window.start_ns)]
            return partial.of_views(views, views[0].hist, self._names, window, self.thresholds)
        closed = tuple(ts[:-1])
        if self._closed is None or self._closed[0] != closed:
            hists = [self._views[t_b].hist for t_b in closed]
            self._closed = (closed, partial.merge_hists(hists) if hists else self._views[ts[-1]].hist.clear())
        hist = partial.merge_hists([self._closed[1], self._views[ts[-1]].hist])
        return partial.of_views([self._views[t_b] for t_b in ts], hist, self._names, window, self.thresholds)
