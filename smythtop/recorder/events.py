"""Events, as in the seed's `collector.on(...)`: threshold breaches and flushed batches.

Callbacks run in the flush thread, after the batch is written. An exception in a callback is
caught, counted and logged once; it never reaches the agent or stops the other callbacks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from smythtop.recorder.config import Config

PERFORMANCE_EVENT = "performance-event"
BATCH_FLUSH = "batch-flush"
EVENT_NAMES = (PERFORMANCE_EVENT, BATCH_FLUSH)


@dataclass(frozen=True, slots=True)
class PerformanceEvent:
    """One threshold breach. `kind`: error, slow, cost, memory, error-rate, cost-per-operation."""

    kind: str
    severity: str  # "warning" or "critical"
    component: str
    agent_id: str
    value: float
    threshold: float
    message: str
    frame: dict[str, Any] | None = field(default=None, repr=False)  # the frame, for per-execution kinds


class EventBus:
    def __init__(self) -> None:
        self._listeners: dict[str, list[Callable[[Any], object]]] = {name: [] for name in EVENT_NAMES}
        self.callback_errors = 0

    def on(self, name: str, callback: Callable[[Any], object]) -> None:
        if name not in self._listeners:
            raise ValueError(f"unknown event {name!r} (known: {', '.join(EVENT_NAMES)})")
        self._listeners[name] = [*self._listeners[name], callback]  # copy-on-write: emit needs no lock

    def off(self, name: str, callback: Callable[[Any], object]) -> None:
        if name in self._listeners:
            self._listeners[name] = [cb for cb in self._listeners[name] if cb is not callback]

    def wants(self, name: str) -> bool:
        return bool(self._listeners.get(name))

    def emit(self, name: str, payload: Any, on_error: Callable[[BaseException], None]) -> None:
        for callback in self._listeners[name]:
            try:
                callback(payload)
            except Exception as exc:
                self.callback_errors += 1
                on_error(exc)


def performance_events(frames: Iterable[dict[str, Any]], config: Config) -> list[PerformanceEvent]:
    """Threshold breaches in one flushed batch: per execution, then per component over the batch."""
    alerts = config.alerts
    cost = config.llm.cost_thresholds
    events: list[PerformanceEvent] = []
    weight: defaultdict[str, float] = defaultdict(float)
    failed: defaultdict[str, float] = defaultdict(float)
    priced: defaultdict[str, float] = defaultdict(float)
    spent: defaultdict[str, float] = defaultdict(float)
    agents: dict[str, str] = {}
    for f in frames:
        comp, agent = f["component"], f["agent_id"]
        w = 1.0 / f.get("sample_rate", 1.0)
        weight[comp] += w
        agents[comp] = agent

        def add(kind: str, severity: str, value: float, threshold: float, message: str) -> None:
            events.append(PerformanceEvent(kind, severity, comp, agent, value, threshold, message, f))  # noqa: B023

        if not f["success"]:
            failed[comp] += w
            add("error", "warning", 1.0, 0.0, f"{comp} failed: {f.get('error_type') or 'error'}")
        if alerts.latency_p95_ms is not None and f["total_ms"] > alerts.latency_p95_ms:
            add("slow", "warning", f["total_ms"], alerts.latency_p95_ms, f"{comp} took {f['total_ms']:.0f} ms")
        usd = f.get("cost_usd")
        if usd is not None:
            priced[comp] += w
            spent[comp] += w * usd
            if cost.critical is not None and usd >= cost.critical:
                add("cost", "critical", usd, cost.critical, f"{comp} call cost ${usd:.4f}")
            elif cost.warning is not None and usd >= cost.warning:
                add("cost", "warning", usd, cost.warning, f"{comp} call cost ${usd:.4f}")
        pressure = f.get("mem_pressure")
        if alerts.memory_pressure is not None and pressure is not None and pressure > alerts.memory_pressure:
            add("memory", "critical", pressure, alerts.memory_pressure, f"memory pressure {pressure:.0%} in {comp}")
    for comp, total in weight.items():
        rate = failed[comp] / total
        if alerts.error_rate is not None and failed[comp] and rate > alerts.error_rate:
            msg = f"{comp} error rate {rate:.1%} over {total:.0f} executions"
            events.append(PerformanceEvent("error-rate", "critical", comp, agents[comp], rate, alerts.error_rate, msg))
        if alerts.cost_per_operation is not None and priced[comp]:
            mean = spent[comp] / priced[comp]
            if mean > alerts.cost_per_operation:
                msg = f"{comp} mean cost ${mean:.4f} per operation"
                threshold = alerts.cost_per_operation
                events.append(
                    PerformanceEvent("cost-per-operation", "warning", comp, agents[comp], mean, threshold, msg)
                )
    return events
