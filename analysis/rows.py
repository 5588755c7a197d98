"""Result rows as the report and the drill-down show them, from rollup rows: null for what is unknown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smythtop.analysis.results import LlmRow, Phases
from smythtop.analysis.rollup import PHASES
from smythtop.analysis.thresholds import Thresholds
from smythtop.analysis.window import Window


def cost_or_none(r: Mapping[str, Any]) -> float | None:
    """Priced cost; None when there were LLM calls and none could be priced (never a made-up $0)."""
    if r["llm_calls"] and not r["priced_calls"]:
        return None
    return r["cost_usd"] or 0.0


def stat_fields(r: Mapping[str, Any], window: Window, thresholds: Thresholds, total_ms: float) -> dict[str, Any]:
    """The fields of `results.StatRow` (shared by the component, agent x component and drill-down rows);
    `total_ms` is the fleet's self time, which `time_share` divides."""
    comp = r["component"]
    return {
        "component": comp,
        "executions": r["executions"],
        "rows": r["rows"],
        "errors": r["errors"],
        "error_rate": r["error_rate"],
        "p50_ms": r["p50_ms"],
        "p95_ms": r["p95_ms"],
        "p99_ms": r["p99_ms"],
        "mean_ms": r["mean_ms"],
        "time_share": r["self_ms_sum"] / total_ms if total_ms else 0.0,
        "cost_usd": cost_or_none(r),
        "input_tokens": r["input_tokens"],
        "output_tokens": r["output_tokens"],
        "cache_read_tokens": r["cache_read_tokens"],
        "llm_calls": r["llm_calls"],
        "unpriced_llm_calls": r["unpriced_calls"],
        "executions_per_min": r["executions"] / window.basis_minutes,
        "slo_p95_ms": slo_for(r, thresholds),
        "slo_attainment": r["slo_attainment"],
        "phases": Phases(**{p: r[p] for p in PHASES}),
        "mem_delta_mean_bytes": r["mem_delta_mean_bytes"],
        "mem_delta_p95_bytes": r["mem_delta_p95_bytes"],
        "mem_pressure_mean": r["mem_pressure_mean"],
        "mean_self_ms": r["mean_self_ms"],
        "p95_self_ms": r["p95_self_ms"],
        "own_errors": r["own_errors"],
    }


def slo_for(r: Mapping[str, Any], thresholds: Thresholds) -> float:
    """A rollup row's p95 SLO: its own, else the LLM-call SLO when most of its executions are LLM calls."""
    return thresholds.latency_for(r["component"], llm=(r["llm_calls"] or 0.0) * 2 >= (r["executions"] or 0.0) > 0)


def llm_row(r: Mapping[str, Any], window: Window, keys: tuple[str, ...]) -> LlmRow:
    """An LLM row keyed by `keys` (e.g. model and provider); the other key fields stay UNSET."""
    cost = cost_or_none(r)
    return LlmRow(
        **{k: r[k] for k in keys},
        calls=r["llm_calls"],
        input_tokens=r["input_tokens"],
        output_tokens=r["output_tokens"],
        cache_read_tokens=r["cache_read_tokens"],
        cache_write_tokens=r["cache_write_tokens"],
        reasoning_tokens=r["reasoning_tokens"],
        cost_usd=cost,
        cost_per_call=r["cost_per_call"],
        unpriced_calls=r["unpriced_calls"],
        mean_context_utilization=r["mean_context_utilization"],
        p95_ms=r["p95_ms"],
        p95_ttft_ms=r["p95_ttft_ms"],
        burn_usd_per_hour=(cost or 0.0) / window.basis_hours,
    )
