"""Bottlenecks: what slows or hurts the fleet most, worst first.

Each has a kind, a severity (low < medium < high < critical, from how far past its threshold it is), evidence
in numbers, and a suggestion. `score` = severity rank (0-3) + impact (0-1, the share of fleet time, errors or
trace time involved), so a critical problem always outranks a high one and, within a severity, the one that
costs the fleet most comes first.

| kind          | measured as                                  | low     | medium  | high   | critical |
|---------------|----------------------------------------------|---------|---------|--------|----------|
| critical_path | share of end-to-end trace time               | top one | >= 30 % | >= 50 %| >= 70 %  |
| slo_p95       | self-time p95 / component latency SLO        | > 1     | >= 1.25 | >= 2   | >= 4     |
| error_rate    | own error rate / threshold                   | > 1     | >= 1.25 | >= 2   | >= 4     |
| queue         | queue time / total time                      | >= 30 % | >= 50 % | >= 70 %| >= 85 %  |
| retry_waste   | (own failed + retried time) / total time     | >= 5 %  | >= 15 % | >= 30 %| >= 50 %  |
| memory        | share of executions at/over memory pressure  | >= 5 %  | >= 20 % | >= 50 %| >= 80 %  |

A span with children is judged on its **self time** (`selftime`: its duration minus the union of its children's),
so a root or a pure parent is never slow for the time its children spent; a span without children is judged as
before (self = total). Errors count where they happened (`own_errors`: a parent that failed because a child
failed is not an error of its own), and retry_waste needs retries or own failed attempts to exist. Impacts are
shares of the fleet's self time, which sums to the fleet's work once.
"""

from __future__ import annotations

import polars as pl
from smythtop.analysis.results import Bottleneck, Severity
from smythtop.analysis.rows import slo_for
from smythtop.analysis.thresholds import Thresholds

SEVERITIES = (Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)
MIN_ROWS = 5
SELF_SHARE_PARENT = 0.99  # self time under 99 % of the total: its children took a visible part of its time


def _level(value: float, steps: tuple[float, float, float, float]) -> int | None:
    """Index into SEVERITIES of the highest step reached, None below the first."""
    level = None
    for i, step in enumerate(steps):
        if value >= step:
            level = i
    return level


def _item(
    component: str, kind: str, level: int, impact: float, evidence: str, suggestion: str, **metrics
) -> Bottleneck:
    return Bottleneck(
        component=component,
        kind=kind,
        severity=SEVERITIES[level],
        evidence=evidence,
        suggestion=suggestion,
        score=round(level + min(max(impact, 0.0), 0.999), 4),
        metrics={k: (round(v, 6) if isinstance(v, float) else v) for k, v in metrics.items()},
    )


