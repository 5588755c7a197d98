"""Anomalies in per-bucket series: spikes and level shifts judged against each bucket's own sampling noise,
never a fixed +-20 % band.

A bucket's value is an estimate from the frames it holds, and its noise depends on how many there are. Two
detectors per (component, metric), both on bucketed series:

- Spikes. Ratio metrics (latency p95, cost and tokens per call) are compared in log space, where their noise
  is roughly symmetric and proportional to the level: each bucket against the median of the previous
  ROLL_WINDOW valid buckets, in units of the bucket's noise (times sqrt(1 + pi / 2h) for the baseline
  median's own error). For latency that noise is the sampling error of a p95 estimated from the bucket's raw
  `rows` frames (order-statistic asymptotics: sqrt(p(1-p)/n) / f(q) with the density at the p95 from the
  series' median ln(p95/p50), i.e. 2.11 sigma / sqrt(n) in log space), unless the series' robust scale of
  first differences (1.4826 * MAD(diff) / sqrt(2), which a level shift or a few outliers do not inflate) is
  significantly larger, i.e. there is noise beyond sampling. Cost and tokens per call are means whose spread
  per call the rollup does not keep, so their noise is that robust scale alone and the score is referred to
  Student's t with its effective degrees of freedom. Never below LOG_FLOOR. Error rate uses an exact test
  instead: the bucket's error count against the previous buckets' pooled count (Fisher's exact test, i.e. the
  hypergeometric tail, so the baseline rate's own uncertainty counts), its p-value turned into a z-score.
  A bucket is anomalous when |z| >= SPIKE_Z.
- Level shifts: binary segmentation with the Mann-Whitney U statistic at every split (a rank test, so robust
  to outliers and to skewed noise), Bonferroni-corrected over the splits tried; a split counts when
  p < CP_ALPHA and the medians on each side differ by at least SHIFT_Z typical per-bucket noise scales; for
  error rate the pooled counts either side must also differ by Fisher's exact test (Bonferroni-corrected).
  The anomaly runs from the shift to the end of its segment.

Consecutive anomalous buckets in one direction merge into one anomaly (from, to, direction, score), and a
spike run that overlaps a level shift in the same direction is folded into it. Values and baselines are
reported in the metric's own units.

A score says how surely a bucket differs, not by how much: on thousands of frames per bucket a 5 % blip is
many noise sds out. So an anomaly is reported only when its value also differs from its baseline by the
metric's minimum effect (`series.large_enough`: 10 % for latency, cost and tokens per call; a fifth of the
error-rate threshold, in absolute terms, for error rate). `change` and `relative_change` carry that effect.
"""

from __future__ import annotations

import math

import numpy as np
from smythtop.analysis.results import Anomaly
from smythtop.analysis.series import Series, large_enough
from smythtop.analysis.window import Window, iso

RATIO_METRICS = frozenset({"latency_p95_ms", "cost_per_call_usd", "tokens_per_call"})
ROLL_WINDOW = 12
MIN_HISTORY = 5
SPIKE_Z = 4.5
SHIFT_Z = 1.0
CP_ALPHA = 1e-3
MIN_SEGMENT = 4
MAX_DEPTH = 3
MAD_EFFICIENCY = 0.37  # of the MAD as a scale estimate under normal noise
LOG_FLOOR = 0.02  # per-bucket values are within 2 % (the cube's per-bucket histograms), so no finer noise
# scipy is imported inside the functions that use it: at module level it cost ~1 s of every process that imports the
# report (the app's first paint), while the live part never reaches it. Z95 is scipy.stats.norm.ppf(0.95), to the bit.
Z95 = 1.6448536269514722
_PDF_Z95 = math.exp(-Z95 * Z95 / 2) / math.sqrt(2 * math.pi)  # the normal density at Z95 (= scipy's, to the bit)
P95_SE = math.sqrt(0.95 * 0.05) / _PDF_Z95  # sd of a p95 estimate * sqrt(n), in sds of log x


def robust_scale(x: np.ndarray) -> float:
    """1.4826 * MAD of first differences / sqrt(2): the noise sd, unaffected by level shifts.

    numpy rather than scipy.stats.median_abs_deviation: the same two medians without ~1 ms of argument
    handling per call, and the report makes several calls per (component, metric).
    """
    v = x[~np.isnan(x)]
    if v.size < 3:
        return 0.0
    d = np.diff(v)
    return float(1.482602218505602 * np.median(np.abs(d - np.median(d))) / math.sqrt(2))


