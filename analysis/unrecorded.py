"""Executions the recorder lost, and the counts of a report corrected for them.

The recorder writes an account frame for the executions it could not record (buffer full, store unavailable,
rejected, dated too far ahead, an internal error), weighted like the frames they stand for (docs/FORMAT.md,
"Account frames"). Without them every count the report shows is silently low by that much.

Method: `unrecorded` sums the window's account frames in total, per component and per reason. `correct` adds
them to the execution counts they belong to: a component row's `executions` and `executions_per_min` (where the
row's name is the account's component), and the summary's `executions` and `throughput_per_min` (all of them).
Nothing else is corrected, because nothing else about a lost execution is known: its latency, success and cost
are not in the account, so percentiles, error rates and costs stay those of the recorded executions, and the
result says so (`Unrecorded.note`). Executions of a component that has no row (none recorded in the window, or
folded into "(other)") are counted in the summary and shown apart as `unmatched`.

`correct` replaces an earlier correction rather than adding to it (each row carries the count it includes), so
the app can apply it to a report it reuses from the previous tick.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec
import polars as pl
from smythtop.analysis.results import LiveReport, Report, Unrecorded, UnrecordedCount

R = TypeVar("R", Report, LiveReport)


def unrecorded(accounts: pl.DataFrame | pl.LazyFrame | None) -> Unrecorded:
    """The account frames of a window (`store.unrecorded`'s columns: component, unrecorded, reason) summed."""
    if accounts is None or (isinstance(accounts, pl.DataFrame) and accounts.height == 0):
        return Unrecorded()  # the usual case, answered without a query
    frame = accounts.lazy().select("component", "reason", pl.col("unrecorded").cast(pl.Float64)).collect()
    if frame.height == 0:
        return Unrecorded()
    return Unrecorded(
        executions=float(frame["unrecorded"].sum()),
        by_component=_counts(frame, "component"),
        by_reason=_counts(frame, "reason"),
    )


def _counts(frame: pl.DataFrame, key: str) -> list[UnrecordedCount]:
    sums = frame.group_by(pl.col(key).fill_null("(unknown)")).agg(pl.col("unrecorded").sum())
    return [
        UnrecordedCount(name=name, executions=float(n))
        for name, n in sums.sort(["unrecorded", key], descending=[True, False]).iter_rows()
    ]


def correct(report: R, lost: Unrecorded) -> R:
    """`report` with `lost` added to the execution counts it belongs to (see the module docstring); `report`
    itself when it already counts exactly these (the app keeps an unchanged report, and its panes, as they are)."""
    if msgspec.structs.replace(lost, unmatched=report.unrecorded.unmatched) == report.unrecorded:
        return report
    basis_minutes = report.window.basis.seconds / 60  # the denominator of every rate of the report
    by_component = {c.name: c.executions for c in lost.by_component}
    rows = []
    matched = 0.0
    for row in report.components:
        n = by_component.get(row.component, 0.0)
        matched += n
        if n == row.unrecorded:
            rows.append(row)
            continue
        executions = row.executions - row.unrecorded + n
        rows.append(
            msgspec.structs.replace(
                row,
                executions=executions,
                executions_per_min=_per_min(row.executions_per_min, row.executions, executions, basis_minutes),
                unrecorded=n,
            )
        )
    summary = report.summary
    executions = summary.executions - report.unrecorded.executions + lost.executions
    summary = msgspec.structs.replace(
        summary,
        executions=executions,
        throughput_per_min=_per_min(summary.throughput_per_min, summary.executions, executions, basis_minutes),
    )
    lost = msgspec.structs.replace(lost, unmatched=lost.executions - matched)
    return msgspec.structs.replace(report, components=rows, summary=summary, unrecorded=lost)


def _per_min(rate: float, before: float, after: float, basis_minutes: float) -> float:
    """A per-minute rate rescaled to a corrected count (the rate's basis, the data's coverage, is unchanged)."""
    if before:
        return rate * after / before
    return after / basis_minutes
