"""The basis of every projection: the time the window's data covers, and how far a rate from it can be trusted.

A per-hour or per-day figure (burn rate, throughput, savings, frames saved) is a total divided by a time.
Dividing by the window's length is wrong whenever the data fills only part of it: 103 s of a demo run in the
app's 15-minute window made every $/day 8.7x too small, and the same data read as the whole store 8.7x larger
again. So the denominator is the time **covered by data**, defined on frame starts (`ts`):

- Each frame stands for the gap to the next frame's start, and the last one for the gap that would follow
  it, or for its own duration if that ends later. The frames of one request start together, so the data's
  last frame ends a request and the gap after it is one between requests: the long gaps. It is estimated as
  the mean of the gaps at least as long as the mean gap (among the last EDGE_FRAMES frames). So the data
  covers [first start, max(last start + that gap, last end)]: exactly the period of evenly spaced frames
  (all gaps are the mean) and of periodic traces (the gaps between them); for a Poisson stream of single
  frames one mean gap too long (1/n of the basis). One frame covers its own duration.
- An edge of an explicit window no further from the data than the longest gap between consecutive frame
  starts near it (among the EDGE_FRAMES frames at that end) is taken as covered: the workload was running
  there and no frame happened to land ("the window's length when data covers it"). A bound the caller left
  out was taken from the data, so it is neither snapped to nor clipped at.
- Never beyond the window's explicit bounds.

The same frames therefore give the same basis, and the same $/day, whether the window is 15 minutes, an hour
or the whole store, as long as it holds them all with room to spare.

`confidence` (0-1) says how far a projection from this basis can be trusted. It is the product of
- a length factor sqrt(min(1, basis / 1 h)): an hour is the shortest stretch that holds more than one cycle
  of most agent workloads' activity (a batch, a user session), and a steady rate's relative error shrinks as
  1/sqrt(time); and
- a burst factor min(1, 1 / CV), where CV is the coefficient of variation of weighted executions across
  BURST_SLICES equal slices of the basis (on the basis, not the window's buckets, so it does not depend on the
  window either). CV = 1 is the dividing line: a workload on for half the time and off for the other half has
  CV 1 (sqrt((1 - a) / a) for an on-share a), and so has a Poisson stream of about one event per slice.
  Measured (docs/ANALYSIS.md, "Projections"): the simulated fleet (`smythtop demo`) has CV 0.18-0.30, steady
  test streams ~0, two busy minutes in an otherwise quiet hour 3.2. Above 1 the basis is called bursty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

NS_PER_S = 1_000_000_000
FULL_BASIS_S = 3600.0  # a basis this long or longer gets the full length factor
BURST_SLICES = 12  # 5-minute slices of an hour: enough to see a burst, few enough that a steady stream fills them
BURSTY_CV = 1.0
EDGE_FRAMES = 1000  # frames at each edge whose gaps are read (measure)
BURST_ROWS = 1_000_000  # frames the burstiness is measured on (every k-th beyond)


@dataclass(frozen=True)
class Coverage:
    """[start_ns, end_ns): the time the window's data covers; `frames` raw frames in it; `burstiness` the CV of
    weighted executions across BURST_SLICES equal slices (None with fewer than two frames or a zero span)."""

    start_ns: int
    end_ns: int
    frames: int
    burstiness: float | None

    @property
    def seconds(self) -> float:
        """The denominator of every rate: at least 1 s, so an empty or instant window divides safely."""
        return max((self.end_ns - self.start_ns) / NS_PER_S, 1.0)

    @property
    def hours(self) -> float:
        return self.seconds / 3600.0

    @property
    def minutes(self) -> float:
        return self.seconds / 60.0

    @property
    def bursty(self) -> bool:
        return self.burstiness is not None and self.burstiness > BURSTY_CV

    @property
    def confidence(self) -> float:
        if self.frames == 0:
            return 0.0
        length = min(1.0, self.seconds / FULL_BASIS_S) ** 0.5
        burst = 1.0 if self.burstiness is None or self.burstiness <= BURSTY_CV else BURSTY_CV / self.burstiness
        return round(length * burst, 2)

    @property
    def note(self) -> str:
        """What a projection is based on, for a person: "from 14 min of data" ("... of bursty data")."""
        if self.frames == 0:
            return "no data"
        return f"from {duration_text(self.seconds)} of {'bursty ' if self.bursty else ''}data"


def duration_text(seconds: float) -> str:
    """103 s, 14 min, 2.5 h, 3.0 d: the unit a person reads a basis in."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def whole(start_ns: int, end_ns: int) -> Coverage:
    """A window taken as covered throughout (series built without frames, e.g. in tests of the detectors)."""
    return Coverage(start_ns, end_ns, frames=0, burstiness=None)