def _working(metric: str, x: np.ndarray) -> np.ndarray:
    """Ratio metrics in log space (a zero, e.g. a free model, sits just below the smallest positive value)."""
    if metric not in RATIO_METRICS:
        return x
    pos = x[x > 0]
    if pos.size == 0:
        return np.full_like(x, np.nan)
    return np.log(np.maximum(x, 1e-3 * float(np.min(pos))))  # NaN stays NaN


def _original(metric: str, y: float) -> float:
    return math.exp(y) if metric in RATIO_METRICS else y


def _log_sigma(s: Series) -> float:
    """The latency distribution's sd in log space from the series' median ln(p95/p50) (0 when unknown)."""
    p50, p95 = s.p50_ms, s.values.get("latency_p95_ms")
    if p50 is None or p95 is None:
        return 0.0
    ok = (p50 > 0) & (p95 > 0)  # NaN compares False
    if not ok.any():
        return 0.0
    return float(np.median(np.log(p95[ok] / p50[ok]))) / Z95


def noise(metric: str, y: np.ndarray, s: Series) -> tuple[np.ndarray, float]:
    """Each bucket's noise sd in working space, and the degrees of freedom of its estimate (inf: a model).

    Where a sampling model gives the noise (binomial for error rate, the order statistic for latency p95),
    the series' MAD scale replaces it only when it is significantly larger (noise beyond sampling, at the 1 %
    level of a chi-square with the MAD's effective degrees of freedom): the MAD of ~60 differences is itself
    ~15 % noisy, and taking the larger of the two every time would cost sensitivity for nothing.
    """
    from scipy import stats

    rows = np.maximum(s.rows, 1.0)
    scale = robust_scale(y)
    valid = ~np.isnan(y)
    df = max(1.0, MAD_EFFICIENCY * (np.count_nonzero(valid) - 1))
    if metric == "error_rate":
        p = np.clip(np.maximum(_pooled_rate(y, s.rows), 0.5 / rows), 0.0, 1.0)
        model = np.sqrt(p * (1 - p) / rows)
    elif metric == "latency_p95_ms":
        model = P95_SE * _log_sigma(s) / np.sqrt(rows)
    else:
        model = np.zeros_like(y)
    model = np.maximum(model, 0.0 if metric == "error_rate" else LOG_FLOOR)
    typical = float(np.median(model[valid])) if valid.any() else 0.0
    modelled = metric in ("error_rate", "latency_p95_ms") and typical > 0
    if modelled and scale <= typical * math.sqrt(stats.chi2.ppf(0.99, df) / df):
        return model, math.inf
    return np.maximum(model, scale), df


def _pooled_rate(rate: np.ndarray, rows: np.ndarray) -> float:
    ok = ~np.isnan(rate)
    n = float(rows[ok].sum())
    return float((rate[ok] * rows[ok]).sum() / n) if n > 0 else 0.0


