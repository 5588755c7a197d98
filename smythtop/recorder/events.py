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
    """Threshold breaches in one flushed batch: per execution, then per (agent, component) over
    the batch, with every frame weighted by 1/sample_rate."""
    alerts = config.alerts
    events: list[PerformanceEvent] = []
    weight: defaultdict[tuple[str, str], float] = defaultdict(float)
    failed: defaultdict[tuple[str, str], float] = defaultdict(float)
    priced: defaultdict[tuple[str, str], float] = defaultdict(float)
    spent: defaultdict[tuple[str, str], float] = defaultdict(float)
    for f in frames:
        key = (f["agent_id"], f["component"])
        w = 1.0 / (f.get("sample_rate") or 1.0)
        weight[key] += w
        if not f["success"]:
            failed[key] += w
        if f.get("cost_usd") is not None:
            priced[key] += w
            spent[key] += w * f["cost_usd"]
        events.extend(_execution_events(f, config))
    for (agent, comp), total in weight.items():
        rate = failed[(agent, comp)] / total
        if rate > alerts.error_rate:
            msg = f"{comp} error rate {rate:.1%} over {total:.0f} executions"
            events.append(PerformanceEvent("error-rate", "critical", comp, agent, rate, alerts.error_rate, msg))
        if priced[(agent, comp)]:
            mean = spent[(agent, comp)] / priced[(agent, comp)]
            if mean > alerts.cost_per_call_usd:
                msg = f"{comp} mean cost ${mean:.4f} per operation"
                threshold = alerts.cost_per_call_usd
                events.append(PerformanceEvent("cost-per-operation", "warning", comp, agent, mean, threshold, msg))
    return events


def _execution_events(f: dict[str, Any], config: Config) -> Iterable[PerformanceEvent]:
    comp, agent = f["component"], f["agent_id"]
    alerts = config.alerts
    cost = config.llm.cost_thresholds
    if not f["success"]:
        msg = f"{comp} failed: {f.get('error_type') or 'error'}"
        yield PerformanceEvent("error", "warning", comp, agent, 1.0, 0.0, msg, f)
    slo_ms = alerts.latency_for(comp, f.get("model") is not None)
    if f["total_ms"] > slo_ms:
        msg = f"{comp} took {f['total_ms']:.0f} ms"
        yield PerformanceEvent("slow", "warning", comp, agent, f["total_ms"], slo_ms, msg, f)
    usd = f.get("cost_usd")
    if usd is not None:
        for severity, threshold in (("critical", cost.call_critical_usd), ("warning", cost.call_warning_usd)):
            if usd >= threshold:
                yield PerformanceEvent("cost", severity, comp, agent, usd, threshold, f"{comp} call cost ${usd:.4f}", f)
                break
    pressure = f.get("mem_pressure")
    if pressure is not None and pressure > alerts.memory_pressure:
        msg = f"memory pressure {pressure:.0%} in {comp}"
        yield PerformanceEvent("memory", "critical", comp, agent, pressure, alerts.memory_pressure, msg, f)
