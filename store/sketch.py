"""The mergeable latency sketch's bin function, shared by the store's rollups and the analysis.

A log-binned weighted histogram (the DDSketch idea): a value x falls in bin sign(x) * floor(k * ln(1 + |x|)),
and a sketch is a list of (bin, weight, largest value seen in the bin). Two sketches with the same k merge by
adding weights bin by bin and keeping the larger maximum, so per-minute rollups and per-bucket live aggregates
combine into the sketch of any longer window with no pass over raw frames. The percentile reported is the
largest value in the bin that holds it: never below the true value, and at most `1/k` above it (relative, plus
`1/k` absolute near zero). Halving k is exact on the bins: floor(floor(k y) / 2) = floor(k y / 2), so a sketch
kept at K can be coarsened to K/2 without raw values.

It lives in the store (which may not import the analysis) because the compactor writes rollup sketches; the
analysis imports `bin_of` from here.
"""

from __future__ import annotations

import polars as pl

K = 100  # bins per unit of ln(1 + x): window-level percentiles within 1 % (relative); analysis/cube.py's K
K_MEM = 20  # memory-delta sketch: byte deltas spread over many bins, 5 % is plenty for a rough p95


def bin_of(expr: pl.Expr, k: int) -> pl.Expr:
    """A bin index monotone in the value: sign(x) * floor(k * ln(1 + |x|))."""
    x = expr.cast(pl.Float64)
    return (x.sign() * (x.abs().log1p() * k).floor()).cast(pl.Int32)


def coarsen(bins: pl.Expr, factor: int) -> pl.Expr:
    """Bins of a sketch kept at k, as bins at k / factor: exact for non-negative bins (floor division);
    negative bins (sign * floor) map to -floor(|b| / factor) for the same reason."""
    return (bins.sign() * (bins.abs() // factor)).cast(pl.Int32)
