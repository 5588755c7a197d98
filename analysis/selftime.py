"""Self time, roots and error attribution from the span tree: one vectorised pass over every frame in the window.

A frame's `ts` is the start of its execution and it ends `total_ms` later. For each span with children:

- **self (exclusive) time** = its duration minus the **union** of its children's [start, end) intervals clipped to
  its own, the definition Jaeger and Datadog use: children that run in parallel are subtracted once, not once
  each. The union is a sort and a running maximum per parent (children by start; each adds the part of its
  interval past the latest end so far), no Python loop per span. A span without children (or without a span
  id, or whose children fell outside the window) keeps self = total.
- **roots** are the requests: frames with no parent id, or, in a trace that has no parentless frame in the window,
  frames whose parent is not in the window (a remote parent: the caller is another process). A frame whose
  parent was sampled out in a trace that has its own root is neither a root nor a child anyone subtracts.
- **own failure**: a failed span none of whose children failed. A parent that failed because a child failed is
  a failed execution (`success_rate` keeps counting it) but not an error of its own: the error belongs to the
  deepest failing span, so one failure is not counted at every level of the tree.
- **request cost**: the cost of the root's trace (every frame with its trace_id in the window, each weighed by
  1/sample_rate), shared equally by the trace's roots when it has several; null when an LLM call of the trace
  could not be priced (never a partial figure shown as the whole).

Sampling: the recorder samples per component (recorder/sampling.py), not whole traces, so a parent can lose some
children. Each present child's share of the union is weighed by its 1/sample_rate (for children that run one
after another this is the Horvitz-Thompson estimate of the covered time), and self time is clipped to
[0, total]. With every child kept (sample_rate 1, the default, and always for errors and slow executions) self
time is exact.

Span ids are hashed to 64-bit keys (`KEYS`) in the store scan, so the joins run on integers and the string
columns are never materialised for the whole window.
"""

from __future__ import annotations

import polars as pl

_T = pl.col("trace_id")
KEYS: dict[str, pl.Expr] = {
    # a span's key and its parent's key use the same seed for the span id, so a child's `pk` equals its parent's `sk`
    "sk": pl.when(_T.is_not_null() & pl.col("span_id").is_not_null()).then(
        _T.hash(seed=1) ^ pl.col("span_id").hash(seed=2)
    ),
    "pk": pl.when(_T.is_not_null() & pl.col("parent_span_id").is_not_null()).then(
        _T.hash(seed=1) ^ pl.col("parent_span_id").hash(seed=2)
    ),
    "tk": pl.when(_T.is_not_null()).then(_T.hash(seed=1)),
    "parentless": pl.col("parent_span_id").is_null(),
}
_SCRATCH = ("sk", "pk", "tk", "parentless", "_linked", "_pt", "_pms", "_covered_us", "_failed_kid", "_trace_cost",
            "_unpriced", "_parentless", "_orphans", "_roots")  # fmt: skip
_UNPRICED = pl.col("model").is_not_null() & pl.col("cost_usd").is_null()


def _left(frame: pl.LazyFrame, other: pl.LazyFrame, on: str) -> pl.LazyFrame:
    return frame.join(other, on=on, how="left", maintain_order="left")


def annotate(df: pl.DataFrame) -> pl.DataFrame:
    """`df` (window.prepare's frame, with `KEYS` or the span id columns) plus self_ms, own_fail, root and
    request_cost (set on roots only, already divided by the root's weight: see `request_cost`); the keys go."""
    return annotated(df).collect()


