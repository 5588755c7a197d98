"""Anomalies in per-bucket series: robust spikes and level shifts, never a fixed +-20 % band.

Two detectors per (component, metric), both on bucketed series:

- Spikes: each bucket against the median of the previous ROLL_WINDOW valid buckets. The noise scale is the
  series-wide robust scale of first differences (1.4826 * MAD(diff) / sqrt(2)), which a level shift or a few
  outliers do not inflate, floored by the sampling noise a bucket can have (binomial for error rate, a
  REL_FLOOR share of the level otherwise). A bucket is anomalous when |x - median| / scale >= SPIKE_Z.
- Level shifts: binary segmentation with the Mann-Whitney U statistic at every split (a rank test, so robust
  to outliers), Bonferroni-corrected over the splits tried; a split counts when p < CP_ALPHA and the medians
  on each side differ by at least SHIFT_Z noise scales. The anomaly runs from the shift to the end of its
  segment.

Consecutive anomalous buckets in one direction merge into one anomaly (from, to, direction, score), and a
spike run that overlaps a level shift in the same direction is folded into it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from analysis.series import Series
from analysis.window import Window, iso

ROLL_WINDOW = 12
MIN_HISTORY = 5
SPIKE_Z = 6.0
SHIFT_Z = 4.0
CP_ALPHA = 1e-3
MIN_SEGMENT = 4
MAX_DEPTH = 3
REL_FLOOR = 0.02


def robust_scale(x: np.ndarray) -> float:
    """1.4826 * MAD of first differences / sqrt(2): the noise sd, unaffected by level shifts.

    numpy rather than scipy.stats.median_abs_deviation: the same two medians without ~1 ms of argument
    handling per call, and the report makes one call per (component, metric).
    """
    v = x[~np.isnan(x)]
    if v.size < 3:
        return 0.0
    d = np.diff(v)
    return float(1.482602218505602 * np.median(np.abs(d - np.median(d))) / math.sqrt(2))


def _noise_floor(metric: str, level: float, rows: float, overall: float) -> float:
    """The least noise a bucket can have: binomial for error rate (at the series' overall rate if higher,
    so a mostly-zero series is not judged by a zero), else REL_FLOOR of the level."""
    if metric == "error_rate":
        p = min(max(level, overall, 0.5 / max(rows, 1.0)), 1.0)
        return math.sqrt(p * (1 - p) / max(rows, 1.0))
    return REL_FLOOR * abs(level)


def spikes(x: np.ndarray, rows: np.ndarray, metric: str, scale: float) -> list[tuple[int, int, float, float, float]]:
    """Runs of anomalous buckets: (first, last, signed peak z, baseline, peak value)."""
    valid = np.flatnonzero(~np.isnan(x))
    overall = float(np.nanmean(x))
    flagged: list[tuple[int, float, float, float]] = []
    for pos, t in enumerate(valid):
        history = valid[max(0, pos - ROLL_WINDOW) : pos]
        if history.size < MIN_HISTORY:
            continue
        level = float(np.median(x[history]))
        s = max(scale, _noise_floor(metric, level, float(rows[t]), overall), 1e-12)
        z = (x[t] - level) / s
        if abs(z) >= SPIKE_Z:
            flagged.append((int(t), float(z), level, float(x[t])))
    runs: list[tuple[int, int, float, float, float]] = []
    for t, z, level, value in flagged:
        if runs and np.sign(runs[-1][2]) == np.sign(z) and _adjacent(valid, runs[-1][1], t):
            first, _, peak, base, peak_value = runs[-1]
            better = abs(z) > abs(peak)
            runs[-1] = (first, t, z if better else peak, base, value if better else peak_value)
        else:
            runs.append((t, t, z, level, value))
    return runs


def _adjacent(valid: np.ndarray, a: int, b: int) -> bool:
    """b is the next valid bucket after a (empty buckets in between do not break a run)."""
    i = int(np.searchsorted(valid, a))
    return i + 1 < valid.size and valid[i + 1] == b


def level_shifts(
    x: np.ndarray, scale: float, metric: str, rows: np.ndarray
) -> list[tuple[int, int, float, float, float]]:
    """Shifts as (first bucket after the shift, last bucket of that segment, signed score, before, after)."""
    idx = np.flatnonzero(~np.isnan(x))
    found: list[tuple[int, int, float, float, float]] = []
    _segment(x, idx, scale, metric, rows, found, depth=0)
    return sorted(found)


def _segment(x, idx, scale, metric, rows, found, depth) -> None:
    n = idx.size
    if depth >= MAX_DEPTH or n < 2 * MIN_SEGMENT:
        return
    v = x[idx]
    ranks = stats.rankdata(v)
    _, ties = np.unique(v, return_counts=True)
    tie_term = float(np.sum(ties**3 - ties)) / (n * (n - 1))
    k = np.arange(MIN_SEGMENT, n - MIN_SEGMENT + 1)
    # Mann-Whitney U of every split at once from cumulative rank sums, with the normal approximation and tie
    # correction that scipy.stats.mannwhitneyu uses for these sizes (calling it per split costs ~1 ms each)
    u = np.cumsum(ranks)[k - 1] - k * (k + 1) / 2.0
    sd = np.sqrt(k * (n - k) / 12.0 * ((n + 1) - tie_term))
    if not np.all(sd > 0):
        return
    z = np.abs(u - k * (n - k) / 2.0) / sd
    best = int(np.argmax(z))
    split = int(k[best])
    left, right = v[:split], v[split:]
    p = float(2 * special.ndtr(-z[best])) * len(k)  # two-sided, Bonferroni over the splits tried
    before, after = float(np.median(left)), float(np.median(right))
    floor = _noise_floor(metric, before, float(np.median(rows[idx])), float(np.mean(v)))
    noise = max(scale, floor, 1e-12)
    score = (after - before) / noise
    if p < CP_ALPHA and abs(score) >= SHIFT_Z:
        found.append((int(idx[split]), int(idx[-1]), float(score), before, after))
        _segment(x, idx[:split], scale, metric, rows, found, depth + 1)
        _segment(x, idx[split:], scale, metric, rows, found, depth + 1)


def detect(series: list[Series], window: Window) -> list[dict]:
    """Every anomaly of every (component, metric), highest score first."""
    out: list[dict] = []
    for s in series:
        for metric, x in s.values.items():
            if np.count_nonzero(~np.isnan(x)) < MIN_HISTORY + 1:
                continue
            scale = robust_scale(x)
            shifts = level_shifts(x, scale, metric, s.rows)
            found = [(a, b, z, base, val, "change_point") for a, b, z, base, val in shifts]
            for a, b, z, base, val in spikes(x, s.rows, metric, scale):
                if any(sa <= a <= sb and np.sign(sz) == np.sign(z) for sa, sb, sz, *_ in shifts):
                    continue  # the spike run is the start of a level shift already reported
                found.append((a, b, z, base, val, "rolling_median_mad"))
            for a, b, z, base, val, method in found:
                out.append(
                    {
                        "component": s.component,
                        "metric": metric,
                        "from": iso(window.bucket_start_ns(a)),
                        "to": iso(window.bucket_end_ns(b)),
                        "direction": "up" if z > 0 else "down",
                        "score": round(abs(z), 3),
                        "method": method,
                        "baseline_value": _round(base),
                        "value": _round(val),
                    }
                )
    out.sort(key=lambda a: (-a["score"], a["component"], a["metric"], a["from"]))
    return out


def _round(v: float) -> float:
    return float(f"{v:.6g}")
