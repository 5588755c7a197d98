"""What the span tree says about how components work together.

- Flows: each parent -> child edge, with how often it is taken, P(child = B | parent = A), the bytes handed
  down (the child's input_bytes), the transformation ratio (child output / input bytes) and the information
  loss (1 - ratio, floored at 0: the share of what went in that did not come out).
- Affinity: P(next = B | A) over siblings in start order: which component runs right after which.

An edge counts with weight w_parent * w_child: frames are sampled independently per component, so both
ends of an edge survive with probability r_parent * r_child.
"""

from __future__ import annotations

import polars as pl
from smythtop.analysis.results import Affinity, Flow
from smythtop.analysis.spans import SpanSample


def flows(s: SpanSample, limit: int = 50) -> list[Flow]:
    if s.empty:
        return []
    e = s.edges.with_columns(ew=pl.col("w") * pl.col("parent_w") * s.scale)
    per_edge = (
        e.group_by("parent_component", "component")
        .agg(
            count=pl.col("ew").sum(),
            bytes_in=(pl.col("input_bytes").cast(pl.Float64) * pl.col("ew")).sum(),
            bytes_out=(pl.col("output_bytes").cast(pl.Float64) * pl.col("ew")).sum(),
            measured=pl.col("input_bytes").is_not_null().any(),
        )
        .with_columns(probability=pl.col("count") / pl.col("count").sum().over("parent_component"))
        .with_columns(
            ratio=pl.when(pl.col("measured") & (pl.col("bytes_in") > 0)).then(pl.col("bytes_out") / pl.col("bytes_in"))
        )
        .sort(["count", "parent_component", "component"], descending=[True, False, False])
        .head(limit)
    )
    return [
        Flow(
            from_=r["parent_component"],
            to=r["component"],
            count=round(r["count"], 3),
            probability=round(r["probability"], 6),
            bytes=int(r["bytes_in"]) if r["measured"] else None,
            transformation_ratio=None if r["ratio"] is None else round(r["ratio"], 6),
            information_loss=None if r["ratio"] is None else round(max(0.0, 1.0 - r["ratio"]), 6),
        )
        for r in per_edge.iter_rows(named=True)
    ]


def affinity(s: SpanSample, limit: int = 50) -> list[Affinity]:
    if s.empty:
        return []
    sib = s.siblings.filter(pl.col("prev_component").is_not_null())
    if sib.is_empty():
        return []
    pairs = (
        sib.with_columns(ew=pl.col("w") * pl.col("parent_w") * s.scale)
        .group_by("prev_component", "component")
        .agg(count=pl.col("ew").sum())
        .with_columns(probability=pl.col("count") / pl.col("count").sum().over("prev_component"))
        .sort(["count", "prev_component", "component"], descending=[True, False, False])
        .head(limit)
    )
    return [
        Affinity(
            from_=r["prev_component"],
            to=r["component"],
            count=round(r["count"], 3),
            probability=round(r["probability"], 6),
        )
        for r in pairs.iter_rows(named=True)
    ]
