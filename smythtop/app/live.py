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

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from smythtop.analysis import coverage, cube, partial, pricing, selftime
from smythtop.analysis import weights as wt
from smythtop.analysis.cube import Cube
from smythtop.analysis.thresholds import Thresholds
from smythtop.analysis.window import REPORT_COLUMNS, Window, conform, frame_schema, weighted
from smythtop.app import sparse

RECHUNK_AFTER = 64  # appended batches before the kept frames are rechunked into one block


# A batch re-annotates the window's frames of the traces it touches. When that is more than this share of the
# window (traces that live as long as the window: a session traced for hours gains a span every tick), a tick costs
# what rebuilding the window's cube costs, or more (measured: 3.4 s against 1.1 s at 500K frames when every
# batch touched old traces), so the loader switches to the frames path (`Loader._few_keys`).
TOUCHED_SHARE = 0.25
TOUCHED_MIN = 10_000  # below this many re-annotated frames a batch is cheap whatever the window's size
# XOR-ed into the trace and span keys of a copy of frames, so that `selftime.annotate` sees it as other traces
_SALT = 0x9E3779B97F4A7C15


# A sketch row's key in the numpy tables (`sparse.Table`): key index, metric and bin in one int64. A bin is
# sign(x) * floor(k * ln(1 + |x|)) with k <= cube.K = 100, so |bin| < 71_000 for every finite float64: 18 bits.
_BIN_BITS, _METRIC_BITS = 18, 3
_BIN_OFF = 1 << (_BIN_BITS - 1)
_BIN_MASK = (1 << _BIN_BITS) - 1
_KEY_SHIFT = _BIN_BITS + _METRIC_BITS
_TOTAL = partial.METRIC.categories.to_list().index("total_ms")
_METRICS = pl.Series(partial.METRIC.categories.to_list())
_COARSE_SHIFT = 20  # the latency series' (component index, coarse bin) key: the bin in the low 20 bits
_COARSE_OFF = 1 << (_COARSE_SHIFT - 1)
_RATIO = cube.K // cube.K_SERIES
_INTEGER = ("rows", "req_rows")  # sums columns of integer type (counts); the others are float64


@dataclass(frozen=True)
class _View:
    """A bucket's latency series (`LiveBuckets._view`), kept until the bucket changes: its bins per component
    index, and their percentiles (`cube.SERIES_QS`) per component and over all (0 or 1 row)."""

    comp: np.ndarray
    bins: np.ndarray
    w: np.ndarray
    v: np.ndarray
    groups: np.ndarray
    per_comp: np.ndarray
    fleet: np.ndarray