def measure(frames: pl.DataFrame, window_from: int | None, window_to: int | None) -> Coverage:
    """The coverage of `frames` (columns `t`: start in ns, `w`: weight, and `total_ms` if present) in a window
    whose explicit bounds (None: taken from the data) are `window_from` and `window_to` (ns).

    The gaps are read at the edges only, EDGE_FRAMES frames each (all of them when there are fewer): the gap
    after the last frame is estimated from the gaps before it, and an edge of the window is judged against
    the quiet stretches of the workload near it. That keeps this to a few vectorised passes over 10M frames
    instead of a full sort and a full group-by (together ~0.3 s, a third of a whole report's time).
    """
    n = frames.height
    if n == 0:
        at = window_from if window_from is not None else (window_to if window_to is not None else 0)
        return Coverage(at, at, 0, None)
    first, last = frames.select(first=pl.col("t").min(), last=pl.col("t").max()).row(0)
    last_end = _last_end(frames, last)
    if n > 1:
        head, tail = _edges(frames["t"], first, last, n)
        between = tail[tail >= tail.mean()]  # at least the mean gap (never empty)
        lo, hi = first, max(last_end, last + int(between.mean()))
        lead_limit, trail_limit = int(head.max()), int(tail.max())
    else:
        lo, hi, lead_limit, trail_limit = first, last_end, 0, 0
    if window_from is not None and lo - window_from <= lead_limit:
        lo = window_from
    if window_to is not None:
        hi = window_to if window_to - hi <= trail_limit else min(hi, window_to)
    return Coverage(lo, max(hi, lo), n, _burstiness(frames, lo, hi))


def _last_end(frames: pl.DataFrame, last: int) -> int:
    """When the last execution ends: only frames that start within the longest duration of the end can."""
    if "total_ms" not in frames.columns:
        return last
    longest = float(frames["total_ms"].fill_null(0.0).max() or 0.0)
    late = frames.filter(pl.col("t") >= last - int(max(longest, 0.0) * 1e6))
    return int(late.select((pl.col("t") + (pl.col("total_ms").fill_null(0.0) * 1e6).cast(pl.Int64)).max()).item())


def _edges(t: pl.Series, first: int, last: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The gaps between consecutive starts among the first and the last EDGE_FRAMES frames."""
    if n <= 2 * EDGE_FRAMES:
        gaps = np.diff(np.sort(t.to_numpy()))
        return gaps, gaps
    # a filter pass keeps about 4 x EDGE_FRAMES frames of a steady stream, so bottom_k / top_k sort few;
    # an uneven stream with fewer near an edge takes them from all frames
    reach = (last - first) * 4 * EDGE_FRAMES // n
    head, tail = t.filter(t <= first + reach), t.filter(t >= last - reach)
    head = (head if head.len() >= EDGE_FRAMES else t).bottom_k(EDGE_FRAMES).sort().to_numpy()
    tail = (tail if tail.len() >= EDGE_FRAMES else t).top_k(EDGE_FRAMES).sort().to_numpy()
    return np.diff(head), np.diff(tail)


def _burstiness(frames: pl.DataFrame, lo: int, hi: int) -> float | None:
    if frames.height < 2 or hi <= lo:
        return None
    # every k-th frame above BURST_ROWS: a CV over 12 slices needs no more, and the slicing is the costly pass
    every = frames.height // BURST_ROWS
    t, w = frames.get_column("t"), frames.get_column("w")
    if every > 1:  # (below, no `gather_every`: a query of its own, ~1 ms of each live tick at 500K frames)
        t, w = t.gather_every(every), w.gather_every(every)
    # a weighted bincount over 12 slots: a polars group-by on the slot took 15 ms at 500K frames (each live tick)
    slot = np.clip((t.to_numpy() - lo) * BURST_SLICES // (hi - lo), 0, BURST_SLICES - 1)
    per_slice = np.bincount(slot, weights=w.to_numpy(), minlength=BURST_SLICES)
    mean = float(per_slice.mean())
    return float(per_slice.std() / mean) if mean > 0 else None