def _baselines(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each valid position with at least MIN_HISTORY earlier ones: (position, median of the previous
    ROLL_WINDOW values, how many there were). Full windows at once with a sliding view."""
    n = v.size
    pos = np.arange(MIN_HISTORY, n)
    size = np.minimum(pos, ROLL_WINDOW)
    med = np.empty(pos.size)
    for i, p in enumerate(pos[pos < ROLL_WINDOW]):
        med[i] = np.median(v[:p])
    if n > ROLL_WINDOW:
        med[pos >= ROLL_WINDOW] = np.median(np.lib.stride_tricks.sliding_window_view(v[:-1], ROLL_WINDOW), axis=1)
    return pos, med, size


def _window_sums(v: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The sum of the previous ROLL_WINDOW values before each position."""
    c = np.concatenate(([0.0], np.cumsum(v)))
    return c[pos] - c[np.maximum(pos - ROLL_WINDOW, 0)]


def spike_scores(metric: str, y: np.ndarray, s: Series, sd: np.ndarray, df: float) -> list[tuple[int, float, float]]:
    """(bucket, signed z, baseline in working space) for every bucket with enough history."""
    from scipy import special

    valid = np.flatnonzero(~np.isnan(y))
    if valid.size <= MIN_HISTORY:
        return []
    if metric == "error_rate":
        return _error_scores(y, s.rows, valid)
    pos, level, size = _baselines(y[valid])
    t = valid[pos]
    # the baseline median is itself an estimate: var(median of h) ~ (pi / 2) var / h
    z = (y[t] - level) / (sd[t] * np.sqrt(1 + np.pi / (2 * size)))
    if not math.isinf(df):
        # The scale is the MAD estimate (no sampling model for a mean per call, whose spread per call the
        # rollup does not keep, or noise beyond the model's): the score is a t statistic with the MAD's
        # effective degrees of freedom, turned back into the normal z of the same tail probability.
        # From the lower tail, floored as the error scores are: stdtr(df, |t|) rounds to 1.0 for a large t and
        # ndtri(1.0) is infinite (a score JSON cannot hold), while stdtr(df, -|t|) keeps its digits.
        z = -np.sign(z) * special.ndtri(np.maximum(special.stdtr(df, -np.abs(z)), 1e-300))
    return [(int(b), float(zz), float(lv)) for b, zz, lv in zip(t, z, level, strict=True)]


def _error_counts(rate: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Raw error counts: the weighted rate times the bucket's raw frames (exact for one sample_rate)."""
    return np.rint(np.nan_to_num(rate) * rows)


def _error_scores(rate: np.ndarray, rows: np.ndarray, valid: np.ndarray) -> list[tuple[int, float, float]]:
    """Fisher's exact test of each bucket's errors against its history's pooled errors, as signed z-scores."""
    from scipy import stats

    errors, trials = _error_counts(rate, rows)[valid], rows[valid]
    pos = np.arange(MIN_HISTORY, valid.size)
    e_t, n_t = errors[pos], trials[pos]
    e_h, n_h = _window_sums(errors, pos), _window_sums(trials, pos)
    args = (n_t + n_h, e_t + e_h, n_t)
    up, down = stats.hypergeom.sf(e_t - 1, *args), stats.hypergeom.cdf(e_t, *args)  # P(X >= e_t), P(X <= e_t)
    z = np.where(up < down, stats.norm.isf(np.maximum(up, 1e-300)), -stats.norm.isf(np.maximum(down, 1e-300)))
    z = np.where(np.minimum(up, down) >= 0.5, 0.0, z)
    base = e_h / np.maximum(n_h, 1.0)
    return [(int(b), float(zz), float(bb)) for b, zz, bb in zip(valid[pos], z, base, strict=True)]


def spikes(scores: list[tuple[int, float, float]], y: np.ndarray) -> list[tuple[int, int, float, float, float]]:
    """Runs of buckets with |z| >= SPIKE_Z: (first, last, signed peak z, baseline, peak value), working space."""
    valid = np.flatnonzero(~np.isnan(y))
    runs: list[tuple[int, int, float, float, float]] = []
    for t, z, level in scores:
        if abs(z) < SPIKE_Z:
            continue
        if runs and np.sign(runs[-1][2]) == np.sign(z) and _adjacent(valid, runs[-1][1], t):
            first, _, peak, base, peak_value = runs[-1]
            better = abs(z) > abs(peak)
            runs[-1] = (first, t, z if better else peak, base, float(y[t]) if better else peak_value)
        else:
            runs.append((t, t, z, level, float(y[t])))
    return runs


def _adjacent(valid: np.ndarray, a: int, b: int) -> bool:
    """b is the next valid bucket after a (empty buckets in between do not break a run)."""
    i = int(np.searchsorted(valid, a))
    return i + 1 < valid.size and valid[i + 1] == b


def level_shifts(
    y: np.ndarray, typical_sd: float, counts: tuple[np.ndarray, np.ndarray] | None = None
) -> list[tuple[int, int, float, float, float]]:
    """Shifts as (first bucket after the shift, last bucket of that segment, signed score, before, after).

    `counts` (errors, trials per bucket) make a split also pass Fisher's exact test on the pooled counts of
    either side: the rank test sees a few errors in a few small buckets as a big jump in their rates.
    """
    idx = np.flatnonzero(~np.isnan(y))
    found: list[tuple[int, int, float, float, float]] = []
    _segment(y, idx, max(typical_sd, 1e-12), counts, found, depth=0)
    return sorted(found)


def _segment(y: np.ndarray, idx: np.ndarray, sd: float, counts, found: list, depth: int) -> None:
    from scipy import special, stats

    n = idx.size
    if depth >= MAX_DEPTH or n < 2 * MIN_SEGMENT:
        return
    v = y[idx]
    ranks = stats.rankdata(v)
    _, ties = np.unique(v, return_counts=True)
    tie_term = float(np.sum(ties**3 - ties)) / (n * (n - 1))
    k = np.arange(MIN_SEGMENT, n - MIN_SEGMENT + 1)
    # Mann-Whitney U of every split at once from cumulative rank sums, with the normal approximation and tie
    # correction that scipy.stats.mannwhitneyu uses for these sizes (calling it per split costs ~1 ms each)
    u = np.cumsum(ranks)[k - 1] - k * (k + 1) / 2.0
    mw_sd = np.sqrt(k * (n - k) / 12.0 * ((n + 1) - tie_term))
    if not np.all(mw_sd > 0):
        return
    z = np.abs(u - k * (n - k) / 2.0) / mw_sd
    best = int(np.argmax(z))
    split = int(k[best])
    p = float(2 * special.ndtr(-z[best])) * len(k)  # two-sided, Bonferroni over the splits tried
    before, after = float(np.median(v[:split])), float(np.median(v[split:]))
    score = (after - before) / sd
    if p >= CP_ALPHA or abs(score) < SHIFT_Z:
        return
    if counts is not None:
        errors, trials = counts
        e = [float(errors[idx[:split]].sum()), float(errors[idx[split:]].sum())]
        t = [float(trials[idx[:split]].sum()), float(trials[idx[split:]].sum())]
        table = np.rint([[e[0], t[0] - e[0]], [e[1], t[1] - e[1]]]).astype(np.int64)
        if float(stats.fisher_exact(table).pvalue) * len(k) >= CP_ALPHA:
            return
    found.append((int(idx[split]), int(idx[-1]), float(score), before, after))
    _segment(y, idx[:split], sd, counts, found, depth + 1)
    _segment(y, idx[split:], sd, counts, found, depth + 1)


def detect(series: list[Series], window: Window, error_rate_threshold: float) -> list[Anomaly]:
    """Every anomaly of every (component, metric) large enough to matter, highest score first."""
    out: list[Anomaly] = []
    for s in series:
        for metric, x in s.values.items():
            y = _working(metric, x)
            valid = ~np.isnan(y)
            if np.count_nonzero(valid) < MIN_HISTORY + 1:
                continue
            sd, df = noise(metric, y, s)
            counts = (_error_counts(y, s.rows), s.rows) if metric == "error_rate" else None
            shifts = [
                shift
                for shift in level_shifts(y, float(np.median(sd[valid])), counts)
                if _large(metric, shift[3], shift[4], error_rate_threshold)
            ]
            found = [(a, b, z, base, val, "change_point") for a, b, z, base, val in shifts]
            for a, b, z, base, val in spikes(spike_scores(metric, y, s, sd, df), y):
                if any(sa <= a <= sb and np.sign(sz) == np.sign(z) for sa, sb, sz, *_ in shifts):
                    continue  # the spike run is the start of a level shift already reported
                if not _large(metric, base, val, error_rate_threshold):
                    continue
                found.append((a, b, z, base, val, "fisher_exact" if metric == "error_rate" else "rolling_median_mad"))
            for a, b, z, base, val, method in found:
                before, after = _round(_original(metric, base)), _round(_original(metric, val))
                out.append(
                    Anomaly(
                        component=s.component,
                        metric=metric,
                        from_=iso(window.bucket_start_ns(a)),
                        to=iso(window.bucket_end_ns(b)),
                        direction="up" if z > 0 else "down",
                        score=round(abs(z), 3),
                        method=method,
                        baseline_value=before,
                        value=after,
                        change=_round(after - before),
                        relative_change=_round(after / before - 1) if before else None,
                    )
                )
    out.sort(key=lambda a: (-a.score, a.component, a.metric, a.from_))
    return out


def _large(metric: str, base: float, value: float, error_rate_threshold: float) -> bool:
    """Whether value (working space) differs from base by at least the metric's minimum effect."""
    before, after = _original(metric, base), _original(metric, value)
    return large_enough(metric, after - before, before, error_rate_threshold)


def _round(v: float) -> float:
    return float(f"{v:.6g}")
