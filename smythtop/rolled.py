"""Loading a long window's rollups for a report (`analysis.longwindow.report_of`): the I/O the CLI's `report`
and `optimize` and the app share, so both read the same rows for the same window and agree on its numbers.

A window of an hour or more (`window.LONG_WINDOW_NS`) is read from the store's rollup tiers plus the WAL
frames not yet rolled up (`store.scan_rollups`), at the whole minutes `longwindow.window_for` extends it to and
the coarsest tier whose rows fall whole into its buckets (`longwindow.tier_of`). None means raw frames must
answer it: a shorter window, or one overlapping frames files written before rollups existed
(`RollupScan.complete`). Plain polars and the store: no textual, no argparse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from smythtop import store

if TYPE_CHECKING:
    import polars as pl

    from smythtop.analysis.longwindow import Basis
    from smythtop.analysis.thresholds import Thresholds
    from smythtop.analysis.window import Window


@dataclass(frozen=True)
class Rolled:
    """A window's rollup rows, the WAL's frames and the raw sample (`load`), for `longwindow.report_of`."""

    root: Path
    window: Window
    sums: pl.DataFrame
    sketch: pl.DataFrame  # names and metric as polars Categoricals (`store.RollupScan.coded_sketch`)
    wal: pl.DataFrame
    sample: pl.LazyFrame  # raw frames of the window's end: span trees and baselines (`longwindow.SPAN_SAMPLE_NS`)
    basis: Basis

    @property
    def empty(self) -> bool:
        """No frame of the window, rolled up or not."""
        return not (self.sums.height or self.wal.height)


def load(root: Path, since: int, until: int, thresholds: Thresholds, *, agent: str | None = None) -> Rolled | None:
    """The window [since, until) (ns) of a local store from its rollups plus the WAL, filtered to `agent` when
    given; None when it is under `window.LONG_WINDOW_NS` or the rollups do not cover it."""
    import polars as pl

    from smythtop.analysis.window import LONG_WINDOW_NS

    if until - since < LONG_WINDOW_NS:
        return None
    from smythtop.analysis import longwindow  # the rollups' reader: only for a long window (~0.1 s to import)

    lw = longwindow.window_for(since, until)
    scan = store.scan_rollups(root, lw.start_ns, lw.end_ns, tier_ns=longwindow.tier_of(lw))
    if not scan.complete:
        return None
    sums, sketch, wal = scan.sums, scan.coded_sketch, scan.wal
    sample = store.scan(root, longwindow.sample_start(lw), lw.end_ns)
    if agent:
        mine = pl.col("agent_id") == agent
        sums, sketch, wal, sample = sums.filter(mine), sketch.filter(mine), wal.filter(mine), sample.filter(mine)
    basis = longwindow.basis_of(scan.tier_ns, scan.files, wal.height, scan.quarantined, lw, thresholds)
    return Rolled(root, lw, sums, sketch, wal, sample, basis)