def annotated(df: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """`annotate`'s result as a plan, for a caller that goes on querying it: the frames and the spans' intervals
    are materialised on the way (the reach of siblings needs them), the last joins are left to the caller's query
    (the live tick aggregates the annotated frames at once: each eager polars call costs a fixed ~0.3-0.8 ms)."""
    if "sk" not in df.lazy().collect_schema():
        df = df.lazy().with_columns(**KEYS)
    parents = df.lazy().filter(pl.col("sk").is_not_null()).select(pk="sk", _pt="t", _pms="total_ms")
    # one join gives every frame its parent's start and duration; `_linked`: the parent is in the window
    keyed = (
        _left(df.lazy(), parents.unique(subset="pk", keep="any"), "pk")
        .with_columns(_linked=pl.col("_pt").is_not_null())
        .collect()
        .lazy()
    )
    linked = keyed.filter(pl.col("_linked")).select("pk", "t", "total_ms", "w", "success", "_pt", "_pms")
    spans = linked.select(
        "pk",
        "w",
        "success",
        # in microseconds from the parent's start, clipped to the parent's interval
        _lo=((pl.col("t") - pl.col("_pt")) // 1000).clip(0),
        _hi=((pl.col("t") - pl.col("_pt")) // 1000 + (pl.col("total_ms") * 1000).cast(pl.Int64)).clip(
            0, (pl.col("_pms") * 1000).cast(pl.Int64)
        ),
    ).collect()
    per_parent = (
        reach(spans.sort("pk", "_lo"))
        .group_by("pk")
        .agg(
            _covered_us=((pl.col("_hi") - pl.max_horizontal("_lo", "_reach")).clip(0) * pl.col("w")).sum(),
            _failed_kid=(~pl.col("success")).any(),
        )
        .rename({"pk": "sk"})
    )
    traces = (
        keyed.filter(pl.col("tk").is_not_null())
        .group_by("tk")
        .agg(
            _trace_cost=(pl.col("cost_usd").fill_null(0.0) * pl.col("w")).sum(),
            _unpriced=_UNPRICED.any(),
            _parentless=pl.col("parentless").sum(),
            _orphans=(~pl.col("_linked")).sum(),
        )
        # roots per trace: its parentless frames, or, without any, the frames whose parent is not in the window
        .with_columns(_roots=pl.when(pl.col("_parentless") > 0).then("_parentless").otherwise("_orphans"))
    )
    return (
        _left(_left(keyed, per_parent, "sk"), traces, "tk")
        .with_columns(
            root=pl.col("parentless") | (~pl.col("_linked") & (pl.col("_parentless").fill_null(0) == 0)),
            self_ms=(pl.col("total_ms") - pl.col("_covered_us").fill_null(0.0) / 1000).clip(0.0, pl.col("total_ms")),
            own_fail=~pl.col("success") & ~pl.col("_failed_kid").fill_null(False),
        )
        .with_columns(request_cost=request_cost())
        .drop(_SCRATCH)
    )


def reach(kids: pl.DataFrame, *, lifted: bool | None = None) -> pl.LazyFrame:
    """Children sorted by (pk, _lo) plus `_reach`: the latest `_hi` among each child's earlier siblings (null for
    the first). One running maximum over all parents, each parent's values lifted above every earlier parent's
    by its rank times (the largest `_hi` + 1), restarts at every parent without a window function: ~2x faster
    than `cum_max().over("pk")`, which is used instead when the lifted values would not fit in 63 bits
    (`lifted` forces either way, for tests)."""
    if kids.is_empty():
        return kids.lazy().with_columns(_reach=pl.lit(None, dtype=pl.Int64))
    step = int(kids["_hi"].max()) + 1  # type: ignore[arg-type]
    if lifted is None:
        lifted = kids["pk"].n_unique() * step < 1 << 62
    lf = kids.lazy()
    if not lifted:
        return lf.with_columns(_reach=pl.col("_hi").cum_max().shift(1).over("pk"))
    rank = (pl.col("pk") != pl.col("pk").shift(1)).fill_null(True).cum_sum().cast(pl.Int64)
    first = pl.col("pk") != pl.col("pk").shift(1)
    return (
        lf.with_columns(_g=rank * step)
        .with_columns(_reach=pl.when(first.fill_null(True)).then(None).otherwise(
            (pl.col("_hi") + pl.col("_g")).cum_max().shift(1) - pl.col("_g")))
        .drop("_g")
    )  # fmt: skip


def request_cost() -> pl.Expr:
    """A root's share of its trace's weighted cost, divided by the root's own weight: the cube multiplies it back
    by that weight, so the weighted sum over roots is the traces' total cost and the sum over the weighted count
    of requests is the mean cost per request. A frame without a trace id is a tree of its own."""
    unpriced = pl.when(pl.col("tk").is_null()).then(_UNPRICED).otherwise(pl.col("_unpriced"))
    share = (
        pl.when(pl.col("tk").is_null())
        .then(pl.col("cost_usd").fill_null(0.0))
        .otherwise(pl.col("_trace_cost") / pl.col("_roots") / pl.col("w"))
    )
    return pl.when(pl.col("root") & ~unpriced).then(share)
