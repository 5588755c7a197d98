"""The shared table: medians of repeated runs, with a ratio to a peer measured in the same run."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def median_time(fn: Callable[[], object], *, repeat: int = 7, number: int = 1) -> float:
    """Median seconds per call of fn over `repeat` rounds of `number` calls each."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return statistics.median(times)


@dataclass
class Row:
    group: str
    name: str
    value: float
    unit: str
    goal: str = ""
    peer: str = ""  # e.g. "0.42x msgpack.packb"


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)

    def add(self, group: str, name: str, value: float, unit: str, goal: str = "", peer: str = "") -> None:
        self.rows.append(Row(group, name, value, unit, goal, peer))
        print(f"  {group:<10} {name:<48} {value:>12.4g} {unit:<10} {goal:<14} {peer}", flush=True)

    def render(self) -> str:
        head = f"{'group':<10} {'benchmark':<48} {'median':>12} {'unit':<10} {'goal':<14} peer (same run)"
        lines = [head, "-" * len(head)]
        lines += [f"{r.group:<10} {r.name:<48} {r.value:>12.4g} {r.unit:<10} {r.goal:<14} {r.peer}" for r in self.rows]
        return "\n".join(lines)
