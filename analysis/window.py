"""The analysis window: which frames count, and the time buckets that every series uses.

`prepare` materialises the needed columns once, adds the weight `w = 1/sample_rate` and the bucket index
`b`, so every later group-by runs on one in-memory frame instead of re-reading the store. It also measures the
time the data covers (`analysis.coverage`): every per-hour or per-day figure divides by that, never by the
window's empty part.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import polars as pl
from smythtop.analysis import coverage, results
from smythtop.analysis.coverage import Coverage

NS_PER_S = 1_000_000_000
# windows this long or longer are answered from rollups (`analysis.longwindow`: the app's 1 h, 24 h, 7 d, all);
# here, not there, so a front-end tells a long window without importing the rollups' reader
LONG_WINDOW_NS = 3600 * 10**9
TARGET_BUCKETS = 60
# Bucket widths a human reads without arithmetic; the smallest that gives <= TARGET_BUCKETS buckets wins.
NICE_BUCKETS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)

COLUMNS = (
    "ts",
    "agent_id",
    "component",
    "total_ms",
    "success",
    "trace_id",
    "span_id",
    "parent_span_id",
    "input_ms",
    "core_ms",
    "output_ms",
    "queue_ms",
    "mem_delta_bytes",
    "mem_pressure",
    "input_bytes",
    "output_bytes",
    "model",
    "provider",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cache_write_1h_tokens",
    "cost_usd",
    "context_utilization",
    "ttft_ms",
    "error_type",
    "http_status",
    "retry_count",
    "sample_rate",
)
# What the report reads in bulk; the span-tree columns are read only for the sampled traces (spans.sample), the
# error columns only for failed frames (recommend.rate_limits), the 1-hour cache writes only to price frames.
SPAN_ONLY = ("trace_id", "span_id", "parent_span_id", "input_bytes", "output_bytes")
REPORT_COLUMNS = tuple(
    c for c in COLUMNS if c not in {*SPAN_ONLY, "error_type", "http_status", "cache_write_1h_tokens"}
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@cache
def frame_schema() -> pl.Schema:
    """The polars schema of a frame, derived from the store's Arrow schema (the single source of truth)."""
    from smythtop.store.schema import arrow_schema

    return pl.from_arrow(arrow_schema().empty_table()).schema  # type: ignore[union-attr]


def to_ns(value: datetime | int) -> int:
    """A datetime (naive means UTC) or ns int, as ns since the epoch, exact to the microsecond."""
    if isinstance(value, int):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(microseconds=1) * 1000


