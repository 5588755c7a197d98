"""The limits a report judges against (latency SLOs, error budget, memory pressure and cost) and how many rows
each of its per-name lists keeps.

The defaults suit an LLM agent (multi-second model calls). A pure value object: the analysis reads no files;
the front-ends build it from the config file's `[alerts]`, `[llm.cost_thresholds]`, `[analysis]` and `[prices]`
(`smythtop.thresholds`, docs/CONFIG.md), whose defaults are these.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CustomPrice:
    """USD per million tokens of a model genai-prices does not know (`[prices."model"]`), applied at read time to
    its frames stored without a cost. A price left out falls back to the one that covers those tokens in the
    provider's bill when there is no discount: cache reads and writes to `input_mtok`, 1-hour cache writes to
    `cache_write_mtok`, reasoning to `output_mtok`."""

    input_mtok: float
    output_mtok: float
    cache_read_mtok: float | None = None
    cache_write_mtok: float | None = None
    cache_write_1h_mtok: float | None = None
    reasoning_mtok: float | None = None

    def invalid(self) -> list[str]:
        """The names of the prices that are negative or not finite."""
        return [k for k, v in asdict(self).items() if v is not None and not 0 <= v < math.inf]


@dataclass(frozen=True)
class Thresholds:
    """SLOs and limits. A component named in `latency_p95_ms_by_component` has its own p95 SLO; otherwise an LLM
    call (a frame with a model) is judged against `llm_latency_p95_ms` and everything else against
    `latency_p95_ms`. A request (a root span, end to end) is judged against `request_latency_p95_ms`."""

    latency_p95_ms: float = 2000.0
    latency_p95_ms_by_component: Mapping[str, float] = field(default_factory=dict)
    error_rate: float = 0.05
    memory_pressure: float = 0.85
    cost_per_operation: float = 0.05
    cost_warning_per_hour: float = 1.0
    cost_critical_per_hour: float = 5.0
    max_rows: int = 200  # rows per per-name list; the rest fold into "(other)" (`[analysis] max_rows`)
    # An LLM call's latency is time to first token (p95 of 1-6 s for current models, more for reasoning ones) plus
    # its output at 50-150 tokens/s: a 500-token answer alone takes 3-10 s. A tool at 2 s is slow; a model is not.
    llm_latency_p95_ms: float = 15000.0
    # A request runs several LLM calls and tools one after another: end to end, tens of seconds are normal.
    request_latency_p95_ms: float = 30000.0
    prices: Mapping[str, CustomPrice] = field(default_factory=dict)  # model -> price of its unpriced frames

    def __post_init__(self) -> None:
        checks = {
            "latency_p95_ms": self.latency_p95_ms > 0,
            "error_rate": 0 < self.error_rate <= 1,
            "memory_pressure": 0 < self.memory_pressure <= 1,
            "cost_per_operation": self.cost_per_operation > 0,
            "cost_warning_per_hour": self.cost_warning_per_hour > 0,
            "cost_critical_per_hour": self.cost_critical_per_hour >= self.cost_warning_per_hour,
            "max_rows": self.max_rows >= 1,
            "llm_latency_p95_ms": self.llm_latency_p95_ms > 0,
            "request_latency_p95_ms": self.request_latency_p95_ms > 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        bad += [f"latency_p95_ms_by_component[{k!r}]" for k, v in self.latency_p95_ms_by_component.items() if v <= 0]
        bad += [f"prices[{model!r}].{name}" for model, price in self.prices.items() for name in price.invalid()]
        if bad:
            raise ValueError(f"invalid threshold(s): {', '.join(bad)}")

    def latency_for(self, component: str, llm: bool = False) -> float:
        """The p95 SLO of a component; `llm`: most of its executions are LLM calls."""
        default = self.llm_latency_p95_ms if llm else self.latency_p95_ms
        return float(self.latency_p95_ms_by_component.get(component, default))

    def cost_status(self, usd_per_hour: float) -> str:
        if usd_per_hour >= self.cost_critical_per_hour:
            return "critical"
        if usd_per_hour >= self.cost_warning_per_hour:
            return "warning"
        return "ok"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["latency_p95_ms_by_component"] = dict(self.latency_p95_ms_by_component)
        out["prices"] = {model: asdict(price) for model, price in self.prices.items()}
        return out