class LiveBuckets:
    """Per-bucket aggregates of a live window, and its frames. Not thread-safe: the loader's lock guards it.

    Each bucket keeps its sums (rows per (key, success)) and its sketch (rows per (key, metric, bin)) as numpy
    tables (`smythtop.app.sparse`), and its latency series (`_View`), re-made only when the bucket changes. The
    window-wide histogram (every bucket's bins summed) is kept as a table too, updated by each change's bins:
    re-annotated traces change closed buckets on most ticks, and re-summing every bucket's bins then cost more
    than the rest of a tick. A key (agent, component, model, provider) is held by its index in the order
    first seen (`_kvals` holds its `cube.dim_key`).
    """

    def __init__(self, bucket_ns: int, thresholds: Thresholds) -> None:
        self.bucket_ns = bucket_ns
        self.thresholds = thresholds
        self._frames = self._prepare(pl.DataFrame(schema=frame_schema()))  # the window's frames, as `annotate` reads
        self._chunks = 0
        empty = self._partial(self._frames)
        self._cols = [c for c in empty.sums.columns if c not in partial.SUMS_KEY]  # the sums' value columns
        self._rows_col = self._cols.index("rows")
        self._names = empty.dims  # one row per key index
        self._kvals = np.empty(0, dtype=np.uint64)  # `k` of each key index
        self._ksorted, self._kpos = self._kvals, np.empty(0, dtype=np.int64)  # k sorted, and their key index
        self._comp = np.empty(0, dtype=np.int64)  # the component index of each key index
        self._components: dict[str, int] = {}
        self._comp_names = pl.Series("component", [], dtype=pl.String)  # by component index
        self._buckets: dict[int, tuple[sparse.Table, sparse.Table]] = {}  # t -> (sums, sketch)
        self._views: dict[int, _View] = {}
        self._rows: dict[int, int] = {}  # frames per bucket, so the window's count is a sum of ~60 ints
        self._hist = sparse.Table(1, 1)  # every kept bucket's bins, summed (sketch keys)
        self._pending: pl.DataFrame | None = None  # frames dated at or after now, not yet in any bucket
        # a batch re-annotated more than TOUCHED_SHARE of the window: the loader takes the frames path instead
        self.overgrown = False

    def _prepare(self, frames: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
        """Frames as `analysis.report.build_live` prepares them: priced, weighted, with the span keys."""
        priced = pricing.read_time_priced(conform(frames), self.thresholds.prices)
        return weighted(priced.select(*REPORT_COLUMNS, **selftime.KEYS)).collect()

    def _partial(self, prepared: pl.DataFrame) -> partial.Partial:
        return partial.of_frames(selftime.annotated(prepared), self.bucket_ns, self.thresholds)

    def _changed(self, old: pl.DataFrame, new: pl.DataFrame) -> partial.Partial:
        """`of_frames(annotate(old + new)) - of_frames(annotate(old))` in one `annotate` and one `of_frames`: the
        frames of `old` go in twice, once with their new frames and once, under salted span and trace keys (so
        the two copies never link), with a negative sample rate (`partial.of_frames(signed=True)`). Two passes
        each cost ~15 ms of fixed overhead a tick whatever the number of frames."""
        if not old.height:
            return self._partial(new)
        salt = pl.lit(_SALT, dtype=pl.UInt64)
        out = pl.col("_out")
        again = old.lazy().with_columns(*(pl.col(c) ^ salt for c in ("tk", "sk", "pk")), _out=pl.lit(True))
        kept = [f.lazy().with_columns(_out=pl.lit(False)) for f in (old, new)]
        # one plan from here to the aggregates (`annotated`, `of_frames`): no eager step in between
        retracted = (
            selftime.annotated(pl.concat([*kept, again]))
            .with_columns(
                sample_rate=pl.when(out).then(-pl.col("sample_rate").fill_null(1.0)).otherwise(pl.col("sample_rate"))
            )
            .drop("_out")
        )
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
        self._merge(part)
        return new.height

    def _merge(self, part: partial.Partial) -> None:
        """Merge a change's aggregates into the buckets it touches (re-viewing them) and the window's histogram."""
        sums, sketch = part.sums, part.sketch
        s_t, h_t = sums.get_column("t").to_numpy(), sketch.get_column("t").to_numpy()
        s_key = self._index(sums.get_column("k").to_numpy(), part.dims) * 2 + sums.get_column("success").to_numpy()
        h_key = self._sketch_keys(sketch, part.dims)
        values = sums[self._cols].to_numpy().astype(np.float64, copy=False)
        w = sketch.get_column("_w").to_numpy()[:, None]
        v = sketch.get_column("_v").to_numpy()[:, None]
        self._hist.add(h_key, w, v)
        self._hist.keep(self._hist.sums[:, 0] > partial.SETTLED_W)
        # each bucket's rows in key order, one sort for all: a partial's rows are unique per (t, key)
        s_at, h_at = np.lexsort((s_key, s_t)), np.lexsort((h_key, h_t))
        s_t, h_t = s_t[s_at], h_t[h_at]
        for t_b in np.union1d(s_t, h_t).tolist():
            kept = self._buckets.get(t_b) or (sparse.Table(len(self._cols)), sparse.Table(1, 1))
            s_in = s_at[np.searchsorted(s_t, t_b) : np.searchsorted(s_t, t_b, side="right")]
            h_in = h_at[np.searchsorted(h_t, t_b) : np.searchsorted(h_t, t_b, side="right")]
            kept[0].add(s_key[s_in], values[s_in], ordered=True)
            kept[0].keep(kept[0].sums[:, self._rows_col] > 0)  # rows no frame is left in (a retraction's)
            kept[1].add(h_key[h_in], w[h_in], v[h_in], ordered=True)
            kept[1].keep(kept[1].sums[:, 0] > partial.SETTLED_W)
            if len(kept[0]):
                self._buckets[t_b] = kept
                self._views[t_b] = self._view(kept[1])
                self._rows[t_b] = round(float(kept[0].sums[:, self._rows_col].sum()))
            else:  # every frame it held was taken back out
                self._buckets.pop(t_b, None)
                self._views.pop(t_b, None)
                self._rows.pop(t_b, None)

    def _index(self, k: np.ndarray, dims: pl.DataFrame) -> np.ndarray:
        """The key index of each `k`, registering the keys not seen yet (their names are in `dims`)."""
        pos = np.searchsorted(self._ksorted, k)
        found = pos < len(self._ksorted)
        found[found] = self._ksorted[pos[found]] == k[found]
        if not found.all():
            fresh = np.unique(k[~found])
            named = dims[np.flatnonzero(np.isin(dims.get_column("k").to_numpy(), fresh)).tolist()]
            self._names = pl.concat([self._names, named])
            comps = []
            for name in named.get_column("component").to_list():
                if name not in self._components:
                    self._components[name] = len(self._components)
                    self._comp_names = pl.Series("component", list(self._components), dtype=pl.String)
                comps.append(self._components[name])
            self._kvals = self._names.get_column("k").to_numpy()
            self._comp = np.concatenate([self._comp, np.asarray(comps, dtype=np.int64)])
            self._kpos = np.argsort(self._kvals, kind="stable")
            self._ksorted = self._kvals[self._kpos]
            pos = np.searchsorted(self._ksorted, k)
        return self._kpos[pos]

    def _sketch_keys(self, sketch: pl.DataFrame, dims: pl.DataFrame) -> np.ndarray:
        kidx = self._index(sketch.get_column("k").to_numpy(), dims)
        metric = sketch.get_column("metric").to_physical().to_numpy().astype(np.int64)
        bins = sketch.get_column("_bin").to_numpy().astype(np.int64)
        return (((kidx << _METRIC_BITS) | metric) << _BIN_BITS) | (bins + _BIN_OFF)

    def _view(self, sketch: sparse.Table) -> _View:
        """A bucket's latency series: its bins per component at `cube.K_SERIES` and their percentiles, per
        component and over all (`Cube.lat_b_q`, `fleet_b_q`)."""
        lat = (sketch.keys >> _BIN_BITS) & ((1 << _METRIC_BITS) - 1) == _TOTAL
        keys = sketch.keys[lat]
        bins = (keys & _BIN_MASK) - _BIN_OFF
        coarse = np.sign(bins) * (np.abs(bins) // _RATIO)  # `partial.series_bin`
        comp = self._comp[keys >> _KEY_SHIFT]
        by, w, v = sparse.regroup((comp << _COARSE_SHIFT) | (coarse + _COARSE_OFF), sketch.sums[lat, 0],
                                  sketch.maxes[lat, 0])  # fmt: skip
        comp, coarse = by >> _COARSE_SHIFT, (by & ((1 << _COARSE_SHIFT) - 1)) - _COARSE_OFF
        groups, per_comp = wt.quantiles_np(comp, coarse, w, v, cube.SERIES_QS)
        _, fleet = wt.quantiles_np(np.zeros(len(coarse), dtype=np.int64), coarse, w, v, cube.SERIES_QS)
        return _View(comp, coarse.astype(np.int32), w, v, groups, per_comp, fleet)

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
        for t_b in gone:
            _, sketch = self._buckets.pop(t_b)
            self._hist.add(sketch.keys, -sketch.sums, sketch.maxes)
            del self._views[t_b], self._rows[t_b]
        self._hist.keep(self._hist.sums[:, 0] > partial.SETTLED_W)
        self._frames, self._chunks = self._frames.filter(pl.col("t") >= start_ns), 0

    def rows(self, start_ns: int, end_ns: int) -> int:
        """Frames in the buckets with start_ns <= t < end_ns."""
        return sum(n for t_b, n in self._rows.items() if start_ns <= t_b < end_ns)

    @property
    def keys(self) -> int:
        """Distinct (agent, component, model, provider) keys aggregated so far."""
        return len(self._kvals)

    @property
    def pending(self) -> int:
        return 0 if self._pending is None else self._pending.height

    def _stacked(self, window: Window) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """The buckets' sums, latency series and its percentiles, each stacked over the window's buckets with
        their index `b`, as `partial.of_stacked` takes them: one frame each, built from the numpy tables (a frame
        per bucket, then concatenated, was ~240 small polars calls a tick)."""
        ts = sorted(self._buckets)
        b = np.asarray([(t_b - window.start_ns) // window.bucket_ns for t_b in ts], dtype=np.int32)
        tables = [self._buckets[t_b][0] for t_b in ts]
        views = [self._views[t_b] for t_b in ts]
        keys = np.concatenate([np.empty(0, dtype=np.int64), *(t.keys for t in tables)])
        values = np.concatenate([np.empty((0, len(self._cols))), *(t.sums for t in tables)])
        sums: dict[str, np.ndarray] = {"b": np.repeat(b, [len(t) for t in tables]), "k": self._kvals[keys >> 1],
                                       "success": (keys & 1).astype(bool)}  # fmt: skip
        for j, c in enumerate(self._cols):
            sums[c] = np.rint(values[:, j]).astype(np.int64) if c in _INTEGER else values[:, j]

        def stack(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate([np.empty(0, dtype=dtype), *parts])

        names = self._comp_names
        lat = {
            "component": names.gather(stack([v.comp for v in views], np.int64)),
            "b": np.repeat(b, [len(v.comp) for v in views]),
            "_bin": stack([v.bins for v in views], np.int32),
            "_w": stack([v.w for v in views], np.float64),
            "_v": stack([v.v for v in views], np.float64),
        }
        per_comp = np.concatenate([np.empty((0, len(cube.SERIES_QS))), *(v.per_comp for v in views)])
        lat_q = {"component": names.gather(stack([v.groups for v in views], np.int64)),
                 "b": np.repeat(b, [len(v.groups) for v in views]),
                 **{name: per_comp[:, j] for j, name in enumerate(cube.SERIES_NAMES)}}  # fmt: skip
        fleet = np.concatenate([np.empty((0, len(cube.SERIES_QS))), *(v.fleet for v in views)])
        fleet_q = {"b": np.repeat(b, [len(v.fleet) for v in views]),
                   **{name: fleet[:, j] for j, name in enumerate(cube.SERIES_NAMES)}}  # fmt: skip
        return pl.DataFrame(sums), pl.DataFrame(lat), pl.DataFrame(lat_q), pl.DataFrame(fleet_q)

    def _hist_frame(self) -> pl.DataFrame:
        """The window's histogram as `partial.of_stacked` takes it (`partial.HIST_KEY`, _w, _v)."""
        keys = self._hist.keys
        metric = (keys >> _BIN_BITS) & ((1 << _METRIC_BITS) - 1)
        return pl.DataFrame({
            "k": self._kvals[keys >> _KEY_SHIFT],
            "metric": _METRICS.gather(metric).cast(partial.METRIC),
            "_bin": ((keys & _BIN_MASK) - _BIN_OFF).astype(np.int32),
            "_w": self._hist.sums[:, 0],
            "_v": self._hist.maxes[:, 0],
        })  # fmt: skip

    def cube(self, window: Window) -> Cube:
        """The window's cube, from the buckets' aggregates (`analysis.partial.of_stacked`), with the data-coverage basis
        measured on the window's frames as `analysis.window.prepare` does. The window holds every kept bucket
        (`drop_before` its start first; frames at or after its end are pending)."""
        if any(not window.start_ns <= t_b < window.end_ns for t_b in self._buckets):
            raise ValueError("the window must hold every kept bucket: drop_before its start first")
        # every kept frame is in the window (`add` keeps [start, now), `drop_before` drops what left it): no filter,
        # and the columns picked by name (no copy: a `select` on the many-chunk frame took ~10x longer)
        basis = self._frames[["t", "w", "total_ms"]]
        window = replace(window, coverage=coverage.measure(basis, window.start_ns, window.end_ns))
        sums, lat, lat_q, fleet_q = self._stacked(window)
        return partial.of_stacked(sums, lat, self._hist_frame(), self._names, window, self.thresholds, lat_q=lat_q,
                                  fleet_q=fleet_q)  # fmt: skip