def iso(ns: int) -> str:
    """ISO 8601 UTC with a Z, to the millisecond (what a person or a JSON consumer wants)."""
    dt = _EPOCH + timedelta(microseconds=ns // 1000)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Window:
    """[start_ns, end_ns) split into n_buckets buckets of bucket_ns; `coverage` is the part its data covers, the
    basis of every rate (`basis_s`, `basis_hours`, `basis_minutes`)."""

    start_ns: int
    end_ns: int
    bucket_ns: int
    n_buckets: int
    coverage: Coverage

    @property
    def basis_s(self) -> float:
        return self.coverage.seconds

    @property
    def basis_hours(self) -> float:
        return self.coverage.hours

    @property
    def basis_minutes(self) -> float:
        return self.coverage.minutes

    @property
    def duration_s(self) -> float:
        return max((self.end_ns - self.start_ns) / NS_PER_S, 1.0)

    @property
    def bucket_s(self) -> float:
        return self.bucket_ns / NS_PER_S

    def bucket_start_ns(self, b: int) -> int:
        return self.start_ns + b * self.bucket_ns

    def bucket_end_ns(self, b: int) -> int:
        return min(self.start_ns + (b + 1) * self.bucket_ns, self.end_ns)

    def bucket_hours(self) -> list[float]:
        """Each bucket's midpoint, in hours since the window start (the x of every trend fit)."""
        return [((b + 0.5) * self.bucket_ns) / (3600 * NS_PER_S) for b in range(self.n_buckets)]

    def covered_ns(self, b: int) -> int:
        """How much of bucket b the data covers (ns)."""
        lo = max(self.bucket_start_ns(b), self.coverage.start_ns)
        return max(0, min(self.bucket_end_ns(b), self.coverage.end_ns) - lo)

    def result(self) -> results.Window:
        """The window as results show it: ISO bounds, bucket width, duration and the basis of its rates."""
        c = self.coverage
        basis = results.Basis(
            from_=iso(c.start_ns),
            to=iso(c.end_ns),
            seconds=c.seconds,
            frames=c.frames,
            burstiness=c.burstiness,
            confidence=c.confidence,
            note=c.note,
        )
        return results.Window(
            from_=iso(self.start_ns),
            to=iso(self.end_ns),
            bucket_s=self.bucket_s,
            duration_s=self.duration_s,
            basis=basis,
        )


def make_window(
    start_ns: int,
    end_ns: int,
    target_buckets: int = TARGET_BUCKETS,
    covered: Coverage | None = None,
    bucket_ns: int | None = None,
) -> Window:
    """[start, end) in buckets of `bucket_ns`, by default the nicest width giving <= target_buckets buckets;
    `covered` defaults to the whole window (`coverage.whole`)."""
    if bucket_ns is None:
        span_s = max((end_ns - start_ns) / NS_PER_S, 1.0)
        width = next((s for s in NICE_BUCKETS_S if span_s / s <= target_buckets), None)
        if width is None:  # longer than TARGET_BUCKETS days: whole days, as many as needed to fit
            width = 86400 * -(-int(span_s) // (86400 * target_buckets))
        bucket_ns = width * NS_PER_S
    n = max(1, -(-(end_ns - start_ns) // bucket_ns))
    return Window(start_ns, end_ns, bucket_ns, int(n), covered or coverage.whole(start_ns, end_ns))


def aligned(span_ns: int, now_ns: int, target_buckets: int = TARGET_BUCKETS) -> Window:
    """The live window of a span at `now`: whole buckets aligned to wall-clock multiples of the width (like
    Prometheus steps) plus the current partial one, so it starts up to one bucket before `now - span`.

    Aligned buckets are what lets the live app keep one partial aggregate per bucket (`analysis.partial`):
    a bucket's bounds never move, so frames only ever enter the newest bucket and whole buckets leave.
    """
    width = make_window(0, span_ns, target_buckets).bucket_ns
    return make_window((now_ns - span_ns) // width * width, now_ns, bucket_ns=width)


def conform(frames: pl.DataFrame | pl.LazyFrame, columns: tuple[str, ...] = COLUMNS) -> pl.LazyFrame:
    """The named columns with the contract's dtypes; a missing optional column becomes all-null."""
    lf = frames.lazy()
    have = lf.collect_schema()
    schema = frame_schema()
    missing = [c for c in ("ts", "component", "total_ms") if c not in have]
    if missing:
        raise ValueError(f"frames lack required column(s): {', '.join(missing)}")
    exprs = []
    for name in columns:
        dtype = schema[name]
        if name not in have:
            default = True if name == "success" else (1.0 if name == "sample_rate" else None)
            exprs.append(pl.lit(default, dtype=dtype).alias(name))
        elif have[name] != dtype:
            exprs.append(pl.col(name).cast(dtype).alias(name))
        else:
            exprs.append(pl.col(name))
    return lf.select(exprs)


def scope(
    frames: pl.DataFrame | pl.LazyFrame, window_from: datetime | int | None, window_to: datetime | int | None
) -> pl.LazyFrame:
    """The conformed frames with `since <= ts < until` (lazy: nothing is read yet)."""
    lf = conform(frames)
    if window_from is not None:
        lf = lf.filter(pl.col("ts") >= pl.lit(to_ns(window_from)).cast(pl.Datetime("ns", "UTC")))
    if window_to is not None:
        lf = lf.filter(pl.col("ts") < pl.lit(to_ns(window_to)).cast(pl.Datetime("ns", "UTC")))
    return lf


def weighted(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.with_columns(
        w=1.0 / pl.col("sample_rate").fill_null(1.0),
        t=pl.col("ts").dt.epoch("ns"),
        success=pl.col("success").fill_null(True),
    )


def _bucket(win: Window) -> pl.Expr:
    return ((pl.col("t") - win.start_ns) // win.bucket_ns).clip(0, win.n_buckets - 1).cast(pl.Int32).alias("b")


def derived(lf: pl.LazyFrame, win: Window) -> pl.LazyFrame:
    """A scoped LazyFrame with the same `w`, `t` and `b` columns that `prepare` adds."""
    return weighted(lf).with_columns(_bucket(win))


def prepare(
    frames: pl.DataFrame | pl.LazyFrame,
    window_from: datetime | int | None = None,
    window_to: datetime | int | None = None,
    *,
    columns: tuple[str, ...] = COLUMNS,
    target_buckets: int = TARGET_BUCKETS,
    extra: Mapping[str, pl.Expr] | None = None,
    bucket_ns: int | None = None,
) -> tuple[pl.DataFrame, Window]:
    """Frames in [from, to) (only `columns`, plus `extra` named expressions of the conformed frame), with `w`
    (weight), `t` (ts as ns int) and `b` (bucket) added.

    A bound left out is taken from the data: the window then runs from the first frame to just after the last.
    The window's `coverage` is measured on the frames in it (`analysis.coverage.measure`). `bucket_ns` fixes the
    bucket width (an `aligned` live window), else `make_window` picks it.
    """
    lo = explicit_from = to_ns(window_from) if window_from is not None else None
    hi = explicit_to = to_ns(window_to) if window_to is not None else None
    df = weighted(scope(frames, window_from, window_to).select(*columns, **(extra or {}))).collect()
    if lo is None or hi is None:
        bounds = df.select(lo=pl.col("t").min(), hi=pl.col("t").max()).row(0)
        if lo is None:
            lo = bounds[0] if bounds[0] is not None else (hi if hi is not None else 0)
        if hi is None:
            hi = bounds[1] + 1 if bounds[1] is not None else lo
    if hi < lo:
        raise ValueError("the window ends before it starts")
    covered = coverage.measure(df, explicit_from, explicit_to)
    win = make_window(lo, hi, target_buckets, covered, bucket_ns)
    return df.with_columns(_bucket(win)), win