def find(components: pl.DataFrame, critical: dict[str, float], traces: int, thresholds: Thresholds) -> list[Bottleneck]:
    """All bottlenecks from per-component rollup rows and critical-path shares, worst first."""
    out: list[Bottleneck] = []
    total_ms = float(components["self_ms_sum"].sum()) or 1.0
    total_errors = float(components["own_errors"].sum()) or 1.0
    if critical:
        ranked = sorted(critical.items(), key=lambda kv: -kv[1])
        for i, (comp, share) in enumerate(ranked):
            level = _level(share, (0.0, 0.3, 0.5, 0.7))
            if level is None or (i > 0 and level < 1):
                continue
            out.append(
                _item(
                    comp,
                    "critical_path",
                    level,
                    share,
                    f"{share:.0%} of end-to-end trace time is spent in {comp} on the critical path ({traces} traces)",
                    f"Cut {comp}'s latency or move it off the critical path (run it earlier, concurrently, or"
                    " cache it); every ms saved there shortens the whole trace.",
                    critical_share=share,
                    traces=traces,
                )
            )
    for r in components.filter(pl.col("rows") >= MIN_ROWS).iter_rows(named=True):
        comp, share = r["component"], r["self_ms_sum"] / total_ms
        slo = slo_for(r, thresholds)
        p95 = r["p95_self_ms"]
        if p95 is not None and p95 > slo:
            ratio = p95 / slo
            level = _level(ratio, (1.0, 1.25, 2.0, 4.0))
            parent = r["self_ms_sum"] < r["total_ms_sum"] * SELF_SHARE_PARENT
            what = f"self-time p95 {p95:,.0f} ms (p95 {r['p95_ms'] or 0:,.0f} ms with its children)" if parent else (
                f"p95 {p95:,.0f} ms")  # fmt: skip
            core = r["core_ms"]
            out.append(
                _item(
                    comp,
                    "slo_p95",
                    level,
                    share,
                    f"{what} is {ratio:.2f}x the {slo:,.0f} ms SLO; {1 - r['slo_attainment']:.1%} of"
                    f" {r['executions']:,.0f} executions were slower than the SLO",
                    (f"Profile {comp}'s core phase (mean {core:,.0f} ms)" if core else f"Profile {comp}'s own work"
                     f" (mean self time {r['mean_self_ms'] or 0:,.0f} ms)")
                    + "; cache or batch its slow calls, or set a component-specific SLO if this latency is expected.",
                    p95_ms=p95,
                    slo_p95_ms=slo,
                    ratio=ratio,
                    time_share=share,
                )
            )  # fmt: skip
        own_rate = r["own_error_rate"]
        if own_rate > thresholds.error_rate:
            ratio = own_rate / thresholds.error_rate
            level = _level(ratio, (1.0, 1.25, 2.0, 4.0))
            out.append(
                _item(
                    comp,
                    "error_rate",
                    level,
                    r["own_errors"] / total_errors,
                    f"error rate {own_rate:.1%} vs {thresholds.error_rate:.0%} threshold"
                    f" ({r['own_errors']:,.0f} of {r['executions']:,.0f} executions failed in {comp} itself)",
                    f"Look at {comp}'s dominant error type (`smythtop analyze --component {comp}`); add input"
                    " validation, timeouts or a circuit breaker.",
                    error_rate=own_rate,
                    threshold=thresholds.error_rate,
                    errors=r["own_errors"],
                )
            )
        queue, mean = r["queue_ms"], r["mean_ms"]
        if queue is not None and mean:
            q_share = queue / mean
            level = _level(q_share, (0.3, 0.5, 0.7, 0.85))
            if level is not None:
                out.append(
                    _item(
                        comp,
                        "queue",
                        level,
                        share * q_share,
                        f"queue time {queue:,.0f} ms is {q_share:.0%} of the mean {mean:,.0f} ms",
                        f"{comp} waits more than it works: raise its concurrency or rate limit, or shed load upstream.",
                        queue_ms=queue,
                        mean_ms=mean,
                        queue_share=q_share,
                    )
                )
        waste_ms = (r["own_failed_ms"] or 0.0) + (r["retried_ms"] or 0.0)
        if r["total_ms_sum"] and (r["own_errors"] or r["retry_count_sum"]):
            w_share = waste_ms / r["total_ms_sum"]
            level = _level(w_share, (0.05, 0.15, 0.3, 0.5))
            if level is not None:
                cost = r["failed_cost_usd"] or 0.0
                out.append(
                    _item(
                        comp,
                        "retry_waste",
                        level,
                        waste_ms / total_ms,
                        f"{w_share:.0%} of {comp}'s time ({waste_ms / 1000:,.1f} s) and ${cost:,.4f} went to failed"
                        f" attempts and retries ({r['retry_count_sum'] or 0:,.0f} retries)",
                        "Retry only transient errors, with capped exponential backoff and jitter;"
                        " fail fast on the rest.",
                        waste_ms=waste_ms,
                        waste_share=w_share,
                        waste_cost_usd=cost,
                        retries=r["retry_count_sum"] or 0.0,
                    )
                )
        if r["mem_pressure_w"]:
            m_share = r["mem_over_share"]
            level = _level(m_share, (0.05, 0.2, 0.5, 0.8))
            if level is not None:
                out.append(
                    _item(
                        comp,
                        "memory",
                        level,
                        m_share,
                        f"{m_share:.0%} of executions ran at or over {thresholds.memory_pressure:.0%} memory pressure"
                        f" (mean {r['mem_pressure_mean']:.0%}, p95 delta {r['mem_delta_p95_bytes'] or 0:,.0f} B)",
                        f"Stream or chunk {comp}'s payloads and release large buffers; check the memory delta trend.",
                        over_share=m_share,
                        mean_pressure=r["mem_pressure_mean"],
                        mem_delta_p95_bytes=r["mem_delta_p95_bytes"],
                    )
                )
    out.sort(key=lambda b: (-b.score, b.component, b.kind))
    return out
