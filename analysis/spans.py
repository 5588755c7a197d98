"""The span tree: parent/child edges, sibling order and critical paths, from trace_id/span_id/parent_span_id.

A frame's `ts` is the start of the execution; it ends `total_ms` later. Tree analyses need a join of spans to
their parents, which costs ~0.4 s per 10M rows, so above `MAX_SPANS` spans they run on a deterministic sample
of whole traces (chosen by a hash of trace_id) and counts are scaled by the inverse sampling fraction.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property

import polars as pl

MAX_SPANS = 30_000
MAX_CRITICAL_TRACES = 1_000  # the critical-path walk is per trace (Python); shares settle long before this
_SPAN_COLS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "component",
    "t",
    "total_ms",
    "success",
    "w",
    "input_bytes",
    "output_bytes",
    "b",
)


@dataclass(frozen=True)
class SpanSample:
    spans: pl.DataFrame  # _SPAN_COLS + end (ns)
    scale: float  # 1 / fraction of traces kept

    @property
    def empty(self) -> bool:
        return self.spans.height == 0

    @cached_property
    def edges(self) -> pl.DataFrame:
        return _edges(self)

    @cached_property
    def siblings(self) -> pl.DataFrame:
        return _siblings(self)


def sample(frames: pl.DataFrame | pl.LazyFrame, max_spans: int = MAX_SPANS) -> SpanSample:
    """Spans that have a trace and a span id, whole traces only, at most about max_spans of them.

    `frames` needs `w`, `t` and `b` (window.prepare or window.derived). Lazy input is read twice: once for
    trace_id alone to count, then only the sampled traces' rows.
    """
    traced = frames.lazy().filter(pl.col("trace_id").is_not_null() & pl.col("span_id").is_not_null())
    total = traced.select(pl.len()).collect().item()
    modulus = max(1, -(-total // max_spans))
    if modulus > 1:
        traced = traced.filter(pl.col("trace_id").hash(seed=7) % modulus == 0)
    spans = (
        traced.select(_SPAN_COLS)
        .with_columns(end=pl.col("t") + (pl.col("total_ms") * 1e6).cast(pl.Int64))
        .unique(subset=["trace_id", "span_id"], keep="first", maintain_order=True)
        .collect()
    )
    return SpanSample(spans, float(modulus))


def _edges(s: SpanSample) -> pl.DataFrame:
    """One row per child span whose parent is present: parent's component, child's fields, both weights."""
    parents = s.spans.select(
        "trace_id",
        parent_span_id="span_id",
        parent_component="component",
        parent_w="w",
        parent_t="t",
        parent_end="end",
    )
    return s.spans.filter(pl.col("parent_span_id").is_not_null()).join(
        parents, on=["trace_id", "parent_span_id"], how="inner"
    )


def _siblings(s: SpanSample) -> pl.DataFrame:
    """Children in start order per parent, with the previous sibling's component, end and output bytes and
    whether this child started only after every earlier sibling had ended (`sequential`)."""
    tol_ns = 1_000_000  # 1 ms: clocks and bookkeeping between calls
    group = ["pk"]  # one integer per parent: window functions over it are cheaper than over two strings
    return (
        s.edges.with_columns(pk=pl.struct("trace_id", "parent_span_id").hash())
        .sort([*group, "t", "end"])
        .with_columns(
            prev_component=pl.col("component").shift(1).over(group),
            prev_output_bytes=pl.col("output_bytes").shift(1).over(group),
            prev_success=pl.col("success").shift(1).over(group),
            prev_end_max=pl.col("end").cum_max().shift(1).over(group),
            order=pl.int_range(pl.len()).over(group),
        )
        .with_columns(
            sequential=pl.col("prev_end_max").is_not_null() & (pl.col("t") >= pl.col("prev_end_max") - tol_ns)
        )
    )


def critical_path(s: SpanSample, max_traces: int = MAX_CRITICAL_TRACES) -> tuple[dict[str, float], int]:
    """Each component's share of end-to-end trace time on the critical path, and the number of traces walked.

    Walks each parent's interval backwards from its end: the child that ended last before the current point
    is on the path, the point moves to that child's start, and the parent's own time in between counts for
    the parent. Shares over all walked roots add up to 1. Plain Python: a graph walk, not an aggregation.
    """
    spans = s.spans
    if spans.is_empty():
        return {}, 0
    trace_ids = spans.select(pl.col("trace_id").unique().sort()).to_series()
    if trace_ids.len() > max_traces:
        keep = trace_ids.sample(max_traces, seed=11)
        spans = spans.filter(pl.col("trace_id").is_in(keep.implode()))
    rows = spans.select("trace_id", "span_id", "parent_span_id", "component", "t", "end", "w").rows()
    by_trace: dict[str, list[tuple]] = defaultdict(list)
    for row in rows:
        by_trace[row[0]].append(row)
    contrib: dict[str, float] = defaultdict(float)
    total = 0.0
    for trace_rows in by_trace.values():
        ids = {r[1] for r in trace_rows}
        kids: dict[str, list[tuple]] = defaultdict(list)
        roots = []
        for r in trace_rows:
            if r[2] is not None and r[2] in ids and r[2] != r[1]:
                kids[r[2]].append(r)
            else:
                roots.append(r)
        for kid_list in kids.values():
            kid_list.sort(key=lambda r: r[5], reverse=True)
        for root in roots:
            weight = root[6]
            total += (root[5] - root[4]) * weight
            _walk(root, root[4], root[5], kids, contrib, weight, depth=0)
    if total <= 0:
        return {}, len(by_trace)
    return {c: v / total for c, v in contrib.items()}, len(by_trace)


def _walk(span: tuple, lo: int, hi: int, kids: dict, contrib: dict, weight: float, depth: int) -> None:
    cur = hi
    own = 0
    if depth < 64:  # a malformed (cyclic or absurdly deep) tree stops here rather than recursing forever
        for kid in kids.get(span[1], ()):
            if kid[4] >= cur or kid[5] <= lo:
                continue
            k_hi, k_lo = min(kid[5], cur), max(kid[4], lo)
            own += cur - k_hi
            _walk(kid, k_lo, k_hi, kids, contrib, weight, depth + 1)
            cur = k_lo
            if cur <= lo:
                break
    own += max(cur - lo, 0)
    contrib[span[3]] += own * weight


MIN_PAIR_SAMPLES = 20  # sibling pairs needed before their byte sizes can vouch for independence


def _independent_pairs(sib: pl.DataFrame) -> dict[tuple[str, str, str], str]:
    """(parent component, earlier sibling, later sibling) -> why the later one does not need the earlier's output.

    Evidence, strongest first: the two run in either order across traces; or the later one's input size does
    not follow the earlier one's output size (Spearman rho < 0.3 or p >= 0.05 over MIN_PAIR_SAMPLES pairs);
    or it is the same component repeated (a fan-out), unless sizes say it chains. A pair that alternates
    inside one parent execution (A -> B -> A: an agent loop, each step feeding the next) is never independent.
    """
    from scipy import stats

    pairs = sib.filter(pl.col("prev_component").is_not_null())
    if pairs.is_empty():
        return {}
    steps = pairs.select("pk", "parent_component", a="prev_component", b="component").unique()
    looped = (
        steps.filter(pl.col("a") != pl.col("b"))
        .join(steps.rename({"a": "b", "b": "a"}), on=["pk", "parent_component", "a", "b"], how="semi")
        .select("parent_component", "a", "b")
        .unique()
    )
    seen = steps.select("parent_component", "a", "b").unique().join(looped, on=["parent_component", "a", "b"],
                                                                     how="anti")  # fmt: skip
    both = seen.join(seen.rename({"a": "b", "b": "a"}), on=["parent_component", "a", "b"], how="semi")
    out = {(p, a, b): "runs in either order across traces" for p, a, b in both.filter(pl.col("a") != pl.col("b"))
           .iter_rows()}  # fmt: skip
    sized = (
        pairs.filter(pl.col("prev_output_bytes").is_not_null() & pl.col("input_bytes").is_not_null())
        .group_by("parent_component", "prev_component", "component")
        .agg(x=pl.col("prev_output_bytes"), y=pl.col("input_bytes"))
    )
    chained: set[tuple[str, str, str]] = set()
    allowed = set(seen.iter_rows())
    for p, a, b, x, y in sized.iter_rows():
        key = (p, a, b)
        if key in out or key not in allowed or len(x) < MIN_PAIR_SAMPLES:
            continue
        if min(x) == max(x) or min(y) == max(y):
            continue
        rho, pval = stats.spearmanr(x, y)
        if abs(rho) < 0.3 or pval >= 0.05:
            out[key] = f"input size does not follow the previous output (Spearman rho {rho:.2f}, p {pval:.2g})"
        else:
            chained.add(key)
    for p, a, b in seen.iter_rows():
        if a == b and (p, a, b) not in out and (p, a, b) not in chained:
            out[(p, a, b)] = f"{a} repeated under one parent (a fan-out)"
    return out


def parallel_candidates(s: SpanSample, min_parents: int = 3) -> list[dict]:
    """Runs of siblings that ran one after another although none needs the previous one's output.

    The gain of a run is the sum of its siblings' times minus the slowest one (what running them
    concurrently would save). A failed execution followed by the same component is a retry, not a fan-out,
    and breaks the run. Grouped by parent component and the set of siblings, largest total gain first;
    `patterns` counts the sets seen under the same parent.
    """
    if s.empty:
        return []
    sib = s.siblings
    indep = _independent_pairs(sib)
    if not indep:
        return []
    keys = pl.DataFrame(
        [(p, a, b, why) for (p, a, b), why in indep.items()],
        schema={"parent_component": pl.String, "prev_component": pl.String, "component": pl.String, "why": pl.String},
        orient="row",
    )
    group = ["pk"]
    runs = (
        sib.join(keys, on=["parent_component", "prev_component", "component"], how="left")
        .with_columns(
            link=pl.col("sequential")
            & pl.col("why").is_not_null()
            & ~((pl.col("prev_component") == pl.col("component")) & ~pl.col("prev_success").fill_null(True))
        )
        .with_columns(run=(~pl.col("link")).cum_sum().over(group))
        .group_by([*group, "run"])
        .agg(
            n=pl.len(),
            total=pl.col("total_ms").sum(),
            slowest=pl.col("total_ms").max(),
            members=pl.col("component").sort(),
            why=pl.col("why").drop_nulls().first(),
            parent_component=pl.col("parent_component").first(),
            parent_w=pl.col("parent_w").first(),
            parent_ms=((pl.col("parent_end") - pl.col("parent_t")) / 1e6).first(),
        )
        .filter(pl.col("n") >= 2)
        .with_columns(gain=pl.col("total") - pl.col("slowest"), members=pl.col("members").list.unique().list.sort())
    )
    if runs.is_empty():
        return []
    grouped = (
        runs.group_by("parent_component", "members")
        .agg(
            parents=(pl.col("parent_w") * s.scale).sum(),
            rows=pl.len(),
            mean_gain_ms=(pl.col("gain") * pl.col("parent_w")).sum() / pl.col("parent_w").sum(),
            mean_parent_ms=(pl.col("parent_ms") * pl.col("parent_w")).sum() / pl.col("parent_w").sum(),
            run_length=pl.col("n").median(),
            why=pl.col("why").first(),
        )
        .filter(pl.col("rows") >= min_parents)
        .with_columns(
            total_gain_ms=pl.col("mean_gain_ms") * pl.col("parents"),
            patterns=pl.len().over("parent_component"),
        )
        .sort(["total_gain_ms", "parent_component"], descending=[True, False])
    )
    return grouped.to_dicts()
