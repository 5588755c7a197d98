"""Frames with known answers, built as polars DataFrames in the store's schema."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from smythtop.analysis.window import frame_schema

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T0_NS = int(T0.timestamp()) * 1_000_000_000
MS = 1_000_000
MIN = 60 * 1_000_000_000


def frames(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """A DataFrame with every schema column (missing ones null, sample_rate 1.0), ts as ns ints or datetimes."""
    schema = frame_schema()
    rows = list(rows)
    data: dict[str, list] = {name: [] for name in schema}
    for r in rows:
        for name in schema:
            v = r.get(name)
            if name == "sample_rate" and v is None:
                v = 1.0
            if name == "agent_id" and v is None:
                v = "agent-1"
            if name == "success" and v is None:
                v = True
            data[name].append(v)
    out = {}
    for name, dtype in schema.items():
        if name == "ts":
            out[name] = pl.Series(name, data[name], dtype=pl.Int64).cast(pl.Datetime("ns", "UTC"))
        elif name == "tags":
            out[name] = pl.Series(name, [None] * len(rows), dtype=dtype)
        else:
            out[name] = pl.Series(name, data[name], dtype=dtype)
    return pl.DataFrame(out)


def series_frames(
    component: str,
    values_per_bucket: Iterable[np.ndarray],
    *,
    bucket_ns: int = MIN,
    start_ns: int = T0_NS,
    **extra: Any,
) -> list[dict]:
    """Rows of one component: bucket i holds the given latencies, spread evenly inside the bucket."""
    rows = []
    for i, values in enumerate(values_per_bucket):
        n = len(values)
        for j, v in enumerate(values):
            ts = start_ns + i * bucket_ns + (j * bucket_ns) // max(n, 1)
            rows.append({"ts": ts, "component": component, "total_ms": float(v), **extra})
    return rows


def window_of(n_buckets: int, bucket_ns: int = MIN, start_ns: int = T0_NS) -> tuple[datetime, datetime]:
    """The [from, to) datetimes covering n_buckets buckets (so the report uses exactly that grid when it fits)."""
    start = T0 + timedelta(microseconds=(start_ns - T0_NS) // 1000)
    return start, start + timedelta(microseconds=n_buckets * bucket_ns // 1000)
