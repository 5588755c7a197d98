"""The A-F grade: error rate and per-component SLO attainment, never a pooled p95.

Each execution is judged against its own component's latency SLO (a fast cache lookup is not excused by a
slow LLM call, and a slow LLM call is not condemned by the cache's SLO), on its **self time** (a parent is not
slow for its children's time: `selftime`), and each failure counts once, at the deepest failing span (a parent
that failed because its child failed adds nothing). Three sub-grades, the worst wins:

- fleet SLO attainment (share of executions within their component's SLO): >= 99 % A, 95 % B, 90 % C, 80 % D;
- error rate against the threshold t: <= t/5 A, t/2 B, t C, 2t D;
- the worst component with at least MIN_ROWS frames, by its own attainment: >= 95 % A (its p95 is within
  the SLO), 90 % B, 80 % C, 50 % D.
Anything below the last step is F.
"""

from __future__ import annotations

import polars as pl
from smythtop.analysis.results import GradeDetail, SubGrades, WorstComponent
from smythtop.analysis.rows import slo_for
from smythtop.analysis.thresholds import Thresholds

MIN_ROWS = 20
GRADES = "ABCDF"
RULE = (
    "worst of three: fleet SLO attainment (>=99% A, >=95% B, >=90% C, >=80% D), error rate vs threshold t"
    " (<=t/5 A, <=t/2 B, <=t C, <=2t D), and the worst component's own SLO attainment (>=95% A, >=90% B,"
    " >=80% C, >=50% D); anything lower is F"
)
_SLO_STEPS = (0.99, 0.95, 0.90, 0.80)
_WORST_STEPS = (0.95, 0.90, 0.80, 0.50)
_ERROR_FACTORS = (0.2, 0.5, 1.0, 2.0)


def _at_least(value: float, steps: tuple[float, ...]) -> str:
    return next((GRADES[i] for i, s in enumerate(steps) if value >= s), "F")


def _error_grade(rate: float, limit: float) -> str:
    return next((GRADES[i] for i, f in enumerate(_ERROR_FACTORS) if rate <= f * limit), "F")


def grade(components: pl.DataFrame, thresholds: Thresholds) -> tuple[str, str, GradeDetail]:
    """(letter, one-line reason, detail) from per-component rollup rows (executions, errors, slo_ok, rows)."""
    executions = float(components["executions"].sum()) if components.height else 0.0
    if executions <= 0:
        return "-", "no executions in the window", GradeDetail(rule=RULE)
    attainment = float(components["slo_ok"].sum()) / executions
    error_rate = float(components["own_errors"].sum()) / executions
    worst = (  # one query: each eager polars call costs a fixed ~0.3-0.8 ms, and this runs every live tick
        components.lazy().filter(pl.col("rows") >= MIN_ROWS)
        .sort(["slo_attainment", "executions"], descending=[False, True]).head(1).collect()
    )  # fmt: skip
    worst_row = worst.row(0, named=True) if worst.height else None
    subs = {
        "slo": _at_least(attainment, _SLO_STEPS),
        "errors": _error_grade(error_rate, thresholds.error_rate),
        "worst_component": _at_least(worst_row["slo_attainment"], _WORST_STEPS) if worst_row else "A",
    }
    letter = max(subs.values(), key=GRADES.index)
    reasons = []
    if subs["slo"] == letter:
        reasons.append(f"{attainment:.1%} of executions met their component's p95 SLO")
    if subs["errors"] == letter:
        reasons.append(f"error rate {error_rate:.2%} vs {thresholds.error_rate:.0%} threshold")
    if worst_row and subs["worst_component"] == letter:
        slo_ms = slo_for(worst_row, thresholds)
        reasons.append(
            f"worst component {worst_row['component']}: {worst_row['slo_attainment']:.1%} within {slo_ms:g} ms"
            f" (self-time p95 {worst_row['p95_self_ms']:.0f} ms)"
        )
    detail = GradeDetail(
        slo_attainment=attainment,
        error_rate=error_rate,
        error_rate_threshold=thresholds.error_rate,
        worst_component=None
        if worst_row is None
        else WorstComponent(
            component=worst_row["component"],
            slo_attainment=worst_row["slo_attainment"],
            p95_ms=worst_row["p95_self_ms"],
            slo_p95_ms=slo_for(worst_row, thresholds),
        ),
        grades=SubGrades(**subs),
        rule=RULE,
    )
    return letter, f"{letter}: " + "; ".join(reasons), detail
