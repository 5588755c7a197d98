"""Bounded cardinality: every per-name list of a report keeps its top `Thresholds.max_rows` names, and the rest
fold into one `OTHER` row, so the report's time and memory grow with rows, not with distinct names.

Agents name their components, models and agents freely (one agent recorded 1e6 distinct component names), and
everything per name downstream of the cube (rows, sparklines, series, detectors, recommendations) is Python
work per name. So:

- components fold once, in `cube.build`, before anything is grouped by name: the top names by weighted
  execution time keep their own rows and every other frame is relabelled `OTHER`. Sums, counts and
  percentiles of the `OTHER` row are then those of the folded frames together, and totals do not change;
- the other lists (agent x component, models, LLM calls by agent and by provider) are re-grouped from the
  cube's small frames (`rollup.capped`): when a rollup has more than max_rows groups, the dims of the groups outside
  its top max_rows are relabelled `OTHER` and the rollup is run again, so the `OTHER` row is exact too.

Ranking is by weighted time for components (what a performance monitor is about) and by cost, then calls,
for the LLM lists; ties break by name so the cut is deterministic. Only polars group-bys see every name.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

OTHER = "(other)"  # in brackets like the fleet's "(all)", so it does not read as a component's own name


def label(column: str, kept: pl.Series | None) -> pl.Expr:
    """`column`, with every value outside `kept` replaced by OTHER (unchanged when `kept` is None)."""
    if kept is None:
        return pl.col(column)
    return pl.when(pl.col(column).is_in(kept.implode(), nulls_equal=True)).then(pl.col(column)).otherwise(pl.lit(OTHER))


def top(frame: pl.DataFrame, by: Sequence[str], score: Sequence[str], n: int) -> pl.DataFrame:
    """The n groups of `by` with the largest `score` columns (compared in order), ties broken by name."""
    return frame.sort([*score, *by], descending=[True] * len(score) + [False] * len(by), nulls_last=True).head(n)


def folded(distinct: int, n: int) -> int:
    """How many names a list of `distinct` names folds into its OTHER row when it keeps n."""
    return max(0, distinct - n)
